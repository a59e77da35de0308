"""Real PostgreSQL (and Kafka, for the relay) for screening's integration tests.

Each test gets a throwaway schema in screening's own database, created from the tables'
metadata and dropped afterwards. identity stays a fake (tests/unit/fakes.py): these tests are
about screening's storage, events and server, not identity's answers.
"""

from __future__ import annotations

import socket
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

# The unit tests' fakes and helpers, shared (importlib mode puts neither folder on sys.path).
sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
sys.path.insert(0, str(Path(__file__).parent))

from fakes import World
from storage_support import DATABASE_URL, Database

from screening.adapters.db.answers import PgAnswerStore
from screening.adapters.db.repository import SqlStore
from screening.adapters.db.tables import metadata, outbox
from screening.domain.campaigns import Campaigns
from screening.domain.instruments import Catalogue, load_policy
from screening.domain.results import Results
from screening.domain.shelf import InstrumentShelf
from screening.domain.sittings import Sittings
from xinyu_core.audit import OutboxAuditRecorder
from xinyu_core.db import make_session_factory
from xinyu_core.messaging import OutboxWriter


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session", autouse=True)
def _local_stack() -> None:
    # Fail rather than skip: `-m integration` asked for real servers.
    missing = [
        name
        for name, port in (("PostgreSQL", 5433), ("Kafka", 9092), ("Keycloak", 8180))
        if not _reachable("127.0.0.1", port)
    ]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not reachable: run `make infra-up` first")


@pytest.fixture
async def database() -> AsyncIterator[Database]:
    schema = f"tests_screening_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(DATABASE_URL, connect_args={"options": f"-csearch_path={schema}"})
    async with engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        yield Database(schema, engine)
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


@pytest.fixture
async def world(database: Database) -> AsyncIterator[World]:
    """The unit tests' world with screening's PostgreSQL store in place of the fake."""
    world = World()
    sessions = make_session_factory(database.engine)
    writer = OutboxWriter(outbox)
    store = SqlStore(sessions, writer, OutboxAuditRecorder("screening", writer, sessions))
    catalogue = Catalogue.shipped()
    world.store = store  # type: ignore[assignment]
    world.shelf = InstrumentShelf(catalogue, load_policy(catalogue), store, world.clock)
    world.campaigns = Campaigns(store, world.shelf, world.identity, world.clock)
    # SubmitAnswers on its production path: psycopg's own connection from the same pool.
    answers = PgAnswerStore(database.engine.execution_options(isolation_level="AUTOCOMMIT"), writer)
    world.sittings = Sittings(
        store, world.shelf, world.identity, answers, world.keys, world.sealer, world.clock
    )
    world.results = Results(store, world.identity, world.sealer, world.clock)
    yield world
    await answers.close()  # the connections its batchers keep

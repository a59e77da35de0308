"""Fixtures for the infrastructure integration tests.

They run against the real local servers started by `infra/local/stack up` (which `make test`
does first). When a server is not listening the tests that need it are skipped, with a
message that says how to start it.
"""

from __future__ import annotations

import socket

import pytest

PG = ("127.0.0.1", 5433)
KAFKA_INTERNAL = ("127.0.0.1", 9092)
KAFKA_EXTERNAL = ("127.0.0.1", 9094)
KEYCLOAK = ("127.0.0.1", 8180)


def _listening(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=1):
            return True
    except OSError:
        return False


def _require(what: str, *addresses: tuple[str, int]) -> None:
    down = [f"{h}:{p}" for h, p in addresses if not _listening((h, p))]
    if down:
        pytest.skip(
            f"local {what} is not running ({', '.join(down)} closed): "
            "start the stack with `infra/local/stack up`"
        )


@pytest.fixture(scope="session")
def postgres_up() -> None:
    _require("PostgreSQL", PG)


@pytest.fixture(scope="session")
def kafka_up() -> None:
    _require("Kafka", KAFKA_INTERNAL, KAFKA_EXTERNAL)


@pytest.fixture(scope="session")
def keycloak_up() -> None:
    _require("Keycloak", KEYCLOAK)

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from xinyu_core.db import new_metadata
from xinyu_core.messaging import PostgresInbox, inbox_table


def _sql(statement: Any) -> str:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return " ".join(str(statement.compile(dialect=dialect)).split())


def test_inbox_table_ddl() -> None:
    table = inbox_table(new_metadata())
    ddl = _sql(CreateTable(table))
    assert "consumer_group TEXT NOT NULL" in ddl
    assert "event_id UUID NOT NULL" in ddl
    assert "topic TEXT NOT NULL" in ddl
    assert "received_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL" in ddl
    # The pair is the dedupe key: once per event per consumer group.
    assert "CONSTRAINT pk_inbox PRIMARY KEY (consumer_group, event_id)" in ddl
    (index,) = table.indexes
    assert _sql(CreateIndex(index)) == "CREATE INDEX ix_inbox_received_at ON inbox (received_at)"


@dataclass
class _Rows:
    rows: list[Any]

    def first(self) -> Any:
        return self.rows[0] if self.rows else None


@dataclass
class _Session:
    """Answers the insert as PostgreSQL would: a row when new, none on conflict."""

    seen: set[tuple[str, uuid.UUID]] = field(default_factory=set)
    statements: list[Any] = field(default_factory=list)

    async def execute(self, statement: Any) -> _Rows:
        self.statements.append(statement)
        params = statement.compile(dialect=postgresql.dialect()).params  # type: ignore[no-untyped-call]
        key = (params["consumer_group"], params["event_id"])
        if key in self.seen:
            return _Rows([])
        self.seen.add(key)
        return _Rows([(params["event_id"],)])


async def test_claim_is_an_insert_that_ignores_conflicts() -> None:
    inbox = PostgresInbox(inbox_table(MetaData()))
    session = _Session()
    event_id = uuid.uuid4()

    assert await inbox.claim(session, "archives", event_id, "t.e.x.v1")  # type: ignore[arg-type]
    assert not await inbox.claim(session, "archives", event_id, "t.e.x.v1")  # type: ignore[arg-type]
    # Another group applies the same event independently.
    assert await inbox.claim(session, "alerts", event_id, "t.e.x.v1")  # type: ignore[arg-type]

    sql = _sql(session.statements[0])
    assert sql.startswith("INSERT INTO inbox (consumer_group, event_id, topic)")
    assert sql.endswith(
        "ON CONFLICT (consumer_group, event_id) DO NOTHING RETURNING inbox.event_id"
    )

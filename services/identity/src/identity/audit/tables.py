"""The ``audit_log`` table, on identity's metadata so its Alembic history creates it.

Append-only is enforced by the database, not only by this code: a statement trigger refuses
UPDATE, DELETE and TRUNCATE. Alembic's autogenerate does not see triggers, so the statements
are also returned by :func:`append_only_ddl` for the migration to ``op.execute``.
"""

from __future__ import annotations

from sqlalchemy import (
    DDL,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from identity.adapters.db.tables import metadata

HASH_LENGTH = 64  # SHA-256 as lowercase hex


def audit_log_table(
    target: MetaData, *, name: str = "audit_log", schema: str | None = None
) -> Table:
    """The audit log on ``target``; tests pass a throwaway schema."""
    table = Table(
        name,
        target,
        # Gapless, assigned by the appender under its lock (not a sequence, which would leave
        # holes on rollback): a missing number is itself evidence.
        Column("seq", BigInteger, primary_key=True, autoincrement=False),
        # At-least-once delivery: the same event twice must not become two records.
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("recorded_at", DateTime(timezone=True), nullable=False),
        Column("producer", Text, nullable=False),
        Column("actor_subject", Uuid, nullable=False),
        Column("actor_roles", ARRAY(Text), nullable=False),
        Column("actor_org_unit", Text, nullable=False),
        Column("actor_client_id", Text, nullable=False),
        Column("service", Text, nullable=False),
        Column("action", Text, nullable=False),
        Column("resource_type", Text, nullable=False),
        Column("resource_id", Text, nullable=False),
        Column("outcome", Text, nullable=False),
        Column("reason", Text, nullable=False),
        Column("purpose", Text, nullable=False),
        Column("trace_id", Text, nullable=False),
        Column("prev_hash", String(HASH_LENGTH), nullable=False),
        Column("hash", String(HASH_LENGTH), nullable=False),
        CheckConstraint("outcome IN ('ALLOWED', 'DENIED')", name="outcome"),
        # The auditors' questions: what did this person do, who touched this student, when.
        Index(f"ix_{name}_actor_subject_seq", "actor_subject", "seq"),
        Index(
            f"ix_{name}_resource_id_seq",
            "resource_id",
            "seq",
            postgresql_where=text("resource_id <> ''"),
        ),
        Index(f"ix_{name}_occurred_at", "occurred_at"),
        schema=schema,
    )
    for statement in append_only_ddl(name, schema):
        # DDL() formats its text with %, and the trigger function's message contains one.
        event.listen(table, "after_create", _ddl(statement.replace("%", "%%")))
    event.listen(table, "after_drop", _ddl(f"DROP FUNCTION IF EXISTS {_function(name, schema)}()"))
    return table


def append_only_ddl(name: str = "audit_log", schema: str | None = None) -> list[str]:
    """The function and trigger that make the table append-only, as plain SQL."""
    function = _function(name, schema)
    table = f'"{schema}"."{name}"' if schema else f'"{name}"'
    return [
        f"""CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{name} is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$""",
        # FOR EACH STATEMENT: fires even when no row matches, and TRUNCATE has no rows at all.
        f"""CREATE TRIGGER {name}_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION {function}()""",
    ]


def _ddl(statement: str) -> DDL:
    return DDL(statement)  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it unannotated


def _function(name: str, schema: str | None) -> str:
    return f'"{schema}".{name}_refuse_change' if schema else f"{name}_refuse_change"


audit_log = audit_log_table(metadata)

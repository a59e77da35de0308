"""The roster import's own tables, on identity's ``metadata`` so its Alembic history has them.

The uploaded file is kept as chunks in the database rather than on a spool directory: identity
runs as several replicas behind one Service, and ``AppendRosterChunk`` and
``CommitRosterImport`` may reach different pods. A table is shared by all of them, survives a
restart, makes "this sequence already arrived" a primary-key question, and is cleared with the
job. The cost (the file passes through PostgreSQL once more) is measured in the ADR.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Uuid,
    func,
)

from identity.adapters.db.tables import metadata

roster_imports = Table(
    "roster_imports",
    metadata,
    Column("job_id", Uuid, primary_key=True),
    # Where the caller may import: a school code, a county code or the city code.
    Column("scope_code", String(10), nullable=False),
    # The scope's county (empty for the city), kept so reading a job needs no join.
    Column("county_code", String(6), nullable=False),
    Column("format", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    # The opaque subject of whoever started it: only they may add chunks and commit.
    Column("created_by", String(64), nullable=False),
    Column("chunks_received", Integer, nullable=False, server_default="0"),
    Column("bytes_received", BigInteger, nullable=False, server_default="0"),
    Column("rows_total", Integer, nullable=False, server_default="0"),
    Column("rows_validated", Integer, nullable=False, server_default="0"),
    Column("rows_applied", Integer, nullable=False, server_default="0"),
    Column("rows_created", Integer, nullable=False, server_default="0"),
    Column("rows_updated", Integer, nullable=False, server_default="0"),
    Column("rows_unchanged", Integer, nullable=False, server_default="0"),
    Column("progress_percent", SmallInteger, nullable=False, server_default="0"),
    Column("error_count", Integer, nullable=False, server_default="0"),
    # Why a job failed as a whole (unreadable file, missing column); never a cell's value.
    Column("failure", String(200), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Touched by every progress update: a running job that stops touching it was interrupted.
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("format IN ('csv', 'xlsx')", name="format"),
    CheckConstraint(
        "status IN ('receiving', 'validating', 'applying', 'succeeded', 'failed')",
        name="status",
    ),
    CheckConstraint("progress_percent BETWEEN 0 AND 100", name="progress"),
)

roster_import_chunks = Table(
    "roster_import_chunks",
    metadata,
    Column(
        "job_id",
        Uuid,
        ForeignKey("roster_imports.job_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("sequence", Integer, nullable=False),
    # SHA-256 of the data: a resent sequence must carry the same bytes to count as a repeat.
    Column("digest", LargeBinary(32), nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("job_id", "sequence"),
)

# The first rows' errors (row, field, message), in row order; the job keeps the total count.
# Messages never repeat a cell's value: they end up on screens and in support tickets.
roster_import_errors = Table(
    "roster_import_errors",
    metadata,
    Column(
        "job_id",
        Uuid,
        ForeignKey("roster_imports.job_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("position", Integer, nullable=False),
    Column("row", Integer, nullable=False),
    Column("field", String(32), nullable=False),
    Column("message", String(200), nullable=False),
    PrimaryKeyConstraint("job_id", "position"),
)

"""Archives' tables, and the inbox that makes its consumers idempotent."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, String, Table, Uuid

from xinyu_core.db import new_metadata
from xinyu_core.messaging import inbox_table

metadata = new_metadata()

archives = Table(
    "archives",
    metadata,
    Column("archive_id", Uuid, primary_key=True),
    # One student, one file (R3): the database says so too.
    Column("student_id", Uuid, nullable=False, unique=True),
    Column("school_code", String(16), nullable=False, index=True),
    Column("county_code", String(8), nullable=False, index=True),
    Column("opened_at", DateTime(timezone=True), nullable=False),
)

inbox = inbox_table(metadata)

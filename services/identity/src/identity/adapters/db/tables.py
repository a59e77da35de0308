"""Identity's tables. The outbox lives here too, so a change and its event commit together."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, String, Table, Uuid

from xinyu_core.db import new_metadata
from xinyu_core.messaging.outbox import outbox_table

metadata = new_metadata()

students = Table(
    "students",
    metadata,
    Column("student_id", Uuid, primary_key=True),
    # 学籍号 is unique nationally; a transfer moves the row, it never duplicates it.
    Column("student_number", String(32), nullable=False, unique=True),
    Column("full_name", String(50), nullable=False),
    Column("school_code", String(16), nullable=False, index=True),
    Column("county_code", String(8), nullable=False, index=True),
    Column("enrolled_at", DateTime(timezone=True), nullable=False),
)

outbox = outbox_table(metadata)

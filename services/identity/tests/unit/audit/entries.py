"""Audit entries and chains for the unit tests."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from identity.audit.chain import GENESIS_HASH, AuditEntry, ChainedEntry, chain

SUBJECT = uuid.UUID("0b7c2f7e-5d4e-4a55-8a40-2f1f6c3b9d21")
STUDENT = "6f1d2b9e-3c4a-4e8b-9a0d-1b2c3d4e5f60"
START = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


def entry(seq: int = 1, **overrides: object) -> AuditEntry:
    base = AuditEntry(
        seq=seq,
        event_id=uuid.UUID(int=seq),
        occurred_at=START + timedelta(seconds=seq),
        recorded_at=START + timedelta(seconds=seq, milliseconds=5),
        producer="archives",
        actor_subject=SUBJECT,
        actor_roles=("psych_teacher",),
        actor_org_unit="3607020001",
        actor_client_id="xinyu-web",
        service="archives",
        action="/xinyu.archives.v1.ArchivesService/GetArchive",
        resource_type="student",
        resource_id=STUDENT,
        outcome="DENIED",
        reason="permission-denied",
        purpose="",
        trace_id="",
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def build_chain(length: int) -> list[ChainedEntry]:
    records: list[ChainedEntry] = []
    prev = GENESIS_HASH
    for seq in range(1, length + 1):
        record = chain(prev, entry(seq))
        records.append(record)
        prev = record.hash
    return records

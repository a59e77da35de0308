"""The hash chain: a record's canonical form, its link hash, and verification of a sequence.

``hash = SHA-256(prev_hash + "\\n" + canonical(record))`` with ``prev_hash`` of the first record
= 64 zeros. The canonical form is versioned JSON with sorted keys and ASCII escapes, so it is
byte-for-byte reproducible from the stored columns by any language; every column but the two
hashes is in it, ``seq`` included, so a record cannot be altered, moved or renumbered without
its hash failing. Pure functions: no database, no clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from uuid import UUID

GENESIS_HASH: Final = "0" * 64
# Bumped if the canonical form ever changes; records keep the version they were hashed with.
CANONICAL_VERSION: Final = 1

SEQ_GAP: Final = "seq-gap"
PREV_HASH_MISMATCH: Final = "prev-hash-mismatch"
HASH_MISMATCH: Final = "hash-mismatch"


@dataclass(frozen=True)
class AuditEntry:
    """One access decision as stored (every column but the hashes)."""

    seq: int
    event_id: UUID
    occurred_at: datetime
    recorded_at: datetime
    producer: str
    actor_subject: UUID
    actor_roles: tuple[str, ...]
    actor_org_unit: str
    actor_client_id: str
    service: str
    action: str
    resource_type: str
    resource_id: str
    outcome: str
    reason: str
    purpose: str
    trace_id: str


@dataclass(frozen=True)
class ChainedEntry:
    entry: AuditEntry
    prev_hash: str
    hash: str


def canonical(entry: AuditEntry) -> bytes:
    document = {
        "v": CANONICAL_VERSION,
        "seq": entry.seq,
        "event_id": str(entry.event_id),
        "occurred_at": _instant(entry.occurred_at),
        "recorded_at": _instant(entry.recorded_at),
        "producer": entry.producer,
        "actor_subject": str(entry.actor_subject),
        "actor_roles": sorted(entry.actor_roles),
        "actor_org_unit": entry.actor_org_unit,
        "actor_client_id": entry.actor_client_id,
        "service": entry.service,
        "action": entry.action,
        "resource_type": entry.resource_type,
        "resource_id": entry.resource_id,
        "outcome": entry.outcome,
        "reason": entry.reason,
        "purpose": entry.purpose,
        "trace_id": entry.trace_id,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode(
        "ascii"
    )


def link_hash(prev_hash: str, entry: AuditEntry) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical(entry)).hexdigest()


def chain(prev_hash: str, entry: AuditEntry) -> ChainedEntry:
    return ChainedEntry(entry=entry, prev_hash=prev_hash, hash=link_hash(prev_hash, entry))


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    checked: int
    head_seq: int
    head_hash: str
    first_broken_seq: int = 0
    problem: str = ""


class ChainVerifier:
    """Checks records fed in ``seq`` order, batch by batch; stops at the first broken link."""

    def __init__(self) -> None:
        self._checked = 0
        self._head_seq = 0
        self._head_hash = GENESIS_HASH
        self._broken_at = 0
        self._problem = ""

    @property
    def broken(self) -> bool:
        return bool(self._problem)

    def feed(self, records: Iterable[ChainedEntry]) -> bool:
        """Check ``records``; False once a link is broken (later records are not looked at)."""
        for record in records:
            if self.broken:
                return False
            problem = self._check(record)
            if problem:
                self._broken_at, self._problem = record.entry.seq, problem
                return False
            self._checked += 1
            self._head_seq, self._head_hash = record.entry.seq, record.hash
        return not self.broken

    def _check(self, record: ChainedEntry) -> str:
        if record.entry.seq != self._head_seq + 1:
            return SEQ_GAP
        if record.prev_hash != self._head_hash:
            return PREV_HASH_MISMATCH
        if record.hash != link_hash(record.prev_hash, record.entry):
            return HASH_MISMATCH
        return ""

    def report(self) -> ChainReport:
        return ChainReport(
            intact=not self.broken,
            checked=self._checked,
            head_seq=self._head_seq,
            head_hash=self._head_hash,
            first_broken_seq=self._broken_at,
            problem=self._problem,
        )


def verify_chain(records: Iterable[ChainedEntry]) -> ChainReport:
    verifier = ChainVerifier()
    verifier.feed(records)
    return verifier.report()


def _instant(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("audit timestamps are timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")

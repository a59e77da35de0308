"""What auditors may do with the log: page through it and verify the chain.

Only the realm roles ``auditor`` and ``city_admin`` may; anyone else gets PermissionDenied,
which the gRPC guard records like every other refusal. A listing is itself recorded as a read
of the audit log, in the same transaction as the read.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Final, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from identity.audit.chain import ChainedEntry, ChainReport, ChainVerifier
from identity.audit.store import AuditFilter
from xinyu_core.audit import AuditRecorder
from xinyu_core.auth import Principal
from xinyu_core.errors import InvalidArgument

AUDIT_READERS: Final = ("auditor", "city_admin")
LIST_ACTION: Final = "/xinyu.audit.v1.AuditService/ListAuditRecords"
AUDIT_LOG_RESOURCE: Final = "audit-log"
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 500
VERIFY_BATCH: Final = 1000


class Sessions(Protocol):
    def begin(self) -> AbstractAsyncContextManager[AsyncSession]: ...


class AuditLogReader(Protocol):
    """The reads :class:`~identity.audit.store.PostgresAuditLog` offers."""

    async def page(
        self,
        session: AsyncSession,
        wanted: AuditFilter,
        *,
        before_seq: int | None,
        limit: int,
    ) -> list[ChainedEntry]: ...

    async def walk(
        self, session: AsyncSession, *, after_seq: int, limit: int
    ) -> list[ChainedEntry]: ...


@dataclass(frozen=True)
class Page:
    records: list[ChainedEntry]
    # The cursor for the next page (records below this seq), None on the last page.
    next_before_seq: int | None


class AuditTrail:
    def __init__(
        self,
        sessions: Sessions,
        log: AuditLogReader,
        audit: AuditRecorder,
        *,
        verify_batch: int = VERIFY_BATCH,
    ) -> None:
        self._sessions = sessions
        self._log = log
        self._audit = audit
        self._verify_batch = verify_batch

    async def list_records(
        self,
        principal: Principal,
        wanted: AuditFilter,
        *,
        page_size: int,
        before_seq: int | None,
    ) -> Page:
        principal.require_any_role(*AUDIT_READERS)
        limit = page_limit(page_size)
        async with self._sessions.begin() as session:
            # One more than asked for says whether another page exists.
            found = await self._log.page(session, wanted, before_seq=before_seq, limit=limit + 1)
            await self._audit.sensitive_read(
                session, principal, LIST_ACTION, AUDIT_LOG_RESOURCE, wanted.resource_id
            )
        records = found[:limit]
        more = len(found) > limit
        return Page(records=records, next_before_seq=records[-1].entry.seq if more else None)

    async def verify_chain(self, principal: Principal) -> ChainReport:
        principal.require_any_role(*AUDIT_READERS)
        return await verify_log(self._sessions, self._log, batch=self._verify_batch)


async def verify_log(
    sessions: Sessions,
    log: AuditLogReader,
    *,
    batch: int = VERIFY_BATCH,
    progress: Callable[[int], None] | None = None,
) -> ChainReport:
    """Walk the whole chain in ``seq`` order, ``batch`` records per query, in one transaction.

    Appends only ever add at the end, so records committed during the walk are simply checked
    too (or not, if they land after the last batch); nothing already read can change under it.
    """
    verifier = ChainVerifier()
    after = 0
    async with sessions.begin() as session:
        while True:
            records = await log.walk(session, after_seq=after, limit=batch)
            if not records or not verifier.feed(records):
                break
            after = records[-1].entry.seq
            if progress is not None:
                progress(after)
    return verifier.report()


def page_limit(page_size: int) -> int:
    if page_size < 0:
        raise InvalidArgument("page_size", "must not be negative")
    return min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)

"""Keeps the messaging tables from growing without end: on a timer, deletes outbox rows published
long ago and inbox rows older than any redelivery can be (``HousekeepingSettings``).

It runs beside a service's relay in its ``serve`` process. Deletes go in short transactions of
``batch`` rows, oldest first, with ``SKIP LOCKED`` so replicas doing the same share the work
instead of waiting on each other; unpublished outbox rows are never touched. Each round logs how
many rows it deleted (a first round on an old database can take a while)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from xinyu_core.messaging._redact import error_fields
from xinyu_core.messaging.inbox import PostgresInbox
from xinyu_core.messaging.outbox import PostgresOutbox, SessionFactory
from xinyu_core.settings import HousekeepingSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Purged:
    outbox: int
    inbox: int


class MessagingHousekeeping:
    def __init__(
        self,
        sessions: SessionFactory,
        settings: HousekeepingSettings,
        *,
        outbox: Table | None = None,
        inbox: Table | None = None,
    ) -> None:
        if outbox is None and inbox is None:
            raise ValueError("housekeeping needs an outbox or an inbox table")
        self._sessions = sessions
        self._settings = settings
        self._outbox = PostgresOutbox(outbox) if outbox is not None else None
        self._inbox = PostgresInbox(inbox) if inbox is not None else None
        self._stopping = asyncio.Event()

    async def run_once(self) -> Purged:
        """One round: delete in batches until nothing old is left."""
        outbox_keep = timedelta(days=self._settings.outbox_keep_days)
        inbox_keep = timedelta(days=self._settings.inbox_keep_days)
        outbox, inbox = self._outbox, self._inbox
        purged_outbox = purged_inbox = 0
        if outbox is not None:
            purged_outbox = await self._in_batches(
                "outbox", lambda session, n: outbox.purge_published(session, outbox_keep, n)
            )
        if inbox is not None:
            purged_inbox = await self._in_batches(
                "inbox", lambda session, n: inbox.purge(session, inbox_keep, n)
            )
        return Purged(outbox=purged_outbox, inbox=purged_inbox)

    async def _in_batches(
        self, table: str, purge: Callable[[AsyncSession, int], Awaitable[int]]
    ) -> int:
        """Short transactions of ``batch`` deletes until one deletes fewer; progress logged."""
        batch = self._settings.batch
        purged = 0
        while not self._stopping.is_set():
            async with self._sessions.begin() as session:
                deleted = await purge(session, batch)
            purged += deleted
            if deleted < batch:
                break
            logger.info("housekeeping in progress", extra={"table": table, "deleted": purged})
        return purged

    async def run(self) -> None:
        """Rounds every ``interval_seconds`` until :meth:`stop`; a failed round is logged and
        tried again at the next interval (nothing depends on it finishing)."""
        while not self._stopping.is_set():
            try:
                purged = await self.run_once()
            except Exception as exc:  # the database may be away; the next round retries
                logger.warning("messaging housekeeping failed", extra=error_fields(exc))
            else:
                if purged.outbox or purged.inbox:
                    logger.info(
                        "messaging housekeeping done",
                        extra={"outbox_deleted": purged.outbox, "inbox_deleted": purged.inbox},
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stopping.wait(), timeout=self._settings.interval_seconds
                )

    def stop(self) -> None:
        self._stopping.set()

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
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Table

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
        batch = self._settings.batch
        purged_outbox = purged_inbox = 0
        while self._outbox is not None and not self._stopping.is_set():
            async with self._sessions.begin() as session:
                deleted = await self._outbox.purge_published(session, outbox_keep, batch)
            purged_outbox += deleted
            if deleted < batch:
                break
            logger.info("outbox housekeeping in progress", extra={"deleted": purged_outbox})
        while self._inbox is not None and not self._stopping.is_set():
            async with self._sessions.begin() as session:
                deleted = await self._inbox.purge(session, inbox_keep, batch)
            purged_inbox += deleted
            if deleted < batch:
                break
            logger.info("inbox housekeeping in progress", extra={"deleted": purged_inbox})
        return Purged(outbox=purged_outbox, inbox=purged_inbox)

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

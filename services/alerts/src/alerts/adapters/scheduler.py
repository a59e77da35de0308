"""The escalation scheduler inside ``alerts serve``: every interval, claim due timers
(``FOR UPDATE SKIP LOCKED``, so several replicas share them) and escalate, each batch in one
transaction. Timers live in the database, so a restart only delays them by one interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from alerts.domain.ports import Transactions
from alerts.domain.routing import Router
from xinyu_core.messaging._redact import error_fields

logger = logging.getLogger(__name__)


class EscalationScheduler:
    def __init__(
        self,
        transactions: Transactions,
        router: Router,
        *,
        interval_seconds: float = 1.0,
        batch_size: int = 50,
    ) -> None:
        self._tx = transactions
        self._router = router
        self._interval = interval_seconds
        self._batch = batch_size
        self._stopping = asyncio.Event()

    async def run_once(self) -> int:
        """One batch; returns how many timers fired."""
        async with self._tx() as tx:
            return await self._router.escalate_due(tx, self._batch)

    async def run(self) -> None:
        logger.info("escalation scheduler started")
        while not self._stopping.is_set():
            try:
                fired = await self.run_once()
            except Exception as exc:  # the database or identity is down: next interval
                logger.warning("escalation pass failed", extra=error_fields(exc))
                fired = 0
            if fired >= self._batch:
                continue  # more are due: no pause
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)
        logger.info("escalation scheduler stopped")

    async def stop(self) -> None:
        self._stopping.set()

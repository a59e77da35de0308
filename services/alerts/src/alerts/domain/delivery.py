"""Delivering notifications: the adapter behind ``alerts consume notifications`` tries each
requested notification a few times with backoff and records every attempt on the record, so a
failure is visible (ListNotifications), never silent."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

from alerts.domain.model import DeliveryAttempt, NotificationStatus
from alerts.domain.ports import Clock, Transactions

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    """What a channel gets: ids and codes; the recipient opens the alert in the app."""

    notification_id: UUID
    alert_id: UUID
    recipient: str
    role: str
    level: str
    severity: str
    category: str
    school_code: str
    acknowledge_by: str


class Channel:
    """A delivery channel. ``send`` returns None when delivered, else an error code."""

    name: str = "channel"

    async def send(self, outgoing: Outgoing) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass(frozen=True)
class RetryPlan:
    attempts: int = 4
    initial_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 10.0

    def backoff(self, attempt: int) -> float:
        return float(
            min(self.initial_backoff_seconds * 2.0 ** (attempt - 1), self.max_backoff_seconds)
        )


class Deliverer:
    def __init__(
        self,
        transactions: Transactions,
        channel: Channel,
        clock: Clock,
        plan: RetryPlan | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._tx = transactions
        self._channel = channel
        self._clock = clock
        self._plan = plan or RetryPlan()
        self._sleep = sleep

    async def deliver(self, outgoing: Outgoing) -> NotificationStatus:
        """Tries until delivered or the plan is spent; each attempt is recorded in its own
        transaction, so the record shows it even if this process dies next."""
        async with self._tx() as tx:
            record = await tx.get_notification(outgoing.notification_id)
            if record is None:
                # The relay publishes only committed rows, so this is a foreign or purged id.
                logger.warning(
                    "notification record not found",
                    extra={"notification_id": str(outgoing.notification_id)},
                )
                return NotificationStatus.FAILED
            if record.status is NotificationStatus.DELIVERED:
                return record.status
        for attempt in range(1, self._plan.attempts + 1):
            try:
                error = await self._channel.send(outgoing)
            except Exception as exc:  # a channel bug must not lose the record
                error = f"error-{type(exc).__name__.lower()}"
            done = error is None
            final = done or attempt == self._plan.attempts
            async with self._tx() as tx:
                record = await tx.get_notification(outgoing.notification_id, for_update=True)
                if record is None:
                    return NotificationStatus.FAILED
                now = self._clock.now()
                record.attempts.append(DeliveryAttempt(now, done, error or ""))
                if done:
                    record.status = NotificationStatus.DELIVERED
                    record.delivered_at = now
                elif final:
                    record.status = NotificationStatus.FAILED
                await tx.save_notification(record)
            if done:
                return NotificationStatus.DELIVERED
            if not final:
                await self._sleep(self._plan.backoff(attempt))
        logger.error(
            "notification not delivered",
            extra={"notification_id": str(outgoing.notification_id), "channel": self._channel.name},
        )
        return NotificationStatus.FAILED

"""Delivering notifications: the adapter behind ``alerts consume notifications`` tries each
requested notification a few times with backoff and records every attempt on the record, so a
failure is visible (ListNotifications), never silent."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

from alerts.domain.model import DeliveryAttempt, Notification, NotificationStatus
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
        (status,) = await self.deliver_many([outgoing])
        return status

    async def deliver_many(self, outgoing: Sequence[Outgoing]) -> list[NotificationStatus]:
        """Tries each until delivered or the plan is spent; each attempt is recorded in a
        transaction of its own before the next, so the record shows it even if this process
        dies next. The first attempts of a batch go out together and are recorded together."""
        statuses: dict[UUID, NotificationStatus | None] = {}
        async with self._tx() as tx:
            records = await tx.get_notifications([o.notification_id for o in outgoing])
        pending: list[Outgoing] = []
        for item in outgoing:
            record = records.get(item.notification_id)
            if record is None:
                # The relay publishes only committed rows, so this is a foreign or purged id.
                logger.warning(
                    "notification record not found",
                    extra={"notification_id": str(item.notification_id)},
                )
                statuses[item.notification_id] = NotificationStatus.FAILED
            elif record.status is NotificationStatus.DELIVERED:
                statuses[item.notification_id] = record.status
            elif item.notification_id not in statuses:
                statuses[item.notification_id] = NotificationStatus.PENDING
                pending.append(item)
        errors = await asyncio.gather(*(self._send(item) for item in pending))
        first = await self._record(list(zip(pending, errors, strict=True)), attempt=1)
        statuses.update(first)
        again = [item for item in pending if first[item.notification_id] is None]
        if again:
            later = await asyncio.gather(*(self._keep_trying(item) for item in again))
            statuses.update(zip((item.notification_id for item in again), later, strict=True))
        return [statuses[item.notification_id] or NotificationStatus.FAILED for item in outgoing]

    async def _send(self, outgoing: Outgoing) -> str | None:
        try:
            return await self._channel.send(outgoing)
        except Exception as exc:  # a channel bug must not lose the record
            return f"error-{type(exc).__name__.lower()}"

    async def _record(
        self, results: Sequence[tuple[Outgoing, str | None]], attempt: int
    ) -> dict[UUID, NotificationStatus | None]:
        """Stores one attempt of each; the status each ended with, None: try again."""
        final_attempt = attempt >= self._plan.attempts
        ended: dict[UUID, NotificationStatus | None] = {}
        if not results:
            return ended
        async with self._tx() as tx:
            records = await tx.get_notifications(
                [item.notification_id for item, _ in results], for_update=True
            )
            now = self._clock.now()
            changed: list[tuple[Notification, DeliveryAttempt]] = []
            for item, error in results:
                record = records.get(item.notification_id)
                if record is None:
                    ended[item.notification_id] = NotificationStatus.FAILED
                    continue
                done = error is None
                tried = DeliveryAttempt(now, done, error or "")
                record.attempts.append(tried)
                if done:
                    record.status = NotificationStatus.DELIVERED
                    record.delivered_at = now
                elif final_attempt:
                    record.status = NotificationStatus.FAILED
                changed.append((record, tried))
                ended[item.notification_id] = record.status if done or final_attempt else None
            await tx.record_attempts(changed)
        for item, _ in results:
            if ended[item.notification_id] is NotificationStatus.FAILED:
                logger.error(
                    "notification not delivered",
                    extra={
                        "notification_id": str(item.notification_id),
                        "channel": self._channel.name,
                    },
                )
        return ended

    async def _keep_trying(self, outgoing: Outgoing) -> NotificationStatus:
        for attempt in range(2, self._plan.attempts + 1):
            await self._sleep(self._plan.backoff(attempt - 1))
            error = await self._send(outgoing)
            status = (await self._record([(outgoing, error)], attempt))[outgoing.notification_id]
            if status is not None:
                return status
        return NotificationStatus.FAILED

"""Notification delivery: retried with backoff, every attempt recorded, a failure visible."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import httpx
from alerts_fakes import place, principal, world

from alerts.adapters.delivery.channels import WebhookChannel
from alerts.domain.delivery import Channel, Deliverer, Outgoing, RetryPlan
from alerts.domain.model import Alert, Category, NotificationStatus, Severity, Source


class Flaky(Channel):
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def send(self, outgoing: Outgoing) -> str | None:
        self.calls += 1
        return "http-503" if self.calls <= self.failures else None


def outgoing(notification_id, alert_id) -> Outgoing:  # type: ignore[no-untyped-def]
    return Outgoing(
        notification_id,
        alert_id,
        "psych.teacher",
        "psych_teacher",
        "school",
        "high",
        "other",
        "3607020001",
        "",
    )


async def one_notification():  # type: ignore[no-untyped-def]
    w = world()
    student = place()
    w.responders.enrol(student)
    alert = Alert(
        uuid4(),
        student,
        Severity.MEDIUM,
        Source.SCREENING,
        "screening",
        Category.OTHER,
        w.clock.now(),
    )
    async with w.transactions() as tx:
        await w.router.raise_alert(tx, alert)
    (notification,) = w.store.notifications.values()
    return w, alert, notification


async def test_a_failed_delivery_is_retried_with_backoff_and_each_attempt_recorded() -> None:
    w, alert, notification = await one_notification()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        w.clock.advance(timedelta(seconds=seconds))

    channel = Flaky(failures=2)
    deliverer = Deliverer(w.transactions, channel, w.clock, RetryPlan(attempts=4), sleep)
    status = await deliverer.deliver(outgoing(notification.notification_id, alert.alert_id))
    assert status is NotificationStatus.DELIVERED
    stored = w.store.notifications[notification.notification_id]
    assert [a.delivered for a in stored.attempts] == [False, False, True]
    assert [a.error for a in stored.attempts] == ["http-503", "http-503", ""]
    assert waits == [0.5, 1.0]
    # Delivered once is delivered: a redelivered event sends nothing more.
    assert await deliverer.deliver(outgoing(notification.notification_id, alert.alert_id)) is (
        NotificationStatus.DELIVERED
    )
    assert channel.calls == 3


async def test_when_retries_run_out_the_failure_is_visible_on_the_alert() -> None:
    w, alert, notification = await one_notification()

    async def sleep(seconds: float) -> None:
        return None

    deliverer = Deliverer(w.transactions, Flaky(failures=10), w.clock, RetryPlan(attempts=3), sleep)
    status = await deliverer.deliver(outgoing(notification.notification_id, alert.alert_id))
    assert status is NotificationStatus.FAILED
    view = await w.service.get_alert(principal("psych_teacher"), str(alert.alert_id))
    (seen,) = view.notifications
    assert seen.status is NotificationStatus.FAILED
    assert len(seen.attempts) == 3


async def test_the_webhook_sends_codes_with_an_idempotency_key_and_reports_http_errors() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(502 if len(seen) == 1 else 204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        channel = WebhookChannel(http, "http://sms.invalid/notify")
        message = outgoing(uuid4(), uuid4())
        assert await channel.send(message) == "http-502"
        assert await channel.send(message) is None
    assert seen[0].headers["Idempotency-Key"] == str(message.notification_id)
    assert b"psych.teacher" in seen[0].content

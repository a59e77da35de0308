"""Delivery channels for notifications.

* ``WebhookChannel``: POSTs the notification (ids and codes, no free text) as JSON to a
  configured URL — an SMS or messaging gateway's adapter — with the notification id as
  ``Idempotency-Key``, since a retry after a lost answer sends it again.
* ``InboxChannel``: with no webhook configured, the notification record itself is the
  recipient's in-app inbox entry (ListNotifications shows it); nothing leaves the platform.
  Locally this is what happens: there is no SMS.
"""

from __future__ import annotations

import dataclasses

import httpx

from alerts.domain.delivery import Channel, Outgoing


class WebhookChannel(Channel):
    name = "webhook"

    def __init__(self, http: httpx.AsyncClient, url: str, timeout_seconds: float = 5.0) -> None:
        self._http = http
        self._url = url
        self._timeout = timeout_seconds

    async def send(self, outgoing: Outgoing) -> str | None:
        body = {key: str(value) for key, value in dataclasses.asdict(outgoing).items()}
        try:
            response = await self._http.post(
                self._url,
                json=body,
                headers={"Idempotency-Key": str(outgoing.notification_id)},
                timeout=self._timeout,
            )
        except httpx.TimeoutException:
            return "timeout"
        except httpx.HTTPError as error:
            return f"transport-{type(error).__name__.lower()}"[:64]
        if 200 <= response.status_code < 300:
            return None
        return f"http-{response.status_code}"


class InboxChannel(Channel):
    name = "inbox"

    async def send(self, outgoing: Outgoing) -> str | None:
        return None

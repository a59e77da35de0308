"""The housekeeping loop: a failed round is logged and retried, stop() ends it. The deletes
themselves run against PostgreSQL in tests/integration/messaging/test_store_integration.py."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from sqlalchemy import MetaData

from xinyu_core.messaging import MessagingHousekeeping, outbox_table
from xinyu_core.settings import HousekeepingSettings


def test_it_needs_a_table_to_keep() -> None:
    with pytest.raises(ValueError, match="outbox or an inbox"):
        MessagingHousekeeping(object(), HousekeepingSettings())  # type: ignore[arg-type]


async def test_a_failed_round_is_logged_and_tried_again_until_stopped(
    db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    db.outages = 2  # the database is away for two rounds
    housekeeping = MessagingHousekeeping(
        db, HousekeepingSettings(interval_seconds=0.01), outbox=outbox_table(MetaData())
    )
    with caplog.at_level(logging.WARNING, logger="xinyu_core.messaging.housekeeping"):
        task = asyncio.create_task(housekeeping.run())
        for _ in range(200):
            if db.outages == 0:
                break
            await asyncio.sleep(0.01)
        housekeeping.stop()
        await asyncio.wait_for(task, timeout=2.0)

    failures = [r for r in caplog.records if r.getMessage() == "messaging housekeeping failed"]
    assert len(failures) >= 2
    # The type only, never the message (it can quote the rows).
    assert all(getattr(r, "error_type", "").endswith("OperationalError") for r in failures)

"""``alerts serve`` runs the gRPC server, the escalation scheduler and the outbox relay;
``alerts consume units|screening|notifications`` runs one consumer (partner units' reports,
screening's flags and confirmed levels, notification delivery); ``alerts migrate`` upgrades
the database."""

from __future__ import annotations

import asyncio
import signal
import sys

from alerts.bootstrap import BUILDERS, CONSUMERS, MIGRATIONS, SERVICE, build_server_side
from alerts.config import AlertsSettings
from xinyu_core.grpc.server import run_until_terminated
from xinyu_core.logging import configure_logging
from xinyu_core.migrations import upgrade
from xinyu_core.telemetry import setup_telemetry


async def serve(settings: AlertsSettings) -> None:
    alerts = build_server_side(settings, setup_telemetry(SERVICE))
    assert alerts.server is not None
    assert alerts.scheduler is not None
    scheduler = alerts.scheduler

    async def stop_background() -> None:
        alerts.core.relay.stop()
        await scheduler.stop()

    try:
        await run_until_terminated(
            alerts.server, background=alerts.background(), on_stop=[stop_background]
        )
    finally:
        await alerts.close()


async def consume(settings: AlertsSettings, name: str) -> None:
    alerts = BUILDERS[name](settings, setup_telemetry(SERVICE))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, alerts.stop)
    try:
        # The consumers return once stopped; the relay (publishing what they stored) with them.
        await asyncio.gather(*(job() for job in alerts.background()))
    finally:
        await alerts.close()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "serve"
    settings = AlertsSettings()
    configure_logging(SERVICE, settings.log_level)
    if command == "serve":
        asyncio.run(serve(settings))
    elif command == "consume" and len(args) == 2 and args[1] in CONSUMERS:
        asyncio.run(consume(settings, args[1]))
    elif command == "migrate":
        upgrade(MIGRATIONS, settings.database_url.get_secret_value())
    else:
        raise SystemExit(f"usage: alerts serve|migrate|consume {{{','.join(CONSUMERS)}}}")


if __name__ == "__main__":
    main()

"""``screening serve`` runs the gRPC server and its outbox relay; ``screening migrate``
upgrades the database. Screening consumes no topic yet."""

from __future__ import annotations

import asyncio
import sys

from screening.bootstrap import MIGRATIONS, SERVICE, build
from screening.config import ScreeningSettings
from xinyu_core.grpc.server import run_until_terminated
from xinyu_core.logging import configure_logging
from xinyu_core.migrations import upgrade
from xinyu_core.telemetry import setup_telemetry


async def serve(settings: ScreeningSettings) -> None:
    screening = build(settings, setup_telemetry(SERVICE))
    try:
        # Licensed definitions an operator loaded join the shipped ones before the first call.
        await screening.shelf.refresh()
        await run_until_terminated(
            screening.server, background=[screening.relay.run, screening.housekeeping.run]
        )
    finally:
        await screening.close()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "serve"
    settings = ScreeningSettings()
    configure_logging(SERVICE, settings.log_level)
    if command == "serve":
        asyncio.run(serve(settings))
    elif command == "migrate":
        upgrade(MIGRATIONS, settings.database_url.get_secret_value())
    else:
        raise SystemExit(f"usage: screening serve|migrate (got {command!r})")


if __name__ == "__main__":
    main()

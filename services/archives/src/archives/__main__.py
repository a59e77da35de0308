"""``archives serve`` runs the gRPC server; ``archives consume enrolments`` runs the consumer
that opens a file for every enrolled student; ``archives migrate`` upgrades the database."""

from __future__ import annotations

import asyncio
import signal
import sys

from archives.bootstrap import (
    CONSUMERS,
    MIGRATIONS,
    SERVICE,
    build_enrolment_consumer,
    build_server_side,
)
from archives.config import ArchivesSettings
from xinyu_core.grpc.server import run_until_terminated
from xinyu_core.logging import configure_logging
from xinyu_core.migrations import upgrade
from xinyu_core.telemetry import setup_telemetry


async def serve(settings: ArchivesSettings) -> None:
    archives = build_server_side(settings, setup_telemetry(SERVICE))
    assert archives.server is not None
    try:
        background = [archives.housekeeping.run] if archives.housekeeping else []
        await run_until_terminated(archives.server, background=background)
    finally:
        await archives.close()


async def consume(settings: ArchivesSettings) -> None:
    archives = build_enrolment_consumer(settings, setup_telemetry(SERVICE))
    consumer = archives.consumer
    assert consumer is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, consumer.stop)
    try:
        await consumer.run()
    finally:
        await archives.close()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "serve"
    settings = ArchivesSettings()
    configure_logging(SERVICE, settings.log_level)
    if command == "serve":
        asyncio.run(serve(settings))
    elif command == "consume" and args[1:2] == ["enrolments"]:
        asyncio.run(consume(settings))
    elif command == "migrate":
        upgrade(MIGRATIONS, settings.database_url.get_secret_value())
    else:
        raise SystemExit(f"usage: archives serve|migrate|consume {{{','.join(CONSUMERS)}}}")


if __name__ == "__main__":
    main()

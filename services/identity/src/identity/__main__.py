"""``identity serve`` runs the gRPC server and its outbox relay; ``identity migrate`` upgrades
the database."""

from __future__ import annotations

import asyncio
import sys

from identity.bootstrap import MIGRATIONS, SERVICE, build
from identity.config import IdentitySettings
from xinyu_core.grpc.server import run_until_terminated
from xinyu_core.logging import configure_logging
from xinyu_core.migrations import upgrade
from xinyu_core.telemetry import setup_telemetry


async def serve(settings: IdentitySettings) -> None:
    identity = build(settings, setup_telemetry(SERVICE))
    try:
        await run_until_terminated(identity.server, background=[identity.relay.run])
    finally:
        await identity.close()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "serve"
    settings = IdentitySettings()
    configure_logging(SERVICE, settings.log_level)
    if command == "serve":
        asyncio.run(serve(settings))
    elif command == "migrate":
        upgrade(MIGRATIONS, settings.database_url.get_secret_value())
    else:
        raise SystemExit(f"usage: identity serve|migrate (got {command!r})")


if __name__ == "__main__":
    main()

"""``identity serve`` runs the gRPC server, its outbox relay, the outbox's housekeeping and the
Keycloak account sync;
``identity consume audit`` appends every service's access decisions to the audit log;
``identity migrate`` upgrades the database; ``identity provision groups`` and ``identity provision
students --scope CODE`` are the bulk Jobs that mirror the school group tree and students'
accounts into Keycloak (as the bulk client identity-bulk); ``identity rotate-keys`` re-encrypts
stored student numbers under the current field encryption key (docs/runbooks/key-rotation.md)."""

from __future__ import annotations

import asyncio
import signal
import sys

from identity.accounts.wiring import USAGE, run_provision
from identity.adapters.db.key_rotation import rotate_student_numbers
from identity.audit.wiring import CONSUMER, build_audit_consumer
from identity.bootstrap import MIGRATIONS, SERVICE, build
from identity.config import IdentitySettings
from xinyu_core.db import make_engine
from xinyu_core.grpc.server import run_until_terminated
from xinyu_core.logging import configure_logging
from xinyu_core.migrations import upgrade
from xinyu_core.telemetry import setup_telemetry


async def serve(settings: IdentitySettings) -> None:
    identity = build(settings, setup_telemetry(SERVICE))
    try:
        background = [identity.relay.run, identity.housekeeping.run]
        on_stop = []
        if identity.account_sync is not None:
            background.append(identity.account_sync.run)
            on_stop.append(identity.account_sync.stop)
        await run_until_terminated(identity.server, background=background, on_stop=on_stop)
    finally:
        await identity.close()


async def consume_audit(settings: IdentitySettings) -> None:
    audit = build_audit_consumer(settings, setup_telemetry(SERVICE))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, audit.consumer.stop)
    try:
        await audit.consumer.run()
    finally:
        await audit.close()


async def rotate_keys(settings: IdentitySettings) -> int:
    engine = make_engine(settings.database_url.get_secret_value(), pool_size=1)
    try:
        report = await rotate_student_numbers(engine, settings.field_cipher())
    finally:
        await engine.dispose()
    return 0 if report.remaining == 0 else 1


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "serve"
    settings = IdentitySettings()
    configure_logging(SERVICE, settings.log_level)
    if command == "serve":
        asyncio.run(serve(settings))
    elif command == "consume" and args[1:2] == [CONSUMER]:
        asyncio.run(consume_audit(settings))
    elif command == "migrate":
        upgrade(MIGRATIONS, settings.database_url.get_secret_value())
    elif command == "rotate-keys":
        sys.exit(asyncio.run(rotate_keys(settings)))
    elif command == "provision":
        sys.exit(run_provision(settings, args[1:]))
    else:
        raise SystemExit(
            f"usage: identity serve|migrate|rotate-keys|consume {CONSUMER}; {USAGE}"
            f" (got {command!r})"
        )


if __name__ == "__main__":
    main()

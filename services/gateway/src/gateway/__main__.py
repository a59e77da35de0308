"""``gateway serve``: runs the HTTP API."""

from __future__ import annotations

import sys

import uvicorn

from gateway.app import create_app
from gateway.config import GatewaySettings
from gateway.routers.screening import SubmissionFastPath
from xinyu_core.logging import configure_logging
from xinyu_core.telemetry import setup_telemetry


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "serve"
    if command != "serve":
        raise SystemExit(f"usage: gateway serve (got {command!r})")
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    provider = setup_telemetry("gateway")
    # The submission route (a screening day's hot path) past Starlette's stack; see there.
    app = SubmissionFastPath(create_app(settings, provider), provider)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()

"""The bulk-provisioning benchmark runs end to end with a tiny N and leaves nothing behind.
(The figures themselves are in docs/decisions/0009-keycloak-provisioning.md, not asserted.)"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr

from identity.adapters.keycloak import KeycloakAccountDirectory
from xinyu_core.settings import KeycloakSettings

pytestmark = pytest.mark.integration

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "keycloak_bulk.py"


async def test_benchmark_runs_and_cleans_up() -> None:
    prefix = f"zz-benchtest-{uuid.uuid4().hex[:6]}-"
    args = ["--single", "6", "--bulk", "120", "--reconcile", "10", "--prefix", prefix]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCHMARK),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    output = out.decode()
    directory = KeycloakAccountDirectory.from_settings(
        KeycloakSettings(client_id="identity", client_secret=SecretStr("dev-kc-identity"))
    )
    try:
        left = await directory.delete_by_prefix(prefix)  # also the safety net if it failed
        assert process.returncode == 0, output
        assert left == 0, "the benchmark left accounts behind"
        assert "bulk / single:" in output
        assert "1,600,000 students" in output
        assert "deleted 126 accounts" in output
        assert "group not deleted" not in output
    finally:
        await directory.aclose()

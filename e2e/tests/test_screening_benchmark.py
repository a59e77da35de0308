"""The submissions benchmark runs end to end against the running platform with a small N and
prints every figure it promises; the figures themselves are not asserted (see
services/screening/README.md for a full run's)."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "screening_submissions.py"


async def test_the_benchmark_runs_and_prints_its_figures() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCHMARK),
        "--students",
        "50",
        "--instruments",
        "phq-a@1.0.0",
        "--concurrency",
        "4,8",
        "--warmup",
        "10",
        "--paced-rate",
        "50",
        "--paced-clients",
        "8",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=600)
    output = out.decode()

    assert process.returncode == 0, output
    for target in ("gateway", "bare-http", "bare-grpc", "gw>bare-grpc"):
        for clients in (4, 8):
            assert re.search(rf"^{target}\s+{clients}\s+\d+", output, re.MULTILINE), output
    assert re.search(r"throughput \d+\.\d+ of bare-http, \d+\.\d+ of bare-grpc", output), output
    assert re.search(r"^\s+gateway\s+[\d.]+ MiB", output, re.MULTILINE), output
    assert re.search(r"^\s+screening\s+[\d.]+ MiB", output, re.MULTILINE), output
    # The paced phase: offered and achieved rate, latency from due time, whether it kept up;
    # its submissions are in the stored-once check.
    assert re.search(r"^paced \(open loop.*8 clients offered 50/s, \d+ submissions", output, re.M)
    assert re.search(
        r"achieved \d+/s; latency p50 [\d.]+ ms, p99 [\d.]+ ms, max [\d.]+ ms; sends late", output
    ), output
    assert re.search(r"^  kept up: (yes|NO) ", output, re.MULTILINE), output
    assert "stored exactly once: ok" in output

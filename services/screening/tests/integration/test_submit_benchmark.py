"""The SubmitAnswers benchmark runs with a small N and prints its figures; the figures are not
asserted (services/screening/README.md has a full run's)."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "submit_answers.py"


async def test_the_benchmark_runs_and_prints_its_figures() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCHMARK),
        "--students",
        "60",
        "--concurrency",
        "4",
        "--warmup",
        "5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    output = out.decode()
    assert process.returncode == 0, output
    for target in ("bare-grpc", "screening"):
        assert re.search(rf"^{target}\s+\d+\s+\d+\.\d+$", output, re.MULTILINE), output
    assert re.search(r"throughput \d+\.\d+, CPU per request \d+\.\d+×", output), output

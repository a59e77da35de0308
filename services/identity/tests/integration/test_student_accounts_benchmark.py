"""The student-accounts benchmark runs end to end with a tiny N and leaves nothing behind.
(The figures themselves are in docs/decisions/0013-student-accounts.md, not asserted.)"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "student_accounts.py"


async def test_benchmark_runs_and_cleans_up() -> None:
    args = ["--groups", "30", "--students", "40", "--per-school", "20"]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCHMARK),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    output = out.decode()
    assert process.returncode == 0, output
    assert "mirror again" in output
    assert "created 0, 20 reads" in output
    assert "provision / bare:" in output
    assert "cleanup: deleted 80 accounts, 2 schools and their groups" in output

"""The benchmark runs (a few messages, not a timed test): it needs the whole local platform."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "unit_messages.py"


def test_the_benchmark_runs_and_accounts_for_every_message() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--students",
            "2",
            "--messages",
            "5",
            "--rate",
            "10",
            "--backlog",
            "20",
            "--consumers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "exactly once" in done.stdout
    assert "p99" in done.stdout

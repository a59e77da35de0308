"""The roster benchmark runs end to end with a small N, prints both rates and leaves no schema
behind. (The city-scale figures are in docs/decisions/0011-roster-import.md, not asserted.)"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.integration

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "roster_import.py"
IDENTITY_DB = "host=127.0.0.1 port=5433 dbname=identity user=identity password=dev-db-identity"


def bench_schemas() -> set[str]:
    with psycopg.connect(IDENTITY_DB) as connection:
        rows = connection.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench_roster_%'"
        ).fetchall()
    return {row[0] for row in rows}


async def test_benchmark_runs_prints_both_rates_and_cleans_up() -> None:
    before = bench_schemas()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCHMARK),
        "--rows",
        "3000",
        "--schools",
        "36",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    output = out.decode()

    assert process.returncode == 0, output
    assert re.search(r"baseline COPY: .* [\d,]+ rows/s", output), output
    assert re.search(r"roster import: .* [\d,]+ rows/s", output), output
    assert re.search(r"ratio import/baseline: \d+\.\d+", output), output
    assert "created 3,000" in output
    assert "peak RSS" in output
    assert bench_schemas() <= before

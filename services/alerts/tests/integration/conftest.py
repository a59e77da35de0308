from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Helpers live beside the tests (and the unit tests' fakes of identity); importlib mode does
# not put these folders on sys.path.
here = Path(__file__).parent
sys.path.insert(0, str(here))
sys.path.insert(0, str(here.parent / "unit"))

from alerts_stack import reachable  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _local_stack() -> None:
    # Fail rather than skip: `-m integration` asked for real servers.
    missing = [
        name
        for name, port in (("PostgreSQL", 5433), ("Kafka", 9092), ("Kafka EXTERNAL", 9094))
        if not reachable("127.0.0.1", port)
    ]
    if missing:
        pytest.fail(f"{', '.join(missing)} not reachable: run `make infra-up` first")

"""Group commit's batcher (SubmitAnswers): what arrives together is run together, each caller
gets its own outcome, and a batch waits for the one running before it."""

from __future__ import annotations

import asyncio

import pytest

from screening.adapters.db.answers import Batcher


class Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay
        self.release: asyncio.Event | None = None
        self.started = asyncio.Event()

    async def __call__(self, items: list[int]) -> list[int | Exception]:
        self.batches.append(items)
        self.started.set()
        if self.release is not None:
            await self.release.wait()
        await asyncio.sleep(self.delay)
        return [ValueError(f"bad {i}") if i < 0 else i * 10 for i in items]


async def test_items_arriving_together_run_as_one_batch_and_each_gets_its_own_answer() -> None:
    run = Recorder()
    batcher: Batcher[int, int] = Batcher(run, window=0.005, most=64)
    answers = await asyncio.gather(*(batcher(i) for i in range(10)))
    assert answers == [i * 10 for i in range(10)]
    assert run.batches == [list(range(10))]
    assert (batcher.batches, batcher.items) == (1, 10)


async def test_a_batch_closes_at_most_items() -> None:
    run = Recorder()
    batcher: Batcher[int, int] = Batcher(run, window=10.0, most=4)
    answers = await asyncio.wait_for(asyncio.gather(*(batcher(i) for i in range(8))), 2)
    assert answers == [i * 10 for i in range(8)]
    assert run.batches == [[0, 1, 2, 3], [4, 5, 6, 7]]


async def test_one_failing_item_fails_only_its_caller() -> None:
    batcher: Batcher[int, int] = Batcher(Recorder(), window=0.001, most=64)
    outcomes = await asyncio.gather(batcher(1), batcher(-2), batcher(3), return_exceptions=True)
    assert outcomes[0] == 10
    assert outcomes[2] == 30
    assert isinstance(outcomes[1], ValueError)


async def test_a_batch_that_raises_fails_each_of_its_callers() -> None:
    async def broken(items: list[int]) -> list[int | Exception]:
        raise RuntimeError("the database went away")

    batcher: Batcher[int, int] = Batcher(broken, window=0.001, most=64)
    outcomes = await asyncio.gather(batcher(1), batcher(2), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)


async def test_what_arrives_while_a_batch_runs_forms_the_next_one() -> None:
    run = Recorder()
    run.release = asyncio.Event()
    batcher: Batcher[int, int] = Batcher(run, window=0.001, most=64)
    first = asyncio.gather(batcher(1), batcher(2))
    await asyncio.wait_for(run.started.wait(), 2)
    # The first batch is running: these wait for it, well past the window, and go together.
    later = asyncio.gather(*(batcher(i) for i in range(3, 9)))
    await asyncio.sleep(0.02)
    assert len(run.batches) == 1
    run.release.set()
    assert await first == [10, 20]
    assert await later == [i * 10 for i in range(3, 9)]
    assert run.batches == [[1, 2], list(range(3, 9))]


async def test_a_caller_that_gives_up_leaves_the_batch_to_the_others() -> None:
    run = Recorder(delay=0.05)
    batcher: Batcher[int, int] = Batcher(run, window=0.001, most=64)
    impatient = asyncio.ensure_future(batcher(1))
    patient = asyncio.ensure_future(batcher(2))
    await asyncio.sleep(0.01)
    impatient.cancel()
    assert await patient == 20
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert run.batches == [[1, 2]]

"""Answers are checked before anything is scored; every refusal names the field a form can
point at (``answers.<item>``, ``instrument_version``…)."""

from __future__ import annotations

from typing import Any

import pytest
from screening_support import engine, q, score, shipped, spread

from screening.domain.scoring import Submission, score_sitting
from xinyu_core.errors import InvalidArgument

PHQ = spread(q(*range(1, 10)), 0)


def refused(instrument_id: str, answers: dict[str, Any]) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        score(instrument_id, answers)
    return caught.value


def test_missing_required_item() -> None:
    answers = dict(PHQ)
    del answers["q4"]
    error = refused("phq-9", answers)
    assert error.field == "answers.q4"
    assert "required" in error.message


@pytest.mark.parametrize("value", [4, -1, 99])
def test_value_that_is_no_option(value: int) -> None:
    error = refused("phq-9", {**PHQ, "q3": value})
    assert error.field == "answers.q3"
    assert "0, 1, 2, 3" in error.message


@pytest.mark.parametrize("value", [True, "2", 2.0, None])
def test_value_that_is_not_an_integer(value: object) -> None:
    answers: dict[str, Any] = {**PHQ, "q5": value}
    if value is None:
        # None is "not answered": the item is then missing.
        assert refused("phq-9", answers).field == "answers.q5"
        return
    error = refused("phq-9", answers)
    assert error.field == "answers.q5"


def test_unknown_item() -> None:
    error = refused("phq-9", {**PHQ, "q11": 0})
    assert error.field == "answers.q11"
    assert "no such item" in error.message


def test_answer_to_an_item_skip_logic_hides() -> None:
    error = refused("c-ssrs-screen", {"q1": 1, "q2": 0, "q3": 0, "q6": 0})
    assert error.field == "answers.q3"
    assert "skip logic" in error.message
    error = refused("c-ssrs-screen", {"q1": 0, "q2": 0, "q6": 0, "q6_recent": 0})
    assert error.field == "answers.q6_recent"
    error = refused("phq-9", {**PHQ, "q10": 0})
    assert error.field == "answers.q10"


def test_item_shown_by_skip_logic_is_then_required() -> None:
    error = refused("c-ssrs-screen", {"q1": 1, "q2": 1, "q3": 0, "q5": 0, "q6": 0})
    assert error.field == "answers.q4"
    error = refused("c-ssrs-screen", {"q1": 0, "q2": 0, "q6": 1})
    assert error.field == "answers.q6_recent"


def test_wrong_instrument_version() -> None:
    with pytest.raises(InvalidArgument) as caught:
        engine().score(Submission("phq-9", "0.9.0", PHQ))
    assert caught.value.field == "instrument_version"
    assert "1.0.0" in caught.value.message
    # Scoring with a definition other than the one the answers were given for.
    definition = shipped()[0].latest("phq-9")
    with pytest.raises(InvalidArgument) as caught:
        score_sitting(definition, shipped()[1], Submission("phq-9", "2.0.0", PHQ))
    assert caught.value.field == "instrument_version"


def test_wrong_or_unknown_instrument() -> None:
    with pytest.raises(InvalidArgument) as caught:
        engine().score(Submission("bdi-ii", "1.0.0", PHQ))
    assert caught.value.field == "instrument_id"
    definition = shipped()[0].latest("phq-9")
    with pytest.raises(InvalidArgument) as caught:
        score_sitting(definition, shipped()[1], Submission("gad-7", "1.0.0", PHQ))
    assert caught.value.field == "instrument_id"


def test_first_problem_in_the_forms_order_is_reported() -> None:
    answers = {**PHQ, "q2": 7, "q8": 9}
    assert refused("phq-9", answers).field == "answers.q2"

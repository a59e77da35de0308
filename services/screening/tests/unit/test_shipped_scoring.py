"""Every shipped instrument scored on worked examples, at both sides of every published
cut-off. The cut-offs are written out here as the publications give them, so that a typo in a
definition file fails a test instead of mis-scoring students."""

from __future__ import annotations

import pytest
from screening_support import band_id, q, score, shipped, spread

from screening.domain.instruments import RiskLevel

PHQ_ITEMS = q(*range(1, 10))
PHQ_A_EXTRAS = {"past_year_depressed": 0, "past_month_suicidal_thoughts": 0, "lifetime_attempt": 0}
CES_ITEMS = q(*range(1, 21))
CES_REVERSED = q(4, 8, 12, 16)


def band_limits(instrument_id: str, scale_id: str) -> list[tuple[str, int | float, int | float]]:
    definition = shipped()[0].latest(instrument_id)
    scale = next(s for s in definition.scales if s.id == scale_id)
    return [(b.id, b.min, b.max) for b in scale.bands]


def policy_level(instrument_id: str, owner: str, band: str) -> RiskLevel:
    return shipped()[1].for_instrument(instrument_id).bands[owner][band]


def published(names: list[str], starts: list[int], top: int) -> list[tuple[str, int, int]]:
    """Bands as publications give them: the lowest score of each, and the highest score."""
    ends = [start - 1 for start in starts[1:]] + [top]
    return list(zip(names, starts, ends, strict=True))


PHQ_BANDS = published(
    ["minimal", "mild", "moderate", "moderately_severe", "severe"], [0, 5, 10, 15, 20], 27
)
GAD_BANDS = published(["minimal", "mild", "moderate", "severe"], [0, 5, 10, 15], 21)
CES_D_BANDS = published(["below_cutoff", "at_or_above_cutoff"], [0, 16], 60)
CES_DC_BANDS = published(["below_cutoff", "above_cutoff"], [0, 16], 60)
DASS_LEVELS = ["normal", "mild", "moderate", "severe", "extremely_severe"]
DASS_BANDS = {
    "depression": published(DASS_LEVELS, [0, 10, 14, 21, 28], 42),
    "anxiety": published(DASS_LEVELS, [0, 8, 10, 15, 20], 42),
    "stress": published(DASS_LEVELS, [0, 15, 19, 26, 34], 42),
}


@pytest.mark.parametrize(
    ("instrument_id", "scale_id", "bands"),
    [
        ("phq-9", "total", PHQ_BANDS),
        ("phq-a", "total", PHQ_BANDS),
        ("gad-7", "total", GAD_BANDS),
        ("ces-d", "total", CES_D_BANDS),
        ("ces-dc", "total", CES_DC_BANDS),
        *(("dass-21", name, bands) for name, bands in DASS_BANDS.items()),
    ],
)
def test_bands_are_the_published_ones(
    instrument_id: str, scale_id: str, bands: list[tuple[str, int, int]]
) -> None:
    assert band_limits(instrument_id, scale_id) == bands


def boundaries(bands: list[tuple[str, int, int]]) -> list[tuple[int, str]]:
    """Both ends of every band: every cut-off seen from both sides."""
    return [(value, band) for band, low, high in bands for value in (low, high)]


@pytest.mark.parametrize(("total", "band"), boundaries(PHQ_BANDS))
def test_phq9_total_and_band_at_every_cut_off(total: int, band: str) -> None:
    result = score("phq-9", spread(PHQ_ITEMS, total))
    assert result.scale("total").value == total
    assert band_id(result.band) == band
    assert result.band.suggested_risk == policy_level("phq-9", "total", band)
    assert result.validity.valid
    assert result.instrument_id == "phq-9"
    assert result.version == "1.0.0"
    # Item 9 is filled last: only the top scores make it positive.
    assert bool(result.critical) == (total > 24)


def test_phq9_item_9_is_critical_whatever_the_total() -> None:
    result = score("phq-9", {**spread(PHQ_ITEMS, 0), "q9": 1})
    assert result.scale("total").value == 1
    assert band_id(result.band) == "minimal"
    assert [(f.rule, f.items) for f in result.critical] == [("self_harm_thoughts", ("q9",))]
    level = shipped()[1].for_instrument("phq-9").critical["self_harm_thoughts"]
    assert result.critical[0].suggested_risk == level
    # The critical rule lifts the suggestion above what the band suggests.
    assert result.suggested_risk == level
    assert level.rank > policy_level("phq-9", "total", "minimal").rank


def test_phq9_difficulty_question_is_asked_only_after_a_problem_and_not_scored() -> None:
    none = score("phq-9", spread(PHQ_ITEMS, 0))
    assert none.skipped_items == ("q10",)
    some = score("phq-9", {**spread(PHQ_ITEMS, 3), "q10": 3})
    assert some.skipped_items == ()
    assert some.scale("total").value == 3
    # Optional: leaving it out is not "missing".
    assert score("phq-9", spread(PHQ_ITEMS, 3)).scale("total").value == 3


@pytest.mark.parametrize(("total", "band"), boundaries(PHQ_BANDS))
def test_phq_a_total_and_band_at_every_cut_off(total: int, band: str) -> None:
    result = score("phq-a", {**spread(PHQ_ITEMS, total), **PHQ_A_EXTRAS})
    assert result.scale("total").value == total
    assert band_id(result.band) == band


def test_phq_a_extra_questions_are_unscored_and_the_suicide_ones_critical() -> None:
    answers = {
        **spread(PHQ_ITEMS, 6),
        "past_year_depressed": 1,
        "difficulty": 2,
        "past_month_suicidal_thoughts": 1,
        "lifetime_attempt": 1,
    }
    result = score("phq-a", answers)
    assert result.scale("total").value == 6
    assert [(f.rule, f.items) for f in result.critical] == [
        ("recent_suicidal_thoughts", ("past_month_suicidal_thoughts",)),
        ("lifetime_attempt", ("lifetime_attempt",)),
    ]
    policy = shipped()[1].for_instrument("phq-a")
    assert result.suggested_risk == policy.critical["recent_suicidal_thoughts"]


@pytest.mark.parametrize(
    ("total", "band"),
    boundaries(GAD_BANDS),
)
def test_gad7_total_and_band_at_every_cut_off(total: int, band: str) -> None:
    result = score("gad-7", spread(q(*range(1, 8)), total))
    assert result.scale("total").value == total
    assert band_id(result.band) == band
    assert result.critical == ()


def ces_answers(total: int) -> dict[str, int]:
    """The plain items spread first; then the reverse-scored ones, whose answer is 3 − score
    ("most of the time" scores 0)."""
    plain = [i for i in CES_ITEMS if i not in CES_REVERSED]
    reversed_scores = spread(CES_REVERSED, max(0, total - 48))
    return {**spread(plain, min(total, 48)), **{i: 3 - s for i, s in reversed_scores.items()}}


@pytest.mark.parametrize("instrument_id", ["ces-d", "ces-dc"])
def test_ces_items_4_8_12_16_are_reverse_scored(instrument_id: str) -> None:
    # Every answer "rarely or none" (0): only the four positive items count, 3 each.
    assert score(instrument_id, dict.fromkeys(CES_ITEMS, 0)).scale("total").value == 12
    # Every answer "most of the time" (3): 16 items × 3, the positive items 0.
    assert score(instrument_id, dict.fromkeys(CES_ITEMS, 3)).scale("total").value == 48
    # One positive item alone moves the total the other way.
    answers = {**dict.fromkeys(CES_ITEMS, 0), "q12": 1}
    assert score(instrument_id, answers).scale("total").value == 11
    lowest = {**dict.fromkeys(CES_ITEMS, 0), **dict.fromkeys(CES_REVERSED, 3)}
    assert score(instrument_id, lowest).scale("total").value == 0
    highest = {**dict.fromkeys(CES_ITEMS, 3), **dict.fromkeys(CES_REVERSED, 0)}
    assert score(instrument_id, highest).scale("total").value == 60


@pytest.mark.parametrize(
    ("instrument_id", "total", "band"),
    [("ces-d", *case) for case in boundaries(CES_D_BANDS)]
    + [("ces-dc", *case) for case in boundaries(CES_DC_BANDS)],
)
def test_ces_cut_off(instrument_id: str, total: int, band: str) -> None:
    result = score(instrument_id, ces_answers(total))
    assert result.scale("total").value == total
    assert band_id(result.band) == band
    assert result.band.suggested_risk == policy_level(instrument_id, "total", band)


DASS = {
    "depression": q(3, 5, 10, 13, 16, 17, 21),
    "anxiety": q(2, 4, 7, 9, 15, 19, 20),
    "stress": q(1, 6, 8, 11, 12, 14, 18),
}


def dass_boundaries() -> list[tuple[str, int, str]]:
    """Scores are raw sums × 2, so only even values occur: at each band's ends, the nearest
    raw sums inside the band."""
    return [
        (subscale, raw, band)
        for subscale, bands in DASS_BANDS.items()
        for band, low, high in bands
        for raw in sorted({-(-low // 2), high // 2})
    ]


@pytest.mark.parametrize(("subscale", "raw", "band"), dass_boundaries())
def test_dass21_subscales_are_doubled_and_banded(subscale: str, raw: int, band: str) -> None:
    answers = {item: 0 for items in DASS.values() for item in items}
    answers |= spread(DASS[subscale], raw)
    result = score("dass-21", answers)
    scored = result.scale(subscale)
    assert scored.value == raw * 2
    assert band_id(scored.band) == band
    for other in DASS.keys() - {subscale}:
        assert result.scale(other).value == 0
    # No headline band: three subscales, each with its own; the suggestion is the highest.
    assert result.band is None
    assert result.suggested_risk == policy_level("dass-21", subscale, band)


def test_dass21_each_subscale_has_its_own_band() -> None:
    answers = (
        spread(DASS["depression"], 14) | spread(DASS["anxiety"], 4) | spread(DASS["stress"], 0)
    )
    result = score("dass-21", answers)
    assert {k: (v.value, v.band.band if v.band else None) for k, v in result.scales.items()} == {
        "depression": (28, "extremely_severe"),
        "anxiety": (8, "mild"),
        "stress": (0, "normal"),
    }


@pytest.mark.parametrize(
    ("answers", "triage", "skipped", "critical_items"),
    [
        ({"q1": 0, "q2": 0, "q6": 0}, "none", ("q3", "q4", "q5", "q6_recent"), None),
        ({"q1": 1, "q2": 0, "q6": 0}, "low", ("q3", "q4", "q5", "q6_recent"), None),
        ({"q1": 1, "q2": 1, "q3": 0, "q4": 0, "q5": 0, "q6": 0}, "low", ("q6_recent",), None),
        ({"q1": 1, "q2": 1, "q3": 1, "q4": 0, "q5": 0, "q6": 0}, "moderate", ("q6_recent",), None),
        ({"q1": 1, "q2": 1, "q3": 1, "q4": 1, "q5": 0, "q6": 0}, "high", ("q6_recent",), None),
        ({"q1": 0, "q2": 1, "q3": 0, "q4": 0, "q5": 1, "q6": 0}, "high", ("q6_recent",), None),
        # Question 6 is asked whatever question 2 says; its timing decides the level.
        ({"q1": 0, "q2": 0, "q6": 1, "q6_recent": 0}, "moderate", ("q3", "q4", "q5"), ("q6",)),
        (
            {"q1": 0, "q2": 0, "q6": 1, "q6_recent": 1},
            "high",
            ("q3", "q4", "q5"),
            ("q6", "q6_recent"),
        ),
    ],
)
def test_cssrs_skip_paths_and_triage(
    answers: dict[str, int],
    triage: str,
    skipped: tuple[str, ...],
    critical_items: tuple[str, ...] | None,
) -> None:
    result = score("c-ssrs-screen", answers)
    assert band_id(result.band) == triage
    assert result.classifications["triage"].band == triage
    assert result.skipped_items == skipped
    assert result.scales == {}
    if critical_items is None:
        assert result.critical == ()
    else:
        assert [(f.rule, f.items) for f in result.critical] == [
            ("suicidal_behaviour", critical_items)
        ]
    assert result.suggested_risk == policy_level("c-ssrs-screen", "triage", triage)


def test_results_name_the_policy_version_they_used() -> None:
    result = score("gad-7", spread(q(*range(1, 8)), 0))
    assert result.policy_version == shipped()[1].version

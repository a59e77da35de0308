"""Licensed instruments fit the format without their text in the repository: synthetic
definitions shaped like SCL-90 and MHT (placeholder item text, licence "licensed"), loaded
from a directory as a deployment holding a licence would load the real ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from screening_support import critical, definition, option_set, q, shipped, text

from screening.domain.instruments import (
    Catalogue,
    DefinitionError,
    RiskLevel,
    RiskPolicy,
    parse_definition,
)
from screening.domain.instruments.policy import InstrumentPolicy
from screening.domain.scoring import ScoringEngine, ScoringResult, Submission

LICENSED = {
    "kind": "licensed",
    "holder": "(the licence holder)",
    "terms": "Licensed; the item text is supplied by the holder and never committed.",
    "translation": "The holder's authorised Chinese edition.",
}

# Factor structure of the SCL-90 (Derogatis 1977), by item number.
SCL_FACTORS = {
    "somatization": [1, 4, 12, 27, 40, 42, 48, 49, 52, 53, 56, 58],
    "obsessive_compulsive": [3, 9, 10, 28, 38, 45, 46, 51, 55, 65],
    "interpersonal_sensitivity": [6, 21, 34, 36, 37, 41, 61, 69, 73],
    "depression": [5, 14, 15, 20, 22, 26, 29, 30, 31, 32, 54, 71, 79],
    "anxiety": [2, 17, 23, 33, 39, 57, 72, 78, 80, 86],
    "hostility": [11, 24, 63, 67, 74, 81],
    "phobic_anxiety": [13, 25, 47, 50, 70, 75, 82],
    "paranoid_ideation": [8, 18, 43, 68, 76, 83],
    "psychoticism": [7, 16, 35, 62, 77, 84, 85, 87, 88, 90],
    "additional": [19, 44, 59, 60, 64, 66, 89],
}

# MHT (心理健康诊断测验) content scales and lie scale, by item number.
MHT_SCALES = {
    "learning_anxiety": list(range(1, 16)),
    "social_anxiety": list(range(16, 26)),
    "loneliness": list(range(26, 36)),
    "self_blame": list(range(36, 46)),
    "oversensitivity": list(range(46, 56)),
    "somatic": list(range(56, 71)),
    "phobic": list(range(71, 81)),
    "impulsivity": list(range(81, 100, 2)),
}
MHT_LIE = list(range(82, 101, 2))


def placeholder_items(count: int, options: str) -> list[dict[str, Any]]:
    return [
        {"id": f"q{n}", "text": text(f"item {n}"), "options": options} for n in range(1, count + 1)
    ]


def scale(scale_id: str, numbers: list[int], kind: str, rule: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": scale_id,
        "label": text(scale_id),
        "kind": kind,
        "rule": rule,
        "items": q(*numbers),
        "source": "synthetic, shaped like the published manual",
        **extra,
    }


def band(band_id: str, low: float, high: float) -> dict[str, Any]:
    return {"id": band_id, "label": text(band_id), "min": low, "max": high, "source": "synthetic"}


def cutoff(cutoff_id: str, **test: float) -> dict[str, Any]:
    return {"id": cutoff_id, "label": text(cutoff_id), "when": test, "source": "synthetic"}


def base(instrument_id: str) -> dict[str, Any]:
    return {
        "id": instrument_id,
        "version": "1.0.0",
        "title": text(instrument_id),
        "respondent": "student",
        "applicability": {"grade_bands": ["junior_secondary", "senior_secondary"]},
        "licence": LICENSED,
        "references": ["synthetic test definition"],
    }


def scl90() -> dict[str, Any]:
    factors = [
        scale(name, numbers, "subscale", "mean", cutoffs=[cutoff("elevated", ge=2)])
        for name, numbers in SCL_FACTORS.items()
        if name != "additional"
    ]
    every = list(range(1, 91))
    return base("scl-90") | {
        "option_sets": {"severity": option_set([1, 2, 3, 4, 5])},
        "items": placeholder_items(90, "severity"),
        "scales": [
            scale(
                "total",
                every,
                "total",
                "sum",
                bands=[band("below", 90, 159), band("at_or_above", 160, 450)],
            ),
            scale("total_mean", every, "index", "mean"),
            scale(
                "positive_items",
                every,
                "index",
                "count",
                count_when={"ge": 2},
                cutoffs=[cutoff("many", gt=43)],
            ),
            *factors,
            scale("additional", SCL_FACTORS["additional"], "subscale", "mean"),
        ],
        "critical": [critical("item_15", {"item": "q15", "score": {"ge": 2}})],
        "primary": "total",
    }


def mht() -> dict[str, Any]:
    content = [n for numbers in MHT_SCALES.values() for n in numbers]
    return base("mht") | {
        "option_sets": {"yes_no": option_set([0, 1])},
        "items": placeholder_items(100, "yes_no"),
        "scales": [
            scale(
                "total",
                content,
                "total",
                "sum",
                bands=[band("normal", 0, 64), band("attention", 65, 90)],
            ),
            *(
                scale(name, numbers, "subscale", "sum", cutoffs=[cutoff("high", ge=8)])
                for name, numbers in MHT_SCALES.items()
            ),
            scale("lie", MHT_LIE, "validity", "sum"),
        ],
        "validity": [
            {
                "id": "lie",
                "reason": text("lie score 7 or more"),
                "invalid_when": {"scale": "lie", "value": {"ge": 7}},
                "source": "synthetic, shaped like the MHT manual",
            }
        ],
        "primary": "total",
    }


POLICY = RiskPolicy.model_validate(
    {
        "version": "0.0.1",
        "source": "test",
        "instruments": {
            "scl-90": {
                "bands": {"total": {"below": "green", "at_or_above": "yellow"}},
                "cutoffs": {
                    "positive_items": {"many": "yellow"},
                    "depression": {"elevated": "orange"},
                },
                "critical": {"item_15": "red"},
            },
            "mht": {"bands": {"total": {"normal": "green", "attention": "orange"}}},
        },
    }
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> ScoringEngine:
    """The shipped catalogue plus the licensed definitions from a mounted directory."""
    directory: Path = tmp_path_factory.mktemp("licensed")
    (directory / "scl-90-1.0.0.json").write_text(json.dumps(scl90()), encoding="utf-8")
    (directory / "mht-1.0.0.json").write_text(json.dumps(mht()), encoding="utf-8")
    catalogue = Catalogue.shipped().with_directory(directory)
    shipped_policy = shipped()[1]
    instruments: dict[str, InstrumentPolicy] = {**shipped_policy.instruments, **POLICY.instruments}
    return ScoringEngine(catalogue, shipped_policy.model_copy(update={"instruments": instruments}))


def scl(engine: ScoringEngine, scores: dict[int, int]) -> ScoringResult:
    answers = {f"q{n}": scores.get(n, 1) for n in range(1, 91)}
    return engine.score(Submission("scl-90", "1.0.0", answers))


def test_licensed_definitions_load_beside_the_shipped_ones(engine: ScoringEngine) -> None:
    assert {"scl-90", "mht", "phq-9"} <= set(engine.catalogue.ids())
    for instrument_id in ("scl-90", "mht"):
        d = engine.catalogue.latest(instrument_id)
        assert d.licence.kind == "licensed"
        assert d.items[0].text.zh_cn == "item 1"
    assert sum(len(v) for v in SCL_FACTORS.values()) == 90
    assert sorted(n for v in SCL_FACTORS.values() for n in v) == list(range(1, 91))
    assert sorted([*MHT_LIE, *(n for v in MHT_SCALES.values() for n in v)]) == list(range(1, 101))
    definition(scl90())
    definition(mht())


def test_scl90_no_symptoms(engine: ScoringEngine) -> None:
    result = scl(engine, {})
    assert result.scale("total").value == 90
    assert result.scale("total_mean").value == 1.0
    assert result.scale("positive_items").value == 0
    assert all(result.scale(f).value == 1.0 for f in SCL_FACTORS)
    assert all(s.cutoffs == () for s in result.scales.values())
    assert result.suggested_risk is RiskLevel.GREEN
    assert result.critical == ()


def test_scl90_factor_means_round_and_flag_at_two(engine: ScoringEngine) -> None:
    # Somatization: 5 of 12 items at 2 → 17/12 = 1.4166… → 1.42.
    somatization = dict.fromkeys(SCL_FACTORS["somatization"][:5], 2)
    # Hostility: 5 of 6 at 2 → 1.83, under the flag; all 6 → exactly 2.0, flagged.
    hostility_under = dict.fromkeys(SCL_FACTORS["hostility"][:5], 2)
    result = scl(engine, somatization | hostility_under)
    assert result.scale("somatization").value == 1.42
    assert result.scale("hostility").value == 1.83
    assert result.scale("hostility").cutoffs == ()
    result = scl(engine, dict.fromkeys(SCL_FACTORS["hostility"], 2))
    assert result.scale("hostility").value == 2.0
    assert result.scale("hostility").cutoffs == ("elevated",)
    assert result.scale("positive_items").value == 6
    # The policy names no level for hostility's flag: the flag is reported, nothing suggested.
    assert result.suggested_risk is RiskLevel.GREEN


def test_scl90_depression_flag_and_item_15_are_critical(engine: ScoringEngine) -> None:
    result = scl(engine, dict.fromkeys(SCL_FACTORS["depression"], 3))
    assert result.scale("depression").value == 3.0
    assert result.scale("depression").cutoffs == ("elevated",)
    assert result.scale("total").value == 90 + 13 * 2
    assert [(f.rule, f.items) for f in result.critical] == [("item_15", ("q15",))]
    assert result.suggested_risk is RiskLevel.RED


# Items away from item 15 and the depression factor, so nothing critical is raised.
QUIET = [n for n in range(1, 91) if n not in SCL_FACTORS["depression"]]


@pytest.mark.parametrize(("positive", "many"), [(43, False), (44, True)])
def test_scl90_positive_item_count(engine: ScoringEngine, positive: int, many: bool) -> None:
    result = scl(engine, dict.fromkeys(QUIET[:positive], 2))
    assert result.scale("positive_items").value == positive
    assert result.scale("total").value == 90 + positive
    assert (result.scale("positive_items").cutoffs == ("many",)) is many


@pytest.mark.parametrize(("last", "total", "band"), [(2, 159, "below"), (3, 160, "at_or_above")])
def test_scl90_total_band(engine: ScoringEngine, last: int, total: int, band: str) -> None:
    # 17 items at 5 add 68 to the lowest total of 90; one more item adds 1 or 2.
    result = scl(engine, dict.fromkeys(QUIET[:17], 5) | {QUIET[17]: last})
    assert result.scale("total").value == total
    assert result.scale("positive_items").value == 18
    assert result.band is not None
    assert result.band.band == band


def mht_sitting(engine: ScoringEngine, yes: list[int]) -> ScoringResult:
    answers = {f"q{n}": int(n in yes) for n in range(1, 101)}
    return engine.score(Submission("mht", "1.0.0", answers))


@pytest.mark.parametrize(("lie", "valid"), [(0, True), (6, True), (7, False), (10, False)])
def test_mht_lie_scale_invalidates_the_sitting(
    engine: ScoringEngine, lie: int, valid: bool
) -> None:
    content = [n for numbers in MHT_SCALES.values() for n in numbers][:70]
    result = mht_sitting(engine, MHT_LIE[:lie] + content)
    assert result.scale("lie").value == lie
    assert result.scale("total").value == 70
    assert result.band is not None
    assert result.band.band == "attention"
    assert result.validity.valid is valid
    if valid:
        assert result.suggested_risk is RiskLevel.ORANGE
    else:
        assert [r.rule for r in result.validity.reasons] == ["lie"]
        # An invalid sitting's bands are reported but suggest nothing.
        assert result.suggested_risk is None


def test_mht_content_scales_and_total(engine: ScoringEngine) -> None:
    result = mht_sitting(engine, MHT_SCALES["learning_anxiety"][:8] + MHT_SCALES["impulsivity"][:7])
    assert result.scale("learning_anxiety").value == 8
    assert result.scale("learning_anxiety").cutoffs == ("high",)
    assert result.scale("impulsivity").value == 7
    assert result.scale("impulsivity").cutoffs == ()
    assert result.scale("total").value == 15
    assert result.band is not None
    assert result.band.band == "normal"
    assert result.validity.valid
    assert result.suggested_risk is RiskLevel.GREEN


def test_a_stored_licensed_definition_joins_the_catalogue() -> None:
    """The route for a definition an operator uploads: parsed as strictly as a file, added
    beside the shipped ones, and served back as JSON in the same format."""
    text_ = json.dumps(mht(), ensure_ascii=False)
    parsed = parse_definition(text_, where="uploaded mht 1.0.0")
    catalogue = Catalogue.shipped().with_definitions([("uploaded mht 1.0.0", parsed)])
    assert catalogue.get("mht", "1.0.0") == parsed
    assert "mht" not in Catalogue.shipped().ids()
    served = parsed.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    assert parse_definition(json.dumps(served), where="served.json") == parsed
    with pytest.raises(DefinitionError):
        catalogue.with_definitions([("again", parsed)])

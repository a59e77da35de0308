"""Helpers for the screening unit tests: the shipped catalogue, answers that make a given
score, and small definitions written in place."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from screening.domain.instruments import Catalogue, InstrumentDefinition, RiskPolicy, load_policy
from screening.domain.scoring import BandResult, ScoringEngine, ScoringResult, Submission


@cache
def shipped() -> tuple[Catalogue, RiskPolicy]:
    catalogue = Catalogue.shipped()
    return catalogue, load_policy(catalogue)


def engine() -> ScoringEngine:
    return ScoringEngine(*shipped())


def score(instrument_id: str, answers: dict[str, int]) -> ScoringResult:
    definition = shipped()[0].latest(instrument_id)
    return engine().score(Submission(instrument_id, definition.version, answers))


def band_id(band: BandResult | None) -> str | None:
    return band.band if band is not None else None


def spread(items: Sequence[str], total: int, top: int = 3, bottom: int = 0) -> dict[str, int]:
    """Answers (value = score) to ``items`` whose scores add up to ``total``, filling the first
    items first."""
    left = total - bottom * len(items)
    assert 0 <= left <= (top - bottom) * len(items), f"{total} is out of reach"
    answers = {}
    for item in items:
        step = min(top - bottom, left)
        answers[item] = bottom + step
        left -= step
    return answers


def q(*numbers: int) -> list[str]:
    return [f"q{n}" for n in numbers]


def text(label: str) -> dict[str, str]:
    return {"zh-CN": label, "en": label}


def option_set(values: Sequence[int]) -> list[dict[str, Any]]:
    return [{"value": v, "score": v, "label": text(str(v))} for v in values]


def critical(rule_id: str, when: dict[str, Any]) -> dict[str, Any]:
    return {"id": rule_id, "label": text(rule_id), "when": when, "source": "test"}


def minimal_definition(**overrides: Any) -> dict[str, Any]:
    """A small valid definition as plain data: three items 0-3, a total with two bands."""
    base: dict[str, Any] = {
        "id": "mini",
        "version": "1.0.0",
        "title": text("mini"),
        "respondent": "student",
        "applicability": {"grade_bands": ["junior_secondary"]},
        "licence": {
            "kind": "free",
            "holder": "nobody",
            "terms": "test data",
            "translation": "test data",
        },
        "references": ["test data"],
        "option_sets": {"freq": option_set([0, 1, 2, 3])},
        "items": [{"id": i, "text": text(i), "options": "freq"} for i in q(1, 2, 3)],
        "scales": [
            {
                "id": "total",
                "label": text("total"),
                "kind": "total",
                "rule": "sum",
                "items": q(1, 2, 3),
                "source": "test",
                "bands": [
                    {"id": "low", "label": text("low"), "min": 0, "max": 4, "source": "test"},
                    {"id": "high", "label": text("high"), "min": 5, "max": 9, "source": "test"},
                ],
            }
        ],
    }
    base.update(overrides)
    return base


def definition(data: dict[str, Any]) -> InstrumentDefinition:
    from screening.domain.instruments.checks import check_definition

    parsed = InstrumentDefinition.model_validate(data)
    assert check_definition(parsed) == []
    return parsed

"""The scoring engine: one sitting's answers, checked against the definition version they were
given for, scored as the definition says. Pure: no I/O, no clock.

A result is a suggestion for the people who follow a student up (R1, R2): the bands the authors
publish, the level the platform's policy suggests for them, critical answers and whether the
sitting is valid. Nothing here decides a student's level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from screening.domain.instruments.checks import item_score_range
from screening.domain.instruments.conditions import Outcome
from screening.domain.instruments.loading import Catalogue, DefinitionError
from screening.domain.instruments.model import InstrumentDefinition, Item, Scale, Text
from screening.domain.instruments.policy import (
    InstrumentPolicy,
    RiskLevel,
    RiskPolicy,
    check_policy,
    highest,
)
from xinyu_core.errors import InvalidArgument


@dataclass(frozen=True)
class Submission:
    """What a respondent sent: the instrument and version they were shown, and
    ``{item_id: option value}`` for the items they answered."""

    instrument_id: str
    version: str
    answers: Mapping[str, int]


@dataclass(frozen=True)
class BandResult:
    owner: str  # the scale or classification
    band: str
    label: Text
    suggested_risk: RiskLevel | None
    source: str


@dataclass(frozen=True)
class ScaleResult:
    scale: str
    # None only for a mean of which no item was answered.
    value: int | float | None
    band: BandResult | None
    cutoffs: tuple[str, ...]  # ids of the cut-offs the value passes


@dataclass(frozen=True)
class CriticalFlag:
    rule: str
    label: Text
    items: tuple[str, ...]  # the answers that raised it, in the definition's order
    suggested_risk: RiskLevel | None


@dataclass(frozen=True)
class InvalidReason:
    rule: str
    reason: Text


@dataclass(frozen=True)
class Validity:
    valid: bool
    reasons: tuple[InvalidReason, ...] = ()


@dataclass(frozen=True)
class ScoringResult:
    instrument_id: str
    version: str
    policy_version: str
    scales: Mapping[str, ScaleResult]
    classifications: Mapping[str, BandResult]
    band: BandResult | None  # the primary scale's or classification's band
    validity: Validity
    critical: tuple[CriticalFlag, ...]
    # The highest level suggested by the bands and cut-offs (of a valid sitting only) and by
    # the critical rules (always: an invalid sitting's "I want to die" still reaches a person).
    suggested_risk: RiskLevel | None
    skipped_items: tuple[str, ...]  # hidden by skip logic; not missing

    def scale(self, scale_id: str) -> ScaleResult:
        return self.scales[scale_id]


class _Sitting:
    """The answers as conditions see them (the ``Facts`` protocol)."""

    def __init__(self) -> None:
        self.answers: dict[str, int] = {}
        self.scores: dict[str, int] = {}
        self.scales: dict[str, float] = {}

    def answer(self, item_id: str) -> int | None:
        return self.answers.get(item_id)

    def score(self, item_id: str) -> int | None:
        return self.scores.get(item_id)

    def scale(self, scale_id: str) -> float | None:
        return self.scales.get(scale_id)


def score_sitting(
    definition: InstrumentDefinition, policy: RiskPolicy, submission: Submission
) -> ScoringResult:
    d = definition
    if submission.instrument_id != d.id:
        raise InvalidArgument(
            "instrument_id", f"answers are for '{submission.instrument_id}', not '{d.id}'"
        )
    if submission.version != d.version:
        raise InvalidArgument(
            "instrument_version",
            f"answers are for {d.id} {submission.version}, this definition is {d.version}",
        )
    sitting, skipped = _read_answers(d, submission.answers)
    rules = policy.for_instrument(d.id)

    scales: dict[str, ScaleResult] = {}
    for scale in d.scales:
        value = _scale_value(scale, sitting)
        if value is not None:
            sitting.scales[scale.id] = value
        scales[scale.id] = _scale_result(scale, value, rules)

    classifications = {}
    for c in d.classifications:
        level = next((lv for lv in c.levels if lv.when.evaluate(sitting).holds), None)
        band, label, source = (
            (level.band, level.label, level.source)
            if level is not None
            else (c.otherwise.id, c.otherwise.label, c.otherwise.source)
        )
        risk = rules.bands.get(c.id, {}).get(band)
        classifications[c.id] = BandResult(c.id, band, label, risk, source)

    reasons = tuple(
        InvalidReason(v.id, v.reason) for v in d.validity if v.invalid_when.evaluate(sitting).holds
    )
    order = {item.id: n for n, item in enumerate(d.items)}
    critical = []
    for rule in d.critical:
        outcome: Outcome = rule.when.evaluate(sitting)
        if outcome.holds:
            items = tuple(sorted(outcome.items, key=order.__getitem__))
            critical.append(CriticalFlag(rule.id, rule.label, items, rules.critical.get(rule.id)))

    suggested = [f.suggested_risk for f in critical if f.suggested_risk is not None]
    if not reasons:
        bands = [s.band for s in scales.values() if s.band] + list(classifications.values())
        suggested += [b.suggested_risk for b in bands if b.suggested_risk is not None]
        for s in scales.values():
            levels = rules.cutoffs.get(s.scale, {})
            suggested += [levels[c] for c in s.cutoffs if c in levels]
    primary = None
    if d.primary is not None:
        primary = classifications.get(d.primary) or scales[d.primary].band
    return ScoringResult(
        instrument_id=d.id,
        version=d.version,
        policy_version=policy.version,
        scales=scales,
        classifications=classifications,
        band=primary,
        validity=Validity(valid=not reasons, reasons=reasons),
        critical=tuple(critical),
        suggested_risk=highest(suggested),
        skipped_items=tuple(skipped),
    )


def _read_answers(
    d: InstrumentDefinition, answers: Mapping[str, int]
) -> tuple[_Sitting, list[str]]:
    """Check every answer, in the definition's order, and score it. Skip logic is evaluated on
    the answers to earlier items only, as a form shows them."""
    known = {item.id for item in d.items}
    for item_id in answers:
        if item_id not in known:
            raise InvalidArgument(f"answers.{item_id}", f"{d.id} {d.version} has no such item")
    sitting, skipped = _Sitting(), []
    for item in d.items:
        field = f"answers.{item.id}"
        value = answers.get(item.id)
        if item.show_if is not None and not item.show_if.evaluate(sitting).holds:
            if value is not None:
                raise InvalidArgument(
                    field, "must not be answered: skip logic hides it for the earlier answers"
                )
            skipped.append(item.id)
            continue
        if value is None:
            if item.required:
                raise InvalidArgument(field, "is required and was not answered")
            continue
        sitting.answers[item.id] = _checked(d, item, value, field)
        sitting.scores[item.id] = _item_score(d, item, value)
    return sitting, skipped


def _checked(d: InstrumentDefinition, item: Item, value: object, field: str) -> int:
    allowed = [o.value for o in d.options_of(item)]
    # bool is an int in Python; True is no option value.
    if not isinstance(value, int) or isinstance(value, bool) or value not in allowed:
        raise InvalidArgument(
            field, f"{value!r} is not one of the option values {', '.join(map(str, allowed))}"
        )
    return value


def _item_score(d: InstrumentDefinition, item: Item, value: int) -> int:
    score = next(o.score for o in d.options_of(item) if o.value == value)
    if item.reverse:
        low, high = item_score_range(d, item.id)
        return low + high - score
    return score


def _scale_value(scale: Scale, sitting: _Sitting) -> int | float | None:
    scores = [sitting.scores[i] for i in scale.items if i in sitting.scores]
    if scale.rule == "sum":
        return sum(scores) * scale.multiplier
    if scale.rule == "count":
        assert scale.count_when is not None
        return sum(1 for s in scores if scale.count_when.test(s))
    if not scores:
        return None
    # Half up, as a person rounds: 1.125 → 1.13 (Python's round() would give 1.12).
    mean = Decimal(sum(scores)) / Decimal(len(scores))
    return float(mean.quantize(Decimal(1).scaleb(-scale.decimals), rounding=ROUND_HALF_UP))


def _scale_result(scale: Scale, value: int | float | None, rules: InstrumentPolicy) -> ScaleResult:
    if value is None:
        return ScaleResult(scale.id, None, None, ())
    band = next((b for b in scale.bands if b.min <= value <= b.max), None)
    band_result = (
        BandResult(
            scale.id, band.id, band.label, rules.bands.get(scale.id, {}).get(band.id), band.source
        )
        if band is not None
        else None
    )
    cutoffs = tuple(c.id for c in scale.cutoffs if c.when.test(value))
    return ScaleResult(scale.id, value, band_result, cutoffs)


class ScoringEngine:
    """The catalogue and the policy, checked against each other once, then any number of
    sittings scored."""

    def __init__(self, catalogue: Catalogue, policy: RiskPolicy) -> None:
        problems = check_policy(policy, catalogue)
        if problems:
            raise DefinitionError(f"risk policy {policy.version}", problems)
        self.catalogue = catalogue
        self.policy = policy

    def score(self, submission: Submission) -> ScoringResult:
        definition = self.catalogue.get(submission.instrument_id, submission.version)
        return score_sitting(definition, self.policy, submission)

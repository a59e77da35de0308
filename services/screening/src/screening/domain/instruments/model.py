"""The instrument definition format: what a YAML or JSON file under ``screening/instruments``
(or a licensed definition loaded from elsewhere) contains. Structure is checked here by
pydantic; references between parts (items named by scales, bands that tile a scale's range…)
are checked by ``checks.check_definition`` when the file is loaded.

Every scoring rule (scale, band, cut-off, triage level, critical rule, validity rule) carries a
``source``: the publication or manual it comes from, so a reviewer can check it there.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictInt, model_validator

from screening.domain.instruments.conditions import Compare, Condition, StrictModel

Id = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
InstrumentId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=64)]
SemVer = Annotated[
    str, Field(pattern=r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$")
]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Source = Annotated[str, AfterValidator(_not_blank)]
"""A citation: authors, year, publication and where in it (table, page, manual section)."""


class Text(StrictModel):
    """Text shown to people: Simplified Chinese always, English when known."""

    zh_cn: Annotated[str, AfterValidator(_not_blank)] = Field(alias="zh-CN")
    en: Annotated[str, AfterValidator(_not_blank)] | None = None


class Option(StrictModel):
    """One answer a respondent may give. ``value`` is what a client sends; ``score`` is what
    it counts for before reverse scoring."""

    value: StrictInt
    score: StrictInt
    label: Text


class Item(StrictModel):
    id: Id
    text: Text
    # The id of a shared option set, or the options themselves.
    options: Id | tuple[Option, ...]
    # Scored as (lowest + highest option score) − score: "not at all" on "I was happy" counts 3.
    reverse: bool = False
    # Unscored items (a functional-impact question) are asked and validated but no scale may
    # count them.
    scored: bool = True
    # An optional item may be left unanswered; a required one may not, unless skip logic hides it.
    required: bool = True
    # Skip logic: the item is shown only when this holds for the answers to EARLIER items.
    # A hidden item must not be answered and is not "missing".
    show_if: Condition | None = None


class Band(StrictModel):
    """A range of a scale, both ends included. The bands of a scale tile its possible range."""

    id: Id
    label: Text
    min: StrictInt | float
    max: StrictInt | float
    source: Source


class Cutoff(StrictModel):
    """A flag raised when the scale's value passes a test (SCL-90: factor mean ≥ 2)."""

    id: Id
    label: Text
    when: Compare
    source: Source


class ScaleKind(StrEnum):
    TOTAL = "total"
    SUBSCALE = "subscale"
    INDEX = "index"  # counts and other derived figures (SCL-90's positive items)
    VALIDITY = "validity"  # lie scales and the like


class Scale(StrictModel):
    """A figure computed from items: ``sum`` (× ``multiplier``), ``mean`` (rounded to
    ``decimals``) or ``count`` (how many items' scores pass ``count_when``)."""

    id: Id
    label: Text
    kind: ScaleKind
    items: tuple[Id, ...] = Field(min_length=1)
    rule: Literal["sum", "mean", "count"]
    multiplier: StrictInt = Field(default=1, ge=1)
    decimals: StrictInt = Field(default=2, ge=0, le=4)
    count_when: Compare | None = None
    bands: tuple[Band, ...] = ()
    cutoffs: tuple[Cutoff, ...] = ()
    source: Source

    @model_validator(mode="after")
    def _rule_parameters(self) -> Scale:
        if (self.rule == "count") != (self.count_when is not None):
            raise ValueError("'count_when' is given exactly when the rule is 'count'")
        if self.multiplier != 1 and self.rule != "sum":
            raise ValueError("'multiplier' applies to the 'sum' rule only")
        return self


class Fallback(StrictModel):
    """The band of a classification when none of its levels holds."""

    id: Id
    label: Text
    source: Source


class TriageLevel(StrictModel):
    """One level of a classification: the first level whose condition holds is the result."""

    band: Id
    label: Text
    when: Condition
    source: Source


class Classification(StrictModel):
    """A band decided by rules on answers rather than by a score (the C-SSRS screener's
    triage). ``otherwise`` is the band when no level holds."""

    id: Id
    label: Text
    levels: tuple[TriageLevel, ...] = Field(min_length=1)
    otherwise: Fallback
    source: Source

    def band_ids(self) -> list[str]:
        return [level.band for level in self.levels] + [self.otherwise.id]


class CriticalRule(StrictModel):
    """Answers that must reach a person whatever the totals say (PHQ-9 item 9 above zero)."""

    id: Id
    label: Text
    when: Condition
    source: Source


class ValidityRule(StrictModel):
    """When ``invalid_when`` holds the sitting is invalid (a lie score too high)."""

    id: Id
    reason: Text
    invalid_when: Condition
    source: Source


class Respondent(StrEnum):
    STUDENT = "student"
    GUARDIAN = "guardian"  # a guardian answers about the student


class GradeBand(StrEnum):
    PRIMARY_LOWER = "primary_lower"  # 小学 1–3 年级
    PRIMARY_UPPER = "primary_upper"  # 小学 4–6 年级
    JUNIOR_SECONDARY = "junior_secondary"  # 初中
    SENIOR_SECONDARY = "senior_secondary"  # 高中 and secondary vocational
    TERTIARY = "tertiary"  # 高校 and higher vocational


class Applicability(StrictModel):
    grade_bands: tuple[GradeBand, ...] = Field(min_length=1)
    min_age: StrictInt | None = Field(default=None, ge=3, le=30)
    max_age: StrictInt | None = Field(default=None, ge=3, le=30)

    @model_validator(mode="after")
    def _ages_in_order(self) -> Applicability:
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError("min_age is above max_age")
        return self


class Licence(StrictModel):
    kind: Literal["free", "licensed"]
    holder: Annotated[str, AfterValidator(_not_blank)]
    terms: str | None = None
    terms_url: Annotated[str, Field(pattern=r"^https://")] | None = None
    # Where the Chinese wording comes from, and whether it still needs checking against the
    # licence holder's authorised translation.
    translation: Annotated[str, AfterValidator(_not_blank)]

    @model_validator(mode="after")
    def _terms_given(self) -> Licence:
        if self.terms is None and self.terms_url is None:
            raise ValueError("give the licence terms, their URL, or both")
        return self


class InstrumentDefinition(StrictModel):
    id: InstrumentId
    version: SemVer
    title: Text
    instructions: Text | None = None
    respondent: Respondent
    applicability: Applicability
    licence: Licence
    references: tuple[Source, ...] = Field(min_length=1)
    option_sets: dict[Id, tuple[Option, ...]] = Field(default_factory=dict)
    items: tuple[Item, ...] = Field(min_length=1)
    scales: tuple[Scale, ...] = ()
    classifications: tuple[Classification, ...] = ()
    critical: tuple[CriticalRule, ...] = ()
    validity: tuple[ValidityRule, ...] = ()
    # The scale or classification whose band is the instrument's headline band, if any.
    primary: Id | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.id, self.version)

    def item(self, item_id: str) -> Item:
        return next(i for i in self.items if i.id == item_id)

    def options_of(self, item: Item) -> tuple[Option, ...]:
        if isinstance(item.options, str):
            return self.option_sets[item.options]
        return item.options

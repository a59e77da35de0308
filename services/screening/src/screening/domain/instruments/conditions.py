"""Conditions on a sitting's answers: skip logic, critical items, validity rules and triage.

A condition is data (a small tree of pydantic models, written in YAML as a mapping whose key
says what it is) and evaluates against a ``Facts`` view of one sitting. Evaluating gives
whether it holds and which items made it hold, so a critical flag can name its items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictInt, Tag, model_validator

Number = StrictInt | float


class StrictModel(BaseModel):
    """Every definition model: unknown keys are errors, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Compare(StrictModel):
    """A test on one number; every bound given must hold (``{ge: 2, lt: 5}`` is 2 ≤ x < 5)."""

    eq: Number | None = None
    ne: Number | None = None
    gt: Number | None = None
    ge: Number | None = None
    lt: Number | None = None
    le: Number | None = None
    in_: tuple[Number, ...] | None = Field(default=None, alias="in", min_length=1)

    @model_validator(mode="after")
    def _one_test_at_least(self) -> Compare:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise ValueError("give at least one of eq, ne, gt, ge, lt, le, in")
        return self

    def test(self, x: float) -> bool:
        return (
            (self.eq is None or x == self.eq)
            and (self.ne is None or x != self.ne)
            and (self.gt is None or x > self.gt)
            and (self.ge is None or x >= self.ge)
            and (self.lt is None or x < self.lt)
            and (self.le is None or x <= self.le)
            and (self.in_ is None or x in self.in_)
        )


class Facts(Protocol):
    """What a condition may ask about a sitting. ``None``: not answered (or hidden)."""

    def answer(self, item_id: str) -> int | None: ...

    def score(self, item_id: str) -> int | None: ...

    def scale(self, scale_id: str) -> float | None: ...


@dataclass(frozen=True)
class Outcome:
    holds: bool
    items: frozenset[str] = frozenset()


_FALSE = Outcome(False)


class ItemCondition(StrictModel):
    """``{item: q2, answer: {eq: 1}}`` (the value given) or ``{item: q9, score: {gt: 0}}``
    (its score, after reverse scoring). An item not answered never satisfies it."""

    item: str
    answer: Compare | None = None
    score: Compare | None = None

    @model_validator(mode="after")
    def _answer_or_score(self) -> ItemCondition:
        if (self.answer is None) == (self.score is None):
            raise ValueError("give exactly one of 'answer' and 'score'")
        return self

    def evaluate(self, facts: Facts) -> Outcome:
        if self.answer is not None:
            value, test = facts.answer(self.item), self.answer
        else:
            assert self.score is not None
            value, test = facts.score(self.item), self.score
        if value is None or not test.test(value):
            return _FALSE
        return Outcome(True, frozenset({self.item}))

    def item_refs(self) -> set[str]:
        return {self.item}

    def scale_refs(self) -> set[str]:
        return set()


class AnyPositive(StrictModel):
    """``{any_positive: [q4, q5]}``: at least one of the items scored above zero."""

    any_positive: tuple[str, ...] = Field(min_length=1)

    def evaluate(self, facts: Facts) -> Outcome:
        positive = frozenset(i for i in self.any_positive if (facts.score(i) or 0) > 0)
        return Outcome(bool(positive), positive)

    def item_refs(self) -> set[str]:
        return set(self.any_positive)

    def scale_refs(self) -> set[str]:
        return set()


class ScaleCondition(StrictModel):
    """``{scale: lie, value: {ge: 7}}``: a test on a computed scale (not allowed in skip logic)."""

    scale: str
    value: Compare

    def evaluate(self, facts: Facts) -> Outcome:
        value = facts.scale(self.scale)
        return Outcome(value is not None and self.value.test(value))

    def item_refs(self) -> set[str]:
        return set()

    def scale_refs(self) -> set[str]:
        return {self.scale}


class AllOf(StrictModel):
    all_: tuple[Condition, ...] = Field(alias="all", min_length=1)

    def evaluate(self, facts: Facts) -> Outcome:
        outcomes = [c.evaluate(facts) for c in self.all_]
        if not all(o.holds for o in outcomes):
            return _FALSE
        return Outcome(True, frozenset().union(*(o.items for o in outcomes)))

    def item_refs(self) -> set[str]:
        return set().union(*(c.item_refs() for c in self.all_))

    def scale_refs(self) -> set[str]:
        return set().union(*(c.scale_refs() for c in self.all_))


class AnyOf(StrictModel):
    any_: tuple[Condition, ...] = Field(alias="any", min_length=1)

    def evaluate(self, facts: Facts) -> Outcome:
        held = [o for o in (c.evaluate(facts) for c in self.any_) if o.holds]
        return Outcome(bool(held), frozenset().union(*(o.items for o in held)))

    def item_refs(self) -> set[str]:
        return set().union(*(c.item_refs() for c in self.any_))

    def scale_refs(self) -> set[str]:
        return set().union(*(c.scale_refs() for c in self.any_))


class Not(StrictModel):
    not_: Condition = Field(alias="not")

    def evaluate(self, facts: Facts) -> Outcome:
        return Outcome(not self.not_.evaluate(facts).holds)

    def item_refs(self) -> set[str]:
        return self.not_.item_refs()

    def scale_refs(self) -> set[str]:
        return self.not_.scale_refs()


_KINDS = {
    "item": ItemCondition,
    "any_positive": AnyPositive,
    "scale": ScaleCondition,
    "all": AllOf,
    "any": AnyOf,
    "not": Not,
}


def _kind(value: Any) -> str | None:
    """Which condition a mapping is, by its distinguishing key (so errors speak of one kind)."""
    if isinstance(value, dict):
        found = [key for key in _KINDS if key in value]
        return found[0] if len(found) == 1 else None
    for key, model in _KINDS.items():
        if isinstance(value, model):
            return key
    return None


Condition = Annotated[
    Annotated[ItemCondition, Tag("item")]
    | Annotated[AnyPositive, Tag("any_positive")]
    | Annotated[ScaleCondition, Tag("scale")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[Not, Tag("not")],
    Discriminator(
        _kind,
        custom_error_type="condition",
        custom_error_message=(
            "a condition is a mapping with exactly one of: item, any_positive, scale, all, any, not"
        ),
    ),
]

for _model in (AllOf, AnyOf, Not):
    _model.model_rebuild()

"""The routing and escalation policy: who is told at which level, how fast they must
acknowledge, and how severe each source and category is. Data (``alerts/policy.yaml`` or a
file named by ``ALERTS_POLICY_PATH``), checked strictly here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts.domain.model import Category, Level, Severity

_DURATION = re.compile(r"^([1-9][0-9]*)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError("a duration is <n>s, <n>m, <n>h or <n>d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepModel(_Strict):
    level: Level
    notify: dict[Level, list[str]] = Field(min_length=1)
    acknowledge_within: str

    @field_validator("acknowledge_within")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("notify")
    @classmethod
    def _roles(cls, value: dict[Level, list[str]]) -> dict[Level, list[str]]:
        for roles in value.values():
            if not roles or any(not re.fullmatch(r"[a-z_]+", role) for role in roles):
                raise ValueError("each level notifies one or more role codes")
        return value


class SeverityModel(_Strict):
    opens_case: bool
    remind_every: str
    steps: list[StepModel] = Field(min_length=1)

    @field_validator("remind_every")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class ScreeningModel(_Strict):
    flagged: Severity
    # Screening's risk level (green, yellow, orange, red) → severity; absent: no alert.
    confirmed: dict[str, Severity]


class UnitsModel(_Strict):
    default: Severity


class PolicyModel(_Strict):
    severities: dict[Severity, SeverityModel]
    category_floor: dict[Category, Severity]
    screening: ScreeningModel
    units: UnitsModel

    @model_validator(mode="after")
    def _complete(self) -> PolicyModel:
        missing = [s.value for s in Severity if s not in self.severities]
        if missing:
            raise ValueError(f"severities without a ladder: {', '.join(missing)}")
        return self


@dataclass(frozen=True)
class Step:
    level: Level
    notify: dict[Level, frozenset[str]]
    acknowledge_within: timedelta


@dataclass(frozen=True)
class Ladder:
    opens_case: bool
    remind_every: timedelta
    steps: tuple[Step, ...]


class Policy:
    def __init__(self, model: PolicyModel) -> None:
        self._model = model
        self.ladders = {
            severity: Ladder(
                opens_case=ladder.opens_case,
                remind_every=parse_duration(ladder.remind_every),
                steps=tuple(
                    Step(
                        level=step.level,
                        notify={level: frozenset(roles) for level, roles in step.notify.items()},
                        acknowledge_within=parse_duration(step.acknowledge_within),
                    )
                    for step in ladder.steps
                ),
            )
            for severity, ladder in model.severities.items()
        }

    @classmethod
    def from_mapping(cls, data: Any) -> Policy:
        return cls(PolicyModel.model_validate(data))

    @classmethod
    def load(cls, path: str | Path | None = None) -> Policy:
        """The file at ``path``, or the policy shipped in the package."""
        if path:
            text = Path(path).read_text(encoding="utf-8")
        else:
            text = resources.files("alerts").joinpath("policy.yaml").read_text(encoding="utf-8")
        return cls.from_mapping(yaml.safe_load(text))

    def ladder(self, severity: Severity) -> Ladder:
        return self.ladders[severity]

    def severity_for(self, category: Category, hint: Severity | None) -> Severity:
        """The category's floor, raised (never lowered) by the reporter's hint."""
        floor = self._model.category_floor.get(category, Severity.LOW)
        return hint if hint is not None and hint.rank > floor.rank else floor

    def unit_severity(self, category: Category, hint: Severity | None) -> Severity:
        return self.severity_for(category, hint or self._model.units.default)

    @property
    def screening_flagged(self) -> Severity:
        return self._model.screening.flagged

    def screening_confirmed(self, risk_level: str) -> Severity | None:
        return self._model.screening.confirmed.get(risk_level)

"""The platform's policy from bands to suggested risk levels, kept as data beside the
instruments (``screening/policy/risk-levels.yaml``). The instruments' authors publish bands;
which colour a band suggests on this platform is the platform's decision, reviewed and
versioned on its own. Nothing here decides a student's final level: people do."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from pydantic import Field

from screening.domain.instruments.conditions import StrictModel
from screening.domain.instruments.model import (
    Id,
    InstrumentDefinition,
    InstrumentId,
    SemVer,
    Source,
)


class RiskLevel(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"

    @property
    def rank(self) -> int:
        return list(RiskLevel).index(self)


def highest(levels: Iterable[RiskLevel]) -> RiskLevel | None:
    return max(levels, key=lambda level: level.rank, default=None)


class InstrumentPolicy(StrictModel):
    # scale or classification id → band id → level; every band of the instrument is mapped.
    bands: dict[Id, dict[Id, RiskLevel]] = Field(default_factory=dict)
    # scale id → cut-off id → level; cut-offs not listed suggest nothing.
    cutoffs: dict[Id, dict[Id, RiskLevel]] = Field(default_factory=dict)
    # critical rule id → the least level a sitting that raises it suggests.
    critical: dict[Id, RiskLevel] = Field(default_factory=dict)


class RiskPolicy(StrictModel):
    version: SemVer
    source: Source
    instruments: dict[InstrumentId, InstrumentPolicy]

    def for_instrument(self, instrument_id: str) -> InstrumentPolicy:
        return self.instruments.get(instrument_id, InstrumentPolicy())


def check_policy(policy: RiskPolicy, definitions: Iterable[InstrumentDefinition]) -> list[str]:
    """Every band and critical rule of every definition has a level, and the policy names
    nothing the definitions lack. Entries for instruments not loaded (a licensed instrument
    this deployment has no definition of) are not checked."""
    problems: list[str] = []
    for d in definitions:
        where = f"instruments.{d.id} (for {d.id} {d.version})"
        if d.id not in policy.instruments:
            problems.append(f"instruments: no entry for '{d.id}'")
            continue
        entry = policy.instruments[d.id]
        banded = {s.id: [b.id for b in s.bands] for s in d.scales if s.bands}
        banded |= {c.id: c.band_ids() for c in d.classifications}
        problems += _compare(f"{where}.bands", banded, entry.bands, every_band=True)
        cut = {s.id: [c.id for c in s.cutoffs] for s in d.scales if s.cutoffs}
        problems += _compare(f"{where}.cutoffs", cut, entry.cutoffs, every_band=False)
        rules = {r.id for r in d.critical}
        problems += [
            f"{where}.critical: no level for '{r}'" for r in sorted(rules - set(entry.critical))
        ]
        problems += [
            f"{where}.critical.{r}: no such rule" for r in sorted(set(entry.critical) - rules)
        ]
    return problems


def _compare(
    where: str,
    defined: dict[str, list[str]],
    mapped: dict[str, dict[str, RiskLevel]],
    *,
    every_band: bool,
) -> list[str]:
    problems = [
        f"{where}.{k}: no scale or classification '{k}'" for k in mapped if k not in defined
    ]
    for owner, ids in defined.items():
        levels = mapped.get(owner, {})
        if every_band:
            problems += [f"{where}.{owner}: no level for '{i}'" for i in ids if i not in levels]
        problems += [f"{where}.{owner}.{i}: not defined" for i in levels if i not in ids]
    return problems

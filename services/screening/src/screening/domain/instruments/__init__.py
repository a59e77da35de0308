"""Instruments as versioned data: the definition format, its checks, loading and the risk
policy. See services/screening/README.md for the format."""

from screening.domain.instruments.conditions import Compare, Condition
from screening.domain.instruments.loading import (
    Catalogue,
    DefinitionError,
    load_policy,
    parse_definition,
)
from screening.domain.instruments.model import InstrumentDefinition, Respondent
from screening.domain.instruments.policy import RiskLevel, RiskPolicy

__all__ = [
    "Catalogue",
    "Compare",
    "Condition",
    "DefinitionError",
    "InstrumentDefinition",
    "Respondent",
    "RiskLevel",
    "RiskPolicy",
    "load_policy",
    "parse_definition",
]

"""The instruments this deployment administers: the shipped catalogue plus licensed
definitions an operator loaded, with their levels, scored by one engine held in memory.

Loading builds a new engine and swaps it in whole, so a sitting being scored never sees half a
catalogue. Another replica's upload is picked up when an unknown instrument is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence

from screening.domain.instruments import (
    Catalogue,
    DefinitionError,
    InstrumentDefinition,
    RiskPolicy,
    parse_definition,
)
from screening.domain.instruments.loading import parse
from screening.domain.instruments.policy import InstrumentPolicy, check_policy
from screening.domain.model import StoredInstrument
from screening.domain.ports import Clock, Store
from screening.domain.scoring import ScoringEngine
from xinyu_core.auth import Principal
from xinyu_core.errors import AlreadyExists, InvalidArgument, NotFound

LOADERS = ("operator",)
MAX_DEFINITION_CHARS = 2_000_000


def _definition_problem(error: DefinitionError, field: str) -> InvalidArgument:
    return InvalidArgument(field, "; ".join(error.problems)[:2000])


def parse_upload(definition: str, policy: str) -> tuple[InstrumentDefinition, InstrumentPolicy]:
    """A definition and its levels as an operator sent them, as strictly as a shipped file."""
    if not definition.strip():
        raise InvalidArgument("definition", "is required")
    if len(definition) > MAX_DEFINITION_CHARS:
        raise InvalidArgument("definition", "is too long")
    try:
        parsed = parse_definition(definition, where="definition")
    except DefinitionError as error:
        raise _definition_problem(error, "definition") from error
    if not policy.strip():
        raise InvalidArgument("policy", "give the levels of the instrument's bands and rules")
    try:
        levels = parse(InstrumentPolicy, policy, where="policy")
    except DefinitionError as error:
        raise _definition_problem(error, "policy") from error
    return parsed, levels


def merged_policy(base: RiskPolicy, levels: dict[str, InstrumentPolicy]) -> RiskPolicy:
    return base.model_copy(update={"instruments": {**base.instruments, **levels}})


class InstrumentShelf:
    def __init__(self, catalogue: Catalogue, policy: RiskPolicy, store: Store, clock: Clock):
        self._base_catalogue = catalogue
        self._base_policy = policy
        self._store = store
        self._clock = clock
        self._loaded: set[tuple[str, str]] = set()
        self.engine = ScoringEngine(catalogue, policy)

    @property
    def catalogue(self) -> Catalogue:
        return self.engine.catalogue

    def _build(self, stored: Sequence[StoredInstrument]) -> ScoringEngine:
        definitions = []
        levels: dict[str, InstrumentPolicy] = {}
        for entry in stored:
            where = f"stored {entry.instrument_id} {entry.version}"
            definition, policy = parse_upload(entry.definition, entry.policy)
            definitions.append((where, definition))
            levels[definition.id] = policy
        catalogue = self._base_catalogue.with_definitions(definitions)
        return ScoringEngine(catalogue, merged_policy(self._base_policy, levels))

    async def refresh(self) -> None:
        """Merges every stored definition (at start, and when an unknown one is asked for)."""
        async with self._store() as repository:
            stored = await repository.stored_instruments()
        keys = {(s.instrument_id, s.version) for s in stored}
        if keys != self._loaded:
            self.engine = self._build(stored)
            self._loaded = keys

    async def definition(self, instrument_id: str, version: str) -> InstrumentDefinition:
        try:
            return self.catalogue.get(instrument_id, version)
        except InvalidArgument:
            await self.refresh()
            return self.catalogue.get(instrument_id, version)

    def list(self) -> list[InstrumentDefinition]:
        return list(self.catalogue)

    async def get(self, instrument_id: str, version: str) -> InstrumentDefinition:
        if not instrument_id:
            raise InvalidArgument("instrument.instrument_id", "is required")
        if not version:
            raise InvalidArgument("instrument.version", "is required")
        try:
            return await self.definition(instrument_id, version)
        except InvalidArgument as error:
            raise NotFound(error.message) from error

    async def load(
        self, principal: Principal, definition: str, policy: str
    ) -> InstrumentDefinition:
        principal.require_any_role(*LOADERS)
        parsed, levels = parse_upload(definition, policy)
        problems = check_policy(merged_policy(self._base_policy, {parsed.id: levels}), [parsed])
        if problems:
            raise InvalidArgument("policy", "; ".join(problems)[:2000])
        if parsed.id in self._base_policy.instruments and parsed.id in self._base_catalogue.ids():
            raise AlreadyExists(f"{parsed.id} is a shipped instrument; ship a new version instead")
        async with self._store() as repository:
            stored = list(await repository.stored_instruments())
            if any((s.instrument_id, s.version) == parsed.key for s in stored):
                raise AlreadyExists(f"{parsed.id} {parsed.version} is loaded already")
            entry = StoredInstrument(
                instrument_id=parsed.id,
                version=parsed.version,
                definition=definition,
                policy=policy,
                loaded_by=principal.subject,
                loaded_at=self._clock(),
            )
            try:
                engine = self._build([*stored, entry])
            except DefinitionError as error:
                raise _definition_problem(error, "definition") from error
            await repository.add_instrument(entry)
        self.engine = engine
        self._loaded = {(s.instrument_id, s.version) for s in [*stored, entry]}
        return parsed

"""Reading definitions and the risk policy from YAML or JSON, strictly, into a catalogue.

Shipped (free) instruments are package data under ``screening/instruments``; the policy is
``screening/policy/risk-levels.yaml``. Licensed instruments are never in the repository: a
deployment that holds a licence loads their definitions from a directory it mounts
(``Catalogue.shipped().with_directory(path)``), in the same format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from screening.domain.instruments.checks import check_definition
from screening.domain.instruments.model import InstrumentDefinition
from screening.domain.instruments.policy import RiskPolicy, check_policy
from xinyu_core.errors import InvalidArgument

SUFFIXES = (".yaml", ".yml", ".json")
M = TypeVar("M", bound=BaseModel)


class DefinitionError(ValueError):
    """A definition or policy file is wrong. Raised at load, never while scoring: a
    deployment with a bad definition must not start."""

    def __init__(self, where: str, problems: list[str]) -> None:
        super().__init__(f"{where}:\n" + "\n".join(f"  {p}" for p in problems))
        self.where = where
        self.problems = problems


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping (PyYAML keeps the last)."""


def _mapping_without_repeats(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice", key_node.start_mark
            )
        seen.add(key)
    return dict(loader.construct_mapping(node))


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"key {repeated[0]!r} appears twice")
    return dict(pairs)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _mapping_without_repeats,
)


def parse(model: type[M], text: str, *, where: str) -> M:
    """Parse YAML (or JSON, which is YAML) into ``model``, every problem naming its path."""
    try:
        if where.endswith(".json"):
            data = json.loads(text, object_pairs_hook=_object_without_repeats)
        else:
            data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    except (yaml.YAMLError, ValueError) as exc:
        raise DefinitionError(where, [f"not readable: {exc}"]) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(where, [_problem(e) for e in exc.errors()]) from exc


def parse_definition(text: str, *, where: str) -> InstrumentDefinition:
    definition = parse(InstrumentDefinition, text, where=where)
    problems = check_definition(definition)
    if problems:
        raise DefinitionError(where, problems)
    return definition


def _problem(error: Mapping[str, Any]) -> str:
    path = ""
    for part in error["loc"]:
        # Pydantic adds the union member it tried ("str", "tuple[Option, ...]",
        # "function-after[...]"); the file has no such key, so those parts are dropped. The
        # tags of conditions ("item", "scale", …) stay: they read as the condition's kind.
        if isinstance(part, int):
            path += f"[{part}]"
        elif not re.search(r"[\[\] ]", str(part)) and part not in _TAGS:
            path += f".{part}" if path else str(part)
    return f"{path or '(top)'}: {error['msg']}"


_TAGS = {"function-after", "constrained-str", "str", "int", "float"}


class Catalogue:
    """Every loaded definition, by id and version. Old versions stay loadable: a result
    names the version it was scored with, and a re-score must use that one."""

    def __init__(self, definitions: Iterable[tuple[str, InstrumentDefinition]] = ()) -> None:
        self._by_key: dict[tuple[str, str], InstrumentDefinition] = {}
        self._where: dict[tuple[str, str], str] = {}
        for where, definition in definitions:
            self._add(where, definition)

    @classmethod
    def shipped(cls) -> Catalogue:
        return cls(_read_all(files("screening") / "instruments"))

    def with_directory(self, directory: Path) -> Catalogue:
        """This catalogue plus the definitions in ``directory`` (licensed instruments)."""
        if not directory.is_dir():
            raise DefinitionError(str(directory), ["not a directory"])
        return self.with_definitions(_read_all(directory))

    def with_definitions(
        self, definitions: Iterable[tuple[str, InstrumentDefinition]]
    ) -> Catalogue:
        """This catalogue plus ``(where, definition)`` pairs read elsewhere (with
        ``parse_definition``), e.g. licensed definitions an operator uploaded and the service
        stored."""
        merged = Catalogue((self._where[key], d) for key, d in self._by_key.items())
        for where, definition in definitions:
            merged._add(where, definition)
        return merged

    def _add(self, where: str, definition: InstrumentDefinition) -> None:
        if definition.key in self._by_key:
            first = self._where[definition.key]
            raise DefinitionError(
                where, [f"{definition.id} {definition.version} is also defined in {first}"]
            )
        self._by_key[definition.key] = definition
        self._where[definition.key] = where

    def __iter__(self) -> Iterator[InstrumentDefinition]:
        return iter(sorted(self._by_key.values(), key=lambda d: (d.id, _version_order(d.version))))

    def __len__(self) -> int:
        return len(self._by_key)

    def ids(self) -> list[str]:
        return sorted({d.id for d in self._by_key.values()})

    def get(self, instrument_id: str, version: str) -> InstrumentDefinition:
        found = self._by_key.get((instrument_id, version))
        if found is not None:
            return found
        versions = [d.version for d in self if d.id == instrument_id]
        if not versions:
            raise InvalidArgument("instrument_id", f"no instrument '{instrument_id}'")
        raise InvalidArgument(
            "instrument_version",
            f"{instrument_id} has no version '{version}' (known: {', '.join(versions)})",
        )

    def latest(self, instrument_id: str) -> InstrumentDefinition:
        versions = [d for d in self if d.id == instrument_id]
        if not versions:
            raise InvalidArgument("instrument_id", f"no instrument '{instrument_id}'")
        return versions[-1]


def load_policy(catalogue: Catalogue, source: Traversable | None = None) -> RiskPolicy:
    """The risk policy (the shipped one unless ``source`` is given), checked against every
    definition in ``catalogue``."""
    source = source or files("screening") / "policy" / "risk-levels.yaml"
    policy = parse(RiskPolicy, source.read_text(encoding="utf-8"), where=str(source))
    problems = check_policy(policy, catalogue)
    if problems:
        raise DefinitionError(str(source), problems)
    return policy


def _read_all(directory: Traversable) -> Iterator[tuple[str, InstrumentDefinition]]:
    for entry in sorted(directory.iterdir(), key=lambda e: e.name):
        if entry.is_file() and entry.name.endswith(SUFFIXES):
            where = str(entry)
            yield where, parse_definition(entry.read_text(encoding="utf-8"), where=where)


def _version_order(version: str) -> tuple[int, int, int, int, str]:
    core, _, pre = version.partition("-")
    major, minor, patch = (int(p) for p in core.split("."))
    # A pre-release sorts before its release.
    return (major, minor, patch, 0 if pre else 1, pre)

"""Licensed instruments loaded by an operator: as strict as shipped ones, stored, merged."""

from __future__ import annotations

import pytest
from fakes import OPERATOR, PSYCH, World

from screening.domain.instruments import Catalogue, RiskLevel, load_policy
from screening.domain.scoring import Submission
from screening.domain.shelf import InstrumentShelf
from xinyu_core.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied

DEFINITION = """
id: mini-licensed
version: 1.0.0
title: {zh-CN: 简短量表}
respondent: student
applicability: {grade_bands: [junior_secondary]}
licence: {kind: licensed, holder: Someone, terms: by contract, translation: the holder's}
references: ["Author A. Title. Journal. 2001;1:1-9."]
option_sets:
  often:
    - {value: 0, score: 0, label: {zh-CN: 从不}}
    - {value: 1, score: 1, label: {zh-CN: 有时}}
    - {value: 2, score: 2, label: {zh-CN: 经常}}
items:
  - {id: q1, text: {zh-CN: 题目一}, options: often}
  - {id: q2, text: {zh-CN: 题目二}, options: often}
scales:
  - id: total
    label: {zh-CN: 总分}
    kind: total
    rule: sum
    items: [q1, q2]
    source: "Author 2001"
    bands:
      - {id: low, label: {zh-CN: 低}, min: 0, max: 2, source: "Author 2001"}
      - {id: high, label: {zh-CN: 高}, min: 3, max: 4, source: "Author 2001"}
critical:
  - {id: q1_often, label: {zh-CN: 经常}, when: {item: q1, score: {ge: 2}}, source: "Author"}
primary: total
"""
POLICY = "bands: {total: {low: green, high: orange}}\ncritical: {q1_often: red}\n"


async def test_an_operator_loads_a_licensed_instrument_that_then_scores() -> None:
    world = World()
    loaded = await world.shelf.load(OPERATOR, DEFINITION, POLICY)
    assert loaded.key == ("mini-licensed", "1.0.0")
    assert "mini-licensed" in world.shelf.catalogue.ids()
    result = world.shelf.engine.score(Submission("mini-licensed", "1.0.0", {"q1": 2, "q2": 2}))
    assert result.suggested_risk is RiskLevel.RED
    assert (await world.shelf.get("mini-licensed", "1.0.0")).key == loaded.key
    # Another replica (a fresh shelf on the same store) picks it up at start or on first ask.
    catalogue = Catalogue.shipped()
    other = InstrumentShelf(catalogue, load_policy(catalogue), world.store, world.clock)
    assert (await other.definition("mini-licensed", "1.0.0")).key == loaded.key
    with pytest.raises(AlreadyExists):
        await world.shelf.load(OPERATOR, DEFINITION, POLICY)


async def test_only_operators_load_and_every_problem_is_named() -> None:
    world = World()
    with pytest.raises(PermissionDenied):
        await world.shelf.load(PSYCH, DEFINITION, POLICY)
    cases = [
        ("", POLICY, "definition"),
        (DEFINITION.replace("max: 2", "max: 1"), POLICY, "definition"),
        (DEFINITION, "", "policy"),
        (DEFINITION, "bands: {total: {low: green}}\ncritical: {q1_often: red}\n", "policy"),
        (DEFINITION, "bands: {total: {low: pink, high: red}}\n", "policy"),
    ]
    for definition, policy, field in cases:
        with pytest.raises(InvalidArgument) as caught:
            await world.shelf.load(OPERATOR, definition, policy)
        assert caught.value.field == field
    with pytest.raises(InvalidArgument, match="gap after 'low'"):
        await world.shelf.load(OPERATOR, DEFINITION.replace("max: 2", "max: 1"), POLICY)
    shipped = DEFINITION.replace("id: mini-licensed", "id: gad-7")
    with pytest.raises(AlreadyExists):
        await world.shelf.load(OPERATOR, shipped, POLICY)
    assert world.t.instruments == []


async def test_unknown_instruments_are_not_found() -> None:
    world = World()
    with pytest.raises(NotFound):
        await world.shelf.get("scl-90", "1.0.0")
    with pytest.raises(InvalidArgument):
        await world.shelf.get("", "1.0.0")

"""A wrong definition is refused at load with every problem named by its path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from screening_support import critical, definition, minimal_definition, q, text

from screening.domain.instruments import Catalogue, DefinitionError, parse_definition
from screening.domain.instruments.policy import RiskPolicy, check_policy


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(json.dumps(data), where="mini.json")
    assert str(caught.value).startswith("mini.json:")
    return caught.value.problems


def band(band_id: str, low: float, high: float) -> dict[str, Any]:
    return {"id": band_id, "label": text(band_id), "min": low, "max": high, "source": "test"}


def with_bands(*bands: dict[str, Any]) -> dict[str, Any]:
    data = minimal_definition()
    data["scales"][0]["bands"] = list(bands)
    return data


def test_the_minimal_definition_is_valid() -> None:
    assert definition(minimal_definition()).id == "mini"


def test_unknown_item_in_a_scale() -> None:
    data = minimal_definition()
    data["scales"][0]["items"] = q(1, 2, 3, 4)
    assert problems_of(data) == ["scales[0].items[3]: no item 'q4'"]


def test_unknown_items_and_scales_in_rules() -> None:
    data = minimal_definition(
        critical=[critical("c", {"item": "q9", "score": {"gt": 0}})],
        validity=[
            {
                "id": "v",
                "reason": text("v"),
                "invalid_when": {"scale": "lie", "value": {"ge": 7}},
                "source": "t",
            }
        ],
    )
    assert problems_of(data) == [
        "critical[0].when: no item 'q9'",
        "validity[0].invalid_when: no scale 'lie'",
    ]


def test_duplicate_ids() -> None:
    data = minimal_definition()
    data["items"].append({"id": "q2", "text": text("again"), "options": "freq"})
    data["scales"][0]["bands"][1]["id"] = "low"
    assert problems_of(data) == [
        "items: 'q2' is defined 2 times",
        "scales[0].bands: 'low' is defined 2 times",
    ]


def test_duplicate_option_values() -> None:
    data = minimal_definition()
    data["option_sets"]["freq"].append({"value": 3, "score": 2, "label": text("again")})
    assert problems_of(data) == ["option_sets.freq values: '3' is defined 2 times"]


def test_overlapping_bands() -> None:
    assert problems_of(with_bands(band("low", 0, 5), band("high", 5, 9))) == [
        "scales[0].bands[1] ('high'): overlaps 'low' (ends at 5, this starts at 5)"
    ]


def test_gapped_bands() -> None:
    assert problems_of(with_bands(band("low", 0, 3), band("high", 5, 9))) == [
        "scales[0].bands[1] ('high'): gap after 'low' (ends at 3, this starts at 5)"
    ]


def test_bands_must_cover_the_whole_range() -> None:
    assert problems_of(with_bands(band("low", 1, 4), band("high", 5, 8))) == [
        "scales[0].bands[0] ('low'): starts at 1, the scale's lowest value is 0",
        "scales[0].bands[1] ('high'): ends at 8, the scale's highest value is 9",
    ]


def test_band_upside_down() -> None:
    assert (
        "min 4 is above max 0" in problems_of(with_bands(band("low", 4, 0), band("high", 5, 9)))[0]
    )


def test_mean_bands_step_by_the_rounding() -> None:
    data = minimal_definition()
    data["scales"][0] |= {"rule": "mean", "decimals": 1}
    data["scales"][0]["bands"] = [band("low", 0, 1.9), band("high", 2, 3)]
    definition(data)
    data["scales"][0]["bands"] = [band("low", 0, 1.8), band("high", 2, 3)]
    assert problems_of(data) == [
        "scales[0].bands[1] ('high'): gap after 'low' (ends at 1.8, this starts at 2)"
    ]


def test_options_missing() -> None:
    data = minimal_definition()
    del data["items"][1]["options"]
    assert problems_of(data) == ["items[1].options: Field required"]
    data = minimal_definition()
    data["items"][2]["options"] = []
    data["option_sets"]["none"] = []
    assert problems_of(data) == ["option_sets.none: no options", "items[2].options: no options"]


def test_unknown_option_set() -> None:
    data = minimal_definition()
    data["items"][0]["options"] = "often"
    assert problems_of(data) == ["items[0].options: no option set 'often'"]


def test_skip_logic_may_look_only_backwards() -> None:
    data = minimal_definition()
    data["items"][0]["show_if"] = {"item": "q2", "answer": {"eq": 1}}
    assert problems_of(data) == [
        "items[0].show_if: 'q2' is not an earlier item"
        " (skip logic may look only at items before this one)"
    ]


def test_scales_count_scored_items_only() -> None:
    data = minimal_definition()
    data["items"][2]["scored"] = False
    assert problems_of(data) == ["scales[0].items[2]: item 'q3' is not scored"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"source": "  "}, "scales[0].source: Value error, must not be blank"),
        ({"colour": "red"}, "scales[0].colour: Extra inputs are not permitted"),
        ({"rule": "median"}, "scales[0].rule: Input should be 'sum', 'mean' or 'count'"),
    ],
)
def test_shape_errors_name_their_path(change: dict[str, Any], expected: str) -> None:
    data = minimal_definition()
    data["scales"][0] |= change
    assert problems_of(data) == [expected]


def test_every_scoring_rule_needs_a_source() -> None:
    data = minimal_definition()
    del data["scales"][0]["bands"][0]["source"]
    assert problems_of(data) == ["scales[0].bands[0].source: Field required"]


def test_a_condition_says_what_it_is() -> None:
    data = minimal_definition(critical=[critical("c", {"items": ["q1"]})])
    (problem,) = problems_of(data)
    assert problem.startswith("critical[0].when: a condition is a mapping with exactly one of")


def test_version_must_be_semantic() -> None:
    assert problems_of(minimal_definition(version="1.0"))[0].startswith(
        "version: String should match"
    )


def test_licence_needs_terms() -> None:
    data = minimal_definition()
    data["licence"] = {"kind": "licensed", "holder": "someone", "translation": "theirs"}
    assert problems_of(data) == ["licence: Value error, give the licence terms, their URL, or both"]


@pytest.mark.parametrize(
    ("where", "content"),
    [
        ("mini.yaml", "id: mini\nversion: 1.0.0\nid: other\n"),
        ("mini.json", '{"id": "a", "id": "b"}'),
    ],
)
def test_key_written_twice(where: str, content: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(content, where=where)
    assert "key 'id' appears twice" in caught.value.problems[0]


def test_a_comparison_needs_a_test() -> None:
    data = minimal_definition(critical=[critical("c", {"item": "q1", "score": {"eq": None}})])
    assert problems_of(data) == [
        "critical[0].when.item.score: Value error, give at least one of eq, ne, gt, ge, lt, le, in"
    ]


def test_same_version_twice_in_a_catalogue(tmp_path: Path) -> None:
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text(json.dumps(minimal_definition()), encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        Catalogue().with_directory(tmp_path)
    assert caught.value.problems == [f"mini 1.0.0 is also defined in {tmp_path / 'a.json'}"]


def test_versions_sort_semantically(tmp_path: Path) -> None:
    for version in ("1.10.0", "1.9.0", "2.0.0-rc.1"):
        (tmp_path / f"{version}.json").write_text(
            json.dumps(minimal_definition(version=version)), encoding="utf-8"
        )
    catalogue = Catalogue().with_directory(tmp_path)
    assert [d.version for d in catalogue] == ["1.9.0", "1.10.0", "2.0.0-rc.1"]
    assert catalogue.latest("mini").version == "2.0.0-rc.1"
    assert catalogue.get("mini", "1.9.0").version == "1.9.0"


def test_policy_must_give_every_band_and_critical_rule_a_level() -> None:
    data = minimal_definition(critical=[critical("c", {"item": "q1", "score": {"gt": 0}})])
    policy = RiskPolicy.model_validate(
        {
            "version": "1.0.0",
            "source": "test",
            "instruments": {"mini": {"bands": {"total": {"low": "green", "middle": "yellow"}}}},
        }
    )
    assert check_policy(policy, [definition(data)]) == [
        "instruments.mini (for mini 1.0.0).bands.total: no level for 'high'",
        "instruments.mini (for mini 1.0.0).bands.total.middle: not defined",
        "instruments.mini (for mini 1.0.0).critical: no level for 'c'",
    ]
    empty = RiskPolicy.model_validate({"version": "1.0.0", "source": "test", "instruments": {}})
    assert check_policy(empty, [definition(data)]) == ["instruments: no entry for 'mini'"]


def test_the_readme_example_is_a_valid_definition() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    example = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    parsed = parse_definition(example, where="README.md")
    assert parsed.key == ("mini-scale", "1.2.0")


def test_options_of_the_wrong_kind() -> None:
    data = minimal_definition()
    data["items"][0]["options"] = 5
    assert problems_of(data)[:2] == [
        "items[0].options: Input should be a valid string",
        "items[0].options: Input should be a valid tuple",
    ]

"""What ships: every definition loads and passes its checks, every scoring rule cites its
source, every item has Chinese text, and the risk policy covers every band."""

from __future__ import annotations

from importlib.resources import files

import pytest
from screening_support import definition, minimal_definition, shipped

from screening.domain.instruments import Catalogue, InstrumentDefinition, Respondent, load_policy
from screening.domain.instruments.checks import check_definition

SHIPPED = ["c-ssrs-screen", "ces-d", "ces-dc", "dass-21", "gad-7", "phq-9", "phq-a"]


def every_definition() -> list[InstrumentDefinition]:
    return list(shipped()[0])


def test_every_shipped_file_loads() -> None:
    catalogue = Catalogue.shipped()
    assert catalogue.ids() == SHIPPED
    names = [e.name for e in (files("screening") / "instruments").iterdir() if e.is_file()]
    assert len(names) == len(catalogue) == len(SHIPPED)
    # The policy checks against the catalogue when it loads.
    assert load_policy(catalogue).version


@pytest.mark.parametrize("d", every_definition(), ids=lambda d: d.id)
def test_definition_passes_its_checks(d: InstrumentDefinition) -> None:
    assert check_definition(d) == []
    assert d.licence.kind == "free"
    assert d.licence.translation.strip()
    assert d.references
    assert d.respondent is Respondent.STUDENT
    assert d.applicability.grade_bands


def sources(d: InstrumentDefinition) -> list[tuple[str, str]]:
    """Every scoring rule, by path, with its citation."""
    found = []
    for s in d.scales:
        found.append((f"scale {s.id}", s.source))
        found += [(f"scale {s.id} band {b.id}", b.source) for b in s.bands]
        found += [(f"scale {s.id} cut-off {c.id}", c.source) for c in s.cutoffs]
    for c in d.classifications:
        found.append((f"classification {c.id}", c.source))
        found += [(f"classification {c.id} level {lv.band}", lv.source) for lv in c.levels]
        found.append((f"classification {c.id} otherwise", c.otherwise.source))
    found += [(f"critical {r.id}", r.source) for r in d.critical]
    found += [(f"validity {r.id}", r.source) for r in d.validity]
    return found


@pytest.mark.parametrize("d", every_definition(), ids=lambda d: d.id)
def test_every_rule_has_a_source(d: InstrumentDefinition) -> None:
    rules = sources(d)
    assert rules, "an instrument that scores nothing"
    # A source names a publication: an author and a year at least.
    unsourced = [path for path, source in rules if not any(ch.isdigit() for ch in source)]
    assert unsourced == []


@pytest.mark.parametrize("d", every_definition(), ids=lambda d: d.id)
def test_every_item_and_option_speaks_chinese(d: InstrumentDefinition) -> None:
    def chinese(s: str) -> bool:
        return any("\u4e00" <= ch <= "\u9fff" for ch in s)

    assert chinese(d.title.zh_cn)
    for item in d.items:
        assert chinese(item.text.zh_cn), item.id
        assert item.text.en, item.id
        for option in d.options_of(item):
            assert chinese(option.label.zh_cn), (item.id, option.value)


def test_the_format_speaks_of_guardians_and_licences_too() -> None:
    data = minimal_definition(respondent="guardian")
    data["licence"] = {
        "kind": "licensed",
        "holder": "a publisher",
        "terms_url": "https://example.org/terms",
        "translation": "the holder's authorised translation",
    }
    parsed = definition(data)
    assert parsed.respondent is Respondent.GUARDIAN
    assert parsed.licence.kind == "licensed"

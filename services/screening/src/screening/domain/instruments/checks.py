"""Checks across the parts of one definition, each problem naming its path in the file
(``scales[2].items[3]: no item 'q31'``). Pydantic has already checked each part's shape."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from decimal import Decimal

from screening.domain.instruments.conditions import Condition
from screening.domain.instruments.model import Band, InstrumentDefinition, Option, Scale


def check_definition(d: InstrumentDefinition) -> list[str]:
    problems: list[str] = []
    problems += _duplicates("items", [i.id for i in d.items])
    problems += _duplicates(
        "scales/classifications", [s.id for s in d.scales] + [c.id for c in d.classifications]
    )
    problems += _duplicates("critical", [r.id for r in d.critical])
    problems += _duplicates("validity", [r.id for r in d.validity])
    for name, options in d.option_sets.items():
        problems += _check_options(f"option_sets.{name}", options)
    problems += _check_items(d)
    item_ids = {i.id for i in d.items}
    scale_ids = {s.id for s in d.scales}
    for n, scale in enumerate(d.scales):
        problems += _check_scale(d, f"scales[{n}]", scale)
    for n, c in enumerate(d.classifications):
        problems += _duplicates(f"classifications[{n}] bands", c.band_ids())
        for m, level in enumerate(c.levels):
            where = f"classifications[{n}].levels[{m}].when"
            problems += _check_refs(where, level.when, item_ids, scale_ids)
    for n, rule in enumerate(d.critical):
        problems += _check_refs(f"critical[{n}].when", rule.when, item_ids, scale_ids)
    for n, v in enumerate(d.validity):
        problems += _check_refs(f"validity[{n}].invalid_when", v.invalid_when, item_ids, scale_ids)
    if d.primary is not None:
        banded = {s.id for s in d.scales if s.bands} | {c.id for c in d.classifications}
        if d.primary not in banded:
            problems.append(f"primary: '{d.primary}' is no scale with bands and no classification")
    return problems


def item_score_range(d: InstrumentDefinition, item_id: str) -> tuple[int, int]:
    scores = [o.score for o in d.options_of(d.item(item_id))]
    return min(scores), max(scores)


def scale_range(d: InstrumentDefinition, scale: Scale) -> tuple[Decimal, Decimal, Decimal]:
    """The lowest and highest value the scale can take with every item answered, and the step
    between neighbouring values that bands must respect."""
    if scale.rule == "count":
        return Decimal(0), Decimal(len(scale.items)), Decimal(1)
    ranges = [item_score_range(d, i) for i in scale.items]
    low, high = sum(r[0] for r in ranges), sum(r[1] for r in ranges)
    if scale.rule == "sum":
        return Decimal(low * scale.multiplier), Decimal(high * scale.multiplier), Decimal(1)
    step = Decimal(1).scaleb(-scale.decimals)
    n = Decimal(len(ranges))
    return (Decimal(low) / n).quantize(step), (Decimal(high) / n).quantize(step), step


def _duplicates(what: str, ids: Iterable[str]) -> list[str]:
    return [f"{what}: '{i}' is defined {n} times" for i, n in Counter(ids).items() if n > 1]


def _check_options(where: str, options: tuple[Option, ...]) -> list[str]:
    if not options:
        return [f"{where}: no options"]
    return _duplicates(f"{where} values", [str(o.value) for o in options])


def _check_items(d: InstrumentDefinition) -> list[str]:
    problems: list[str] = []
    earlier: set[str] = set()
    for n, item in enumerate(d.items):
        where = f"items[{n}]"
        if isinstance(item.options, str):
            if item.options not in d.option_sets:
                problems.append(f"{where}.options: no option set '{item.options}'")
        else:
            problems += _check_options(f"{where}.options", item.options)
        if item.reverse and not item.scored:
            problems.append(f"{where}.reverse: item '{item.id}' is not scored")
        if item.show_if is not None:
            for ref in sorted(item.show_if.item_refs() - earlier):
                problems.append(
                    f"{where}.show_if: '{ref}' is not an earlier item"
                    " (skip logic may look only at items before this one)"
                )
            if item.show_if.scale_refs():
                problems.append(f"{where}.show_if: skip logic may not look at scales")
        earlier.add(item.id)
    return problems


def _check_scale(d: InstrumentDefinition, where: str, scale: Scale) -> list[str]:
    problems = _duplicates(f"{where}.items", scale.items)
    problems += _duplicates(f"{where}.bands", [b.id for b in scale.bands])
    problems += _duplicates(f"{where}.cutoffs", [c.id for c in scale.cutoffs])
    scored = {i.id for i in d.items if i.scored}
    for n, ref in enumerate(scale.items):
        if not any(i.id == ref for i in d.items):
            problems.append(f"{where}.items[{n}]: no item '{ref}'")
        elif ref not in scored:
            problems.append(f"{where}.items[{n}]: item '{ref}' is not scored")
    usable = all(_has_options(d, ref) for ref in scale.items)
    if scale.bands and usable:
        problems += _check_bands(where, scale.bands, *scale_range(d, scale))
    return problems


def _has_options(d: InstrumentDefinition, item_id: str) -> bool:
    item = next((i for i in d.items if i.id == item_id), None)
    if item is None:
        return False
    if isinstance(item.options, str):
        return bool(d.option_sets.get(item.options))
    return bool(item.options)


def _check_bands(
    where: str, bands: tuple[Band, ...], low: Decimal, high: Decimal, step: Decimal
) -> list[str]:
    problems: list[str] = []
    previous: Band | None = None
    for n, band in enumerate(bands):
        at = f"{where}.bands[{n}] ('{band.id}')"
        lo, hi = Decimal(str(band.min)), Decimal(str(band.max))
        if lo > hi:
            problems.append(f"{at}: min {band.min} is above max {band.max}")
        if previous is None:
            if lo != low:
                problems.append(f"{at}: starts at {band.min}, the scale's lowest value is {low}")
        else:
            expected = Decimal(str(previous.max)) + step
            if lo > expected:
                problems.append(
                    f"{at}: gap after '{previous.id}' (ends at {previous.max}, this starts at"
                    f" {band.min})"
                )
            elif lo < expected:
                problems.append(
                    f"{at}: overlaps '{previous.id}' (ends at {previous.max}, this starts at"
                    f" {band.min})"
                )
        previous = band
    if previous is not None and Decimal(str(previous.max)) != high:
        problems.append(
            f"{where}.bands[{len(bands) - 1}] ('{previous.id}'): ends at {previous.max},"
            f" the scale's highest value is {high}"
        )
    return problems


def _check_refs(where: str, cond: Condition, item_ids: set[str], scale_ids: set[str]) -> list[str]:
    problems = [f"{where}: no item '{ref}'" for ref in sorted(cond.item_refs() - item_ids)]
    problems += [f"{where}: no scale '{ref}'" for ref in sorted(cond.scale_refs() - scale_ids)]
    return problems

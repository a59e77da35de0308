"""The hash chain: a stable canonical form, and verification that finds the first bad link."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from identity.audit.chain import (
    GENESIS_HASH,
    HASH_MISMATCH,
    PREV_HASH_MISMATCH,
    SEQ_GAP,
    ChainVerifier,
    canonical,
    chain,
    link_hash,
    verify_chain,
)

from .entries import START, build_chain, entry


def test_the_canonical_form_is_sorted_compact_ascii_json_of_every_column() -> None:
    document = json.loads(canonical(entry(7, actor_roles=("service", "auditor"))))
    assert list(document) == sorted(document)
    assert document["v"] == 1
    assert document["seq"] == 7
    assert document["actor_roles"] == ["auditor", "service"]
    assert document["occurred_at"] == "2026-03-01T08:30:07.000000+00:00"
    assert b" " not in canonical(entry())
    assert canonical(entry(action="/x/王")).isascii()


# Written out by hand, so the test pins the format rather than echoing the implementation.
# If it fails, the canonical form changed and every stored chain with it: change it only
# together with CANONICAL_VERSION and a way to verify records hashed the old way.
KNOWN_CANONICAL = (
    '{"action":"/xinyu.archives.v1.ArchivesService/GetArchive","actor_client_id":"xinyu-web",'
    '"actor_org_unit":"3607020001","actor_roles":["psych_teacher"],'
    '"actor_subject":"0b7c2f7e-5d4e-4a55-8a40-2f1f6c3b9d21",'
    '"event_id":"00000000-0000-0000-0000-000000000001",'
    '"occurred_at":"2026-03-01T08:30:01.000000+00:00","outcome":"DENIED","producer":"archives",'
    '"purpose":"","reason":"permission-denied","recorded_at":"2026-03-01T08:30:01.005000+00:00",'
    '"resource_id":"6f1d2b9e-3c4a-4e8b-9a0d-1b2c3d4e5f60","resource_type":"student","seq":1,'
    '"service":"archives","trace_id":"","v":1}'
)


def test_the_canonical_form_and_hash_of_a_known_record_never_change() -> None:
    assert canonical(entry()) == KNOWN_CANONICAL.encode()
    # sha256("0" * 64 + "\n" + KNOWN_CANONICAL)
    assert link_hash(GENESIS_HASH, entry()) == (
        "dc85979189b2d3c3e535019cb8e9ef1dda66d0bfb5eaa4d9ff81198661a97d6e"
    )


def test_the_same_instant_in_another_zone_hashes_the_same() -> None:
    shanghai = timezone(timedelta(hours=8))
    moved = entry(occurred_at=(START + timedelta(seconds=1)).astimezone(shanghai))
    assert canonical(moved) == canonical(entry())


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        canonical(entry(occurred_at=datetime(2026, 3, 1, 8, 30)))


@pytest.mark.parametrize(
    "change",
    [
        {"resource_id": ""},
        {"outcome": "ALLOWED"},
        {"actor_roles": ("city_admin",)},
        {"seq": 2},
        {"recorded_at": START},
        {"purpose": "crisis"},
    ],
)
def test_every_column_is_in_the_hash(change: dict[str, Any]) -> None:
    assert link_hash(GENESIS_HASH, entry(**change)) != link_hash(GENESIS_HASH, entry())


def test_the_previous_hash_is_in_the_hash() -> None:
    assert link_hash("1" * 64, entry()) != link_hash(GENESIS_HASH, entry())


def test_an_untouched_chain_is_intact_and_reports_its_head() -> None:
    records = build_chain(5)
    report = verify_chain(records)
    assert report.intact
    assert (report.checked, report.head_seq, report.head_hash) == (5, 5, records[-1].hash)
    assert (report.first_broken_seq, report.problem) == (0, "")


def test_an_empty_log_is_intact() -> None:
    report = verify_chain([])
    assert report.intact
    assert (report.checked, report.head_seq, report.head_hash) == (0, 0, GENESIS_HASH)


def test_an_altered_record_is_found() -> None:
    records = build_chain(5)
    records[2] = replace(records[2], entry=replace(records[2].entry, outcome="ALLOWED"))
    report = verify_chain(records)
    assert not report.intact
    assert (report.first_broken_seq, report.problem, report.checked) == (3, HASH_MISMATCH, 2)


def test_an_altered_record_with_a_recomputed_hash_breaks_the_next_link() -> None:
    records = build_chain(5)
    forged = chain(records[1].hash, replace(records[2].entry, resource_id=""))
    records[2] = forged
    report = verify_chain(records)
    assert (report.first_broken_seq, report.problem) == (4, PREV_HASH_MISMATCH)


def test_a_deleted_record_is_found() -> None:
    records = build_chain(5)
    del records[1]
    report = verify_chain(records)
    assert (report.first_broken_seq, report.problem) == (3, SEQ_GAP)


def test_a_deletion_hidden_by_renumbering_is_found() -> None:
    records = build_chain(5)
    del records[1]
    renumbered = [
        replace(record, entry=replace(record.entry, seq=index))
        for index, record in enumerate(records, start=1)
    ]
    report = verify_chain(renumbered)
    assert (report.first_broken_seq, report.problem) == (2, PREV_HASH_MISMATCH)


def test_reordered_records_are_found() -> None:
    records = build_chain(5)
    first, second = records[1], records[2]
    # Swap their places in the chain, keeping each record's seq in order.
    records[1] = replace(second, entry=replace(second.entry, seq=2))
    records[2] = replace(first, entry=replace(first.entry, seq=3))
    report = verify_chain(records)
    assert (report.first_broken_seq, report.problem) == (2, PREV_HASH_MISMATCH)


def test_a_rewritten_history_changes_the_head() -> None:
    # Rewriting every hash from a tampered record on passes verification on its own: only a
    # head hash kept elsewhere (anchoring, see ADR 0008) shows it. The head does change.
    records = build_chain(3)
    forged = [chain(GENESIS_HASH, replace(records[0].entry, outcome="ALLOWED"))]
    for record in records[1:]:
        forged.append(chain(forged[-1].hash, record.entry))
    assert verify_chain(forged).intact
    assert verify_chain(forged).head_hash != verify_chain(records).head_hash


def test_the_verifier_takes_batches_and_stops_at_the_first_break() -> None:
    records = build_chain(6)
    records[4] = replace(records[4], hash="f" * 64)
    verifier = ChainVerifier()
    assert verifier.feed(records[:3])
    assert not verifier.feed(records[3:])
    assert not verifier.feed(build_chain(1))  # nothing more is looked at
    report = verifier.report()
    assert (report.checked, report.head_seq, report.first_broken_seq) == (4, 4, 5)
    assert report.head_hash == records[3].hash


def test_timestamps_keep_their_microseconds() -> None:
    precise = entry(occurred_at=datetime(2026, 3, 1, 8, 30, 0, 123456, tzinfo=UTC))
    assert json.loads(canonical(precise))["occurred_at"].endswith(".123456+00:00")

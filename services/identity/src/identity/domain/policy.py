"""The plan's numbers as named, configurable policy: identity reports against them, it does
not hard-block on them (a class with three girls on its committee still works)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OrganisationPolicy:
    # R7: each class has two boys and two girls on its mental-health committee.
    committee_boys: int = 2
    committee_girls: int = 2
    # R8: a teacher mentors one or two key students.
    max_mentees_per_teacher: int = 2
    # R24: one full-time psychology teacher per 800 students …
    students_per_psych_teacher: int = 800
    # … and at least one full-time teacher in every school above 800 students.
    full_time_required_above: int = 800

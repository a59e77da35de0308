"""What a person's Keycloak account should be, from identity's records. Pure domain.

Roles are the explicit ones recorded on the person (school_admin, county_admin…) plus the ones
their *active* relationships imply: a head teacher of a class holds ``head_teacher`` exactly
while that relationship lasts. Where the account sits (``org_unit`` and its group) is the
person's home unit; a guardian has none, so it is the school of a child they are guardian of.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from identity.domain.accounts import DesiredAccount
from identity.domain.model import Person, PersonKind, Relationship, RelationshipKind

IMPLIED_ROLES = {
    RelationshipKind.HEAD_TEACHER_OF: "head_teacher",
    RelationshipKind.SUBJECT_TEACHER_OF: "subject_teacher",
    RelationshipKind.PSYCH_TEACHER_OF: "psych_teacher",
    RelationshipKind.GUARDIAN_OF: "guardian",
}


@dataclass(frozen=True)
class AccountHome:
    """Where the account belongs: the ``org_unit`` claim and, for the ganzhou › county › school
    tree, the group path (None for departments)."""

    org_unit: str
    group_path: str | None = None


def split_name(full_name: str) -> tuple[str, str]:
    """(given name, family name). Chinese names: the family name is the first character (compound
    surnames such as 欧阳 are rare enough to accept as a known simplification); a name with a
    space is split at the first one, family name first as in Chinese order."""
    name = full_name.strip()
    if " " in name:
        family, _, given = name.partition(" ")
        return given.strip() or family, family
    if len(name) == 1:
        return name, name
    return name[1:], name[0]


def implied_roles(relationships: Iterable[Relationship], on: date) -> frozenset[str]:
    return frozenset(
        IMPLIED_ROLES[r.kind] for r in relationships if r.active_on(on) and r.kind in IMPLIED_ROLES
    )


def desired_account(
    person: Person, relationships: Iterable[Relationship], on: date, home: AccountHome | None
) -> DesiredAccount | None:
    """The account ``person`` should have on day ``on``; None when they should have no usable
    account (a guardian who is no longer anybody's guardian has no unit and no role)."""
    active = [r for r in relationships if r.person_id == person.person_id and r.active_on(on)]
    roles = frozenset(person.roles) | implied_roles(active, on)
    if home is None or (person.kind is PersonKind.GUARDIAN and not roles):
        return None
    given, family = split_name(person.full_name)
    return DesiredAccount(
        username=person.username,
        first_name=given,
        last_name=family,
        org_unit=home.org_unit,
        roles=roles,
        group_path=home.group_path,
    )

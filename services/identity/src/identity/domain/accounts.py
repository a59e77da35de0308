"""People's Keycloak accounts: what identity wants each one to be, and the smallest change that
gets Keycloak there.

Identity owns who a person is (roles, home unit); Keycloak only authenticates them and copies
those facts into tokens (realm roles → ``realm_access.roles``, user attribute ``org_unit`` →
the ``org_unit`` claim). So provisioning is a reconciliation: build the :class:`DesiredAccount`
from identity's records, read the :class:`ActualAccount` from Keycloak, :func:`plan` the
difference and apply only that. Running it again finds nothing to do, which makes retries and
re-imports safe.

Pure domain: no transport. :class:`AccountDirectory` is the port; the Keycloak adapter lives in
``identity.adapters.keycloak``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from xinyu_core.errors import AlreadyExists, InvalidArgument, PermissionDenied

# The realm roles of infra/keycloak/realm-xinyu.json that a person may hold.
PERSON_ROLES = frozenset(
    {
        "student",
        "guardian",
        "head_teacher",
        "subject_teacher",
        "health_committee",
        "psych_teacher",
        "school_admin",
        "county_admin",
        "county_counsellor",
        "city_admin",
        "clinician",
        "police_officer",
        "cyberspace_officer",
        "station_staff",
        "auditor",
        "operator",
    }
)
# `service` marks the platform's own service accounts: every service lets a holder act for the
# platform. It is managed (a sync takes it away from a person) but never granted to one.
SERVICE_ROLE = "service"
MANAGED_ROLES = PERSON_ROLES | {SERVICE_ROLE}

# Roles a relationship implies: never granted explicitly, derived from active relationships.
RELATIONSHIP_ROLES = frozenset({"guardian", "head_teacher", "psych_teacher"})
# Roles an administrator may record on a person, by the administrator's own role: nobody grants
# more than their level holds (a school admin cannot make a county admin).
_SCHOOL_GRANTS = frozenset({"school_admin", "subject_teacher", "health_committee"})
_COUNTY_GRANTS = _SCHOOL_GRANTS | {
    "county_admin",
    "county_counsellor",
    "clinician",
    "police_officer",
    "cyberspace_officer",
    "station_staff",
}
_CITY_GRANTS = _COUNTY_GRANTS | {"city_admin", "auditor", "operator"}
GRANTABLE_BY = {
    "school_admin": _SCHOOL_GRANTS,
    "county_admin": _COUNTY_GRANTS,
    "city_admin": _CITY_GRANTS,
    SERVICE_ROLE: _CITY_GRANTS,
}


def require_grantable(roles: Iterable[str], granter_roles: Iterable[str]) -> tuple[str, ...]:
    """The explicit roles of a person, checked against the realm's roles and against what the
    granting caller (by their own roles) may give."""
    wanted = frozenset(roles)
    if unknown := wanted - PERSON_ROLES:
        raise InvalidArgument("roles", f"not a person's realm role: {sorted(unknown)}")
    if implied := wanted & (RELATIONSHIP_ROLES | {"student"}):
        raise InvalidArgument(
            "roles", f"{sorted(implied)} come from relationships, not from registration"
        )
    allowed: frozenset[str] = frozenset().union(
        *(GRANTABLE_BY.get(role, frozenset()) for role in granter_roles)
    )
    if beyond := wanted - allowed:
        raise PermissionDenied(f"the caller may not grant {sorted(beyond)}")
    return tuple(sorted(wanted))


# The managed part of the group tree: ganzhou › county › school. Groups outside it (if anyone
# adds some by hand) are left alone by a sync.
GROUP_ROOT = "/ganzhou"

# Keycloak lower-cases usernames and e-mails; refusing upper case here keeps identity's records
# and Keycloak's byte-for-byte equal, so a plan never sees a phantom difference.
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
# 6 digits: the city (360700) or a county-level division; 10 digits: a school;
# <department>-<division>[-n]: a department such as police-360702.
_ORG_UNIT = re.compile(r"^(?:\d{6}|\d{10}|[a-z][a-z-]{1,30}-\d{6}(?:-\d{1,4})?)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Keycloak's person-name-prohibited-characters validator. The bulk path (partial import) skips
# Keycloak's user-profile validation, so the same rule is enforced here for both paths.
_PROHIBITED_IN_NAME = re.compile(r"[<>&\"$%!#?§;*~/\\|^=\[\]{}()\x00-\x1f\x7f]")
MAX_NAME_LENGTH = 255


def _require_name(value: str, field_name: str) -> None:
    if not value.strip():
        raise InvalidArgument(field_name, "must not be empty")
    if len(value) > MAX_NAME_LENGTH or _PROHIBITED_IN_NAME.search(value):
        raise InvalidArgument(field_name, "too long or contains a character Keycloak refuses")


def _require_group_path(path: str) -> None:
    parts = path.split("/")
    if not (path == GROUP_ROOT or path.startswith(GROUP_ROOT + "/")) or not all(parts[1:]):
        raise InvalidArgument("group_path", f"must be a path in the {GROUP_ROOT} tree")


@dataclass(frozen=True)
class DesiredAccount:
    """The account a person should have, built from identity's own records.

    ``email`` None means identity does not manage this person's e-mail: a sync then keeps
    whatever Keycloak has (a person may have entered one at first login). ``group_path`` is the
    person's home unit in the ganzhou › county › school tree; departments have none.
    """

    username: str
    first_name: str
    last_name: str
    org_unit: str
    roles: frozenset[str]
    email: str | None = None
    enabled: bool = True
    group_path: str | None = None

    def __post_init__(self) -> None:
        if not _USERNAME.match(self.username):
            raise InvalidArgument(
                "username", "3-64 characters: lower-case letters, digits, '.', '_', '-'"
            )
        _require_name(self.first_name, "first_name")
        _require_name(self.last_name, "last_name")
        if not _ORG_UNIT.match(self.org_unit):
            raise InvalidArgument(
                "org_unit", "a 6-digit division, a 10-digit school or <department>-<code>"
            )
        roles = frozenset(self.roles)
        object.__setattr__(self, "roles", roles)
        if unknown := roles - PERSON_ROLES:
            # Partial import would silently create a missing realm role, so a typo must stop here.
            raise InvalidArgument("roles", f"not a person's realm role: {sorted(unknown)}")
        if self.email is not None:
            email = self.email.lower()
            if len(email) > MAX_NAME_LENGTH or not _EMAIL.match(email):
                raise InvalidArgument("email", "not an e-mail address")
            object.__setattr__(self, "email", email)
        if self.group_path is not None:
            _require_group_path(self.group_path)


@dataclass(frozen=True)
class ActualAccount:
    """An account as Keycloak has it. ``roles`` are the realm roles mapped directly to the user
    (including ones identity does not manage, such as ``default-roles-xinyu``);
    ``attributes`` are all its user attributes, kept so an update never drops one."""

    id: str
    username: str
    first_name: str | None
    last_name: str | None
    email: str | None
    enabled: bool
    org_unit: str | None
    roles: frozenset[str] = frozenset()
    group_paths: frozenset[str] = frozenset()
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def managed_groups(paths: Iterable[str]) -> frozenset[str]:
    return frozenset(p for p in paths if p == GROUP_ROOT or p.startswith(GROUP_ROOT + "/"))


@dataclass(frozen=True)
class AccountPlan:
    """What must change for one account; ``actual`` is None exactly when it must be created.

    The profile fields (names, e-mail, ``org_unit``, enabled) travel in one representation
    update; roles and group memberships each need their own admin call.
    """

    desired: DesiredAccount
    actual: ActualAccount | None
    profile_changes: frozenset[str] = frozenset()
    enable: bool | None = None
    roles_added: frozenset[str] = frozenset()
    roles_removed: frozenset[str] = frozenset()
    groups_joined: frozenset[str] = frozenset()
    groups_left: frozenset[str] = frozenset()

    @property
    def account_id(self) -> str | None:
        return self.actual.id if self.actual else None

    @property
    def create(self) -> bool:
        return self.actual is None

    @property
    def org_unit_changed(self) -> bool:
        return "org_unit" in self.profile_changes

    @property
    def updates_representation(self) -> bool:
        return bool(self.profile_changes) or self.enable is not None

    @property
    def is_empty(self) -> bool:
        return not (
            self.create
            or self.updates_representation
            or self.roles_added
            or self.roles_removed
            or self.groups_joined
            or self.groups_left
        )

    def summary(self) -> str:
        """For logs and reports: field names, role names and unit codes, never a person's name,
        e-mail or username."""
        if self.create:
            return f"create roles={sorted(self.desired.roles)} org_unit={self.desired.org_unit}"
        parts = [f"{name} changed" for name in sorted(self.profile_changes - {"org_unit"})]
        if self.org_unit_changed:
            before = self.actual.org_unit if self.actual else None
            parts.append(f"org_unit {before} -> {self.desired.org_unit}")
        if self.enable is not None:
            parts.append("enable" if self.enable else "disable")
        parts += [f"+role {r}" for r in sorted(self.roles_added)]
        parts += [f"-role {r}" for r in sorted(self.roles_removed)]
        parts += [f"+group {g}" for g in sorted(self.groups_joined)]
        parts += [f"-group {g}" for g in sorted(self.groups_left)]
        return "; ".join(parts) or "nothing"


def plan(desired: DesiredAccount, actual: ActualAccount | None) -> AccountPlan:
    """The smallest change that makes ``actual`` what ``desired`` says. Pure; an empty plan
    (``is_empty``) means the account is already right."""
    if actual is None:
        return AccountPlan(
            desired=desired,
            actual=None,
            roles_added=desired.roles,
            groups_joined=frozenset({desired.group_path}) if desired.group_path else frozenset(),
        )
    if actual.username != desired.username:
        raise InvalidArgument("username", "the plan compares two different accounts")
    changes: set[str] = set()
    if actual.first_name != desired.first_name:
        changes.add("first_name")
    if actual.last_name != desired.last_name:
        changes.add("last_name")
    if desired.email is not None and (actual.email or "").lower() != desired.email:
        changes.add("email")
    if actual.org_unit != desired.org_unit:
        changes.add("org_unit")
    held = actual.roles & MANAGED_ROLES
    in_tree = managed_groups(actual.group_paths)
    wanted_groups = frozenset({desired.group_path}) if desired.group_path else frozenset()
    return AccountPlan(
        desired=desired,
        actual=actual,
        profile_changes=frozenset(changes),
        enable=desired.enabled if actual.enabled != desired.enabled else None,
        roles_added=desired.roles - held,
        roles_removed=held - desired.roles,
        groups_joined=wanted_groups - in_tree,
        groups_left=in_tree - wanted_groups,
    )


@dataclass
class BulkReport:
    """The outcome of a bulk upsert, by username. ``skipped`` existed already and were not
    compared (``reconcile_existing=False``); ``failed`` maps a username to a reason that names
    no personal data."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return (
            len(self.created)
            + len(self.updated)
            + len(self.unchanged)
            + len(self.skipped)
            + len(self.failed)
        )


class AccountDirectory(Protocol):
    """Where people's login accounts live (Keycloak). Implementations are idempotent: ``create``
    of an existing username raises :class:`~xinyu_core.errors.AlreadyExists`, everything else
    may be repeated."""

    async def get(self, username: str) -> ActualAccount | None: ...

    async def create(self, account: DesiredAccount) -> ActualAccount: ...

    async def update(self, change: AccountPlan) -> None:
        """Apply a plan for an existing account: representation (names, e-mail, ``org_unit``,
        enabled), realm roles and group memberships, each only where the plan says so."""
        ...

    async def disable(self, username: str) -> bool:
        """Disable the account and end its sessions. False when there is no such account."""
        ...

    async def bulk_upsert(
        self, accounts: Sequence[DesiredAccount], *, reconcile_existing: bool = True
    ) -> BulkReport:
        """Create the missing accounts in bulk; bring existing ones in line one by one when
        ``reconcile_existing``, else report them as skipped. Never raises for one bad account:
        it lands in ``failed``."""
        ...


async def sync(directory: AccountDirectory, desired: DesiredAccount) -> AccountPlan:
    """Make one account what ``desired`` says and return what was changed (an empty plan when
    nothing was). A second call with the same ``desired`` changes nothing."""
    actual = await directory.get(desired.username)
    change = plan(desired, actual)
    if change.create:
        try:
            await directory.create(desired)
            return change
        except AlreadyExists:
            # Someone created it between our read and our write: compare with what is there.
            actual = await directory.get(desired.username)
            if actual is None:
                # Keycloak refused for another reason it reports as a conflict: the e-mail
                # already belongs to another account.
                raise AlreadyExists("another account already uses this e-mail") from None
            change = plan(desired, actual)
    if not change.is_empty:
        await directory.update(change)
    return change

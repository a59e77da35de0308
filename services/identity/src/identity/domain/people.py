"""Staff, guardians and what they are responsible for, with validity periods."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

from identity.domain.accounts import require_grantable
from identity.domain.model import (
    CITY_CODE,
    Gender,
    Person,
    PersonKind,
    Relationship,
    RelationshipKind,
    school_of_class,
)
from identity.domain.organisation import require_unit_scope
from identity.domain.ports import UnitOfWork, UnitOfWorkFactory
from identity.domain.use_cases import caller_relationships
from xinyu_core.auth import Principal
from xinyu_core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from xinyu_core.scope import require_school_scope

MANAGING_ROLES = ("school_admin", "county_admin", "city_admin", "service")


@dataclass(frozen=True)
class Me:
    principal: Principal
    person: Person | None
    relationships: Sequence[Relationship]


class People:
    def __init__(
        self,
        units: UnitOfWorkFactory,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], UUID] = uuid4,
    ) -> None:
        self._units = units
        self._clock = clock
        self._new_id = new_id

    def _today(self) -> date:
        return self._clock().date()

    async def register(
        self,
        principal: Principal,
        kind: PersonKind,
        username: str,
        full_name: str,
        gender: Gender | None = None,
        home_unit_code: str = "",
        roles: Sequence[str] = (),
    ) -> tuple[Person, bool]:
        """Registers a person, or returns the one already registered under ``username`` with
        its explicit roles set to ``roles``. Either way their Keycloak account is queued for a
        sync in the same transaction."""
        principal.require_any_role(*MANAGING_ROLES)
        granted = require_grantable(roles, principal.roles)
        person = Person(
            person_id=self._new_id(),
            kind=kind,
            username=username,
            full_name=full_name.strip(),
            gender=gender,
            home_unit_code=home_unit_code,
            roles=granted,
        )
        async with self._units() as unit:
            if home_unit_code:
                await _require_unit(unit, principal, home_unit_code)
            existing = await unit.people.by_username(username)
            if existing is not None:
                if (existing.kind, existing.home_unit_code) != (kind, home_unit_code):
                    raise AlreadyExists("username belongs to another person")
                if existing.roles != person.roles:
                    existing = replace(existing, roles=person.roles)
                    await unit.people.set_roles(existing.person_id, existing.roles)
                await unit.people.request_account_sync(existing.person_id)
                return existing, False
            await unit.people.add(person)
            await unit.people.request_account_sync(person.person_id)
            return person, True

    async def assign(self, principal: Principal, wanted: Relationship) -> tuple[Relationship, bool]:
        principal.require_any_role(*MANAGING_ROLES)
        async with self._units() as unit:
            person = await unit.people.by_id(wanted.person_id)
            if person is None:
                raise InvalidArgument("person_id", "no such person")
            is_guardianship = wanted.kind is RelationshipKind.GUARDIAN_OF
            if is_guardianship != (person.kind is PersonKind.GUARDIAN):
                raise InvalidArgument("kind", f"{wanted.kind.value} does not fit a {person.kind}")
            await _require_target_scope(unit, principal, wanted)
            await unit.people.request_account_sync(person.person_id)
            existing = await unit.people.same_relationship(wanted)
            if existing is not None:
                return existing, False
            relationship = replace(wanted, relationship_id=self._new_id())
            await unit.people.add_relationship(relationship)
            return relationship, True

    async def end(self, principal: Principal, relationship_id: str, valid_to: date) -> Relationship:
        principal.require_any_role(*MANAGING_ROLES)
        try:
            wanted = UUID(relationship_id)
        except ValueError as error:
            raise InvalidArgument("relationship_id", "must be a UUID") from error
        async with self._units() as unit:
            relationship = await unit.people.relationship(wanted)
            if relationship is None:
                raise NotFound("no such relationship")
            await _require_target_scope(unit, principal, relationship)
            if relationship.valid_to is not None:
                raise FailedPrecondition("the relationship has already ended")
            if valid_to <= relationship.valid_from:
                raise InvalidArgument("valid_to", "must be after valid_from")
            await unit.people.end_relationship(wanted, valid_to)
            await unit.people.request_account_sync(relationship.person_id)
            return replace(relationship, valid_to=valid_to)

    async def add_committee_member(
        self, principal: Principal, student_id: UUID, valid_from: date
    ) -> tuple[UUID, bool]:
        """R7: committee members are students of the class; the school or the class's head
        teacher appoints them."""
        async with self._units() as unit:
            student = await unit.students.by_id(student_id)
            if student is None:
                raise InvalidArgument("student_id", "no such student")
            if not student.class_code:
                raise FailedPrecondition("the student has no class yet")
            leads_class = principal.has_any_role("head_teacher") and any(
                r.kind is RelationshipKind.HEAD_TEACHER_OF and r.class_code == student.class_code
                for r in await caller_relationships(unit, principal, self._today())
            )
            if not leads_class:
                principal.require_any_role(*MANAGING_ROLES)
                require_school_scope(
                    principal, school_code=student.school_code, county_code=student.county_code
                )
            existing = await unit.people.committee_membership(student_id, valid_from)
            if existing is not None:
                return existing, False
            membership_id = self._new_id()
            await unit.people.add_committee_member(
                membership_id, student_id, student.class_code, valid_from
            )
            return membership_id, True

    async def who_am_i(self, principal: Principal) -> Me:
        async with self._units() as unit:
            person = (
                await unit.people.by_username(principal.username) if principal.username else None
            )
            relationships = (
                await unit.people.relationships_of(person.person_id, self._today())
                if person
                else []
            )
        return Me(principal=principal, person=person, relationships=relationships)


async def _require_unit(unit: UnitOfWork, principal: Principal, code: str) -> None:
    """The caller may manage people of unit ``code`` (city, county, school or department)."""
    if code == CITY_CODE or (len(code) == 6 and code.isdigit()):
        require_unit_scope(principal, code)
        return
    school = await unit.organisation.school(code)
    if school is not None:
        require_unit_scope(principal, code, county_of_school=school.county_code)
        return
    department = await unit.organisation.department(code)
    if department is None:
        raise InvalidArgument("home_unit_code", "no such unit")
    require_unit_scope(principal, department.jurisdiction_code)


async def _require_target_scope(
    unit: UnitOfWork, principal: Principal, relationship: Relationship
) -> None:
    if relationship.student_id is not None:
        student = await unit.students.by_id(relationship.student_id)
        if student is None:
            raise InvalidArgument("student_id", "no such student")
        school_code = student.school_code
    elif relationship.class_code:
        if await unit.organisation.school_class(relationship.class_code) is None:
            raise InvalidArgument("class_code", "no such class")
        school_code = school_of_class(relationship.class_code)
    else:
        school_code = relationship.school_code
    school = await unit.organisation.school(school_code)
    if school is None:
        raise InvalidArgument("school_code", "no such school is registered")
    require_school_scope(principal, school_code=school.school_code, county_code=school.county_code)

"""PostgreSQL adapters for identity's ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import date
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import ColumnElement, and_, any_, func, insert, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.adapters.db.tables import (
    account_sync_requests,
    classes,
    committee_members,
    departments,
    enrolment_changes,
    org_units,
    people,
    relationships,
    school_group_requests,
    schools,
    students,
)
from identity.adapters.messaging.events import OutboxIdentityEvents
from identity.domain.model import (
    CITY_CODE,
    Department,
    DepartmentType,
    Gender,
    Person,
    PersonKind,
    Relationship,
    RelationshipKind,
    School,
    SchoolClass,
    SchoolType,
    Student,
    StudentEntry,
    Transfer,
    grade_code,
)
from identity.domain.ports import CommitteeCount, MenteeCount, PsychTeacherCount
from identity.domain.student_number import StudentNumberProtector
from xinyu_core.messaging import OutboxWriter


def _gender(value: str | None) -> Gender | None:
    return Gender(value) if value else None


def _student(row: Any, numbers: StudentNumberProtector) -> Student:
    return Student(
        student_id=row.student_id,
        student_number=numbers.reveal(row.student_number_cipher),
        full_name=row.full_name,
        school_code=row.school_code,
        county_code=row.county_code,
        enrolled_at=row.enrolled_at,
        gender=_gender(row.gender),
        birth_date=row.birth_date,
        resident_id_hash=row.resident_id_hash or "",
        resident_id_masked=row.resident_id_masked or "",
        class_code=row.class_code or "",
        status=row.status,
    )


class SqlStudents:
    def __init__(self, session: AsyncSession, numbers: StudentNumberProtector) -> None:
        self._session = session
        self._numbers = numbers

    async def by_number(self, student_number: str) -> Student | None:
        wanted = self._numbers.keyed_hash(student_number)
        query = select(students).where(students.c.student_number_hash == wanted)
        row = (await self._session.execute(query)).first()
        return _student(row, self._numbers) if row else None

    async def by_numbers(self, student_numbers: Sequence[str]) -> Mapping[str, Student]:
        if not student_numbers:
            return {}
        wanted = {self._numbers.keyed_hash(number): number for number in student_numbers}
        query = select(students).where(students.c.student_number_hash.in_(list(wanted)))
        return {
            wanted[row.student_number_hash]: _student(row, self._numbers)
            for row in await self._session.execute(query)
        }

    async def by_ids(self, student_ids: Sequence[UUID]) -> Sequence[Student]:
        if not student_ids:
            return []
        query = select(students).where(students.c.student_id.in_(list(student_ids)))
        return [_student(row, self._numbers) for row in await self._session.execute(query)]

    async def by_resident_id_hashes(self, keyed_hashes: Sequence[str]) -> Sequence[Student]:
        if not keyed_hashes:
            return []
        ranked = (
            select(
                students,
                func.row_number()
                .over(partition_by=students.c.resident_id_hash, order_by=students.c.student_id)
                .label("nth"),
            )
            .where(students.c.resident_id_hash.in_(list(keyed_hashes)))
            .subquery()
        )
        query = select(ranked).where(ranked.c.nth <= 2)
        return [_student(row, self._numbers) for row in await self._session.execute(query)]

    async def by_id(self, student_id: UUID) -> Student | None:
        query = select(students).where(students.c.student_id == student_id)
        row = (await self._session.execute(query)).first()
        return _student(row, self._numbers) if row else None

    async def add(self, student: Student) -> None:
        number = self._numbers.protect(student.student_number)
        await self._session.execute(
            insert(students).values(
                student_id=student.student_id,
                student_number_hash=number.keyed_hash,
                student_number_cipher=number.cipher,
                student_number_masked=number.masked,
                full_name=student.full_name,
                gender=student.gender.value if student.gender else None,
                birth_date=student.birth_date,
                resident_id_hash=student.resident_id_hash or None,
                resident_id_masked=student.resident_id_masked or None,
                school_code=student.school_code,
                county_code=student.county_code,
                class_code=student.class_code or None,
                enrolled_at=student.enrolled_at,
            )
        )

    async def move(self, student: Student, transfer: Transfer, county_code: str) -> Student:
        await self._session.execute(
            update(students)
            .where(students.c.student_id == student.student_id)
            .values(
                school_code=transfer.to_school_code,
                county_code=county_code,
                class_code=transfer.to_class_code or None,
                updated_at=func.now(),
            )
        )
        await self._session.execute(
            insert(enrolment_changes).values(
                change_id=uuid4(),
                student_id=student.student_id,
                kind=transfer.kind.value,
                from_school_code=student.school_code,
                to_school_code=transfer.to_school_code,
                from_class_code=student.class_code or None,
                to_class_code=transfer.to_class_code or None,
                effective_on=transfer.effective_on,
            )
        )
        moved = await self.by_id(student.student_id)
        assert moved is not None
        return moved

    async def entries(
        self, *, school_code: str, class_code: str, after: UUID | None, limit: int
    ) -> Sequence[StudentEntry]:
        query = (
            select(
                students.c.student_id,
                students.c.full_name,
                students.c.school_code,
                students.c.county_code,
                students.c.class_code,
                classes.c.cohort,
                students.c.gender,
                students.c.birth_date,
            )
            .select_from(students.outerjoin(classes, classes.c.class_code == students.c.class_code))
            .where(students.c.school_code == school_code, students.c.status == "enrolled")
            .order_by(students.c.student_id)
            .limit(limit)
        )
        if class_code:
            query = query.where(students.c.class_code == class_code)
        if after is not None:
            query = query.where(students.c.student_id > after)
        return [
            StudentEntry(
                student_id=row.student_id,
                full_name=row.full_name,
                school_code=row.school_code,
                county_code=row.county_code,
                class_code=row.class_code or "",
                cohort=row.cohort or 0,
                gender=_gender(row.gender),
                birth_date=row.birth_date,
            )
            for row in await self._session.execute(query)
        ]

    async def counts(
        self, *, group_by: str, within: str, cohorts: Sequence[int], school_codes: Sequence[str]
    ) -> Sequence[tuple[str, int]]:
        unit_column = {
            "county_code": students.c.county_code,
            "school_code": students.c.school_code,
            "class_code": students.c.class_code,
        }[group_by]
        child = func.coalesce(unit_column, "")
        query = select(child, func.count()).where(students.c.status == "enrolled")
        if within != CITY_CODE:
            parent = students.c.school_code if group_by == "class_code" else students.c.county_code
            query = query.where(parent == within)
        if school_codes:
            query = query.where(students.c.school_code.in_(list(school_codes)))
        if cohorts:
            query = query.join(classes, classes.c.class_code == students.c.class_code).where(
                classes.c.cohort.in_(list(cohorts))
            )
        rows = await self._session.execute(query.group_by(child).order_by(child))
        return [(str(code), int(count)) for code, count in rows]


def _school(row: Any) -> School:
    return School(
        school_code=row.school_code,
        name=row.name,
        county_code=row.county_code,
        school_type=SchoolType(row.school_type),
        enrolment=row.enrolment,
        has_counselling_station=row.has_counselling_station,
        has_hotline=row.has_hotline,
        has_counsellor=row.has_counsellor,
        is_specialty_school=row.is_specialty_school,
    )


_SCHOOL_COLUMNS = (
    schools.c.school_code,
    org_units.c.name,
    org_units.c.county_code,
    schools.c.school_type,
    schools.c.enrolment,
    schools.c.has_counselling_station,
    schools.c.has_hotline,
    schools.c.has_counsellor,
    schools.c.is_specialty_school,
)


class SqlOrganisation:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def _schools(self) -> Any:
        return select(*_SCHOOL_COLUMNS).join(org_units, org_units.c.code == schools.c.school_code)

    async def school(self, school_code: str) -> School | None:
        query = self._schools().where(schools.c.school_code == school_code)
        row = (await self._session.execute(query)).first()
        return _school(row) if row else None

    async def save_school(self, school: School) -> None:
        unit = pg_insert(org_units).values(
            code=school.school_code,
            kind="school",
            name=school.name,
            parent_code=school.county_code,
            county_code=school.county_code,
            school_code=school.school_code,
        )
        await self._session.execute(
            unit.on_conflict_do_update(
                index_elements=[org_units.c.code], set_={"name": school.name}
            )
        )
        values = {
            "school_type": school.school_type.value,
            "enrolment": school.enrolment,
            "has_counselling_station": school.has_counselling_station,
            "has_hotline": school.has_hotline,
            "has_counsellor": school.has_counsellor,
            "is_specialty_school": school.is_specialty_school,
        }
        statement = pg_insert(schools).values(school_code=school.school_code, **values)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[schools.c.school_code],
                set_={**values, "updated_at": func.now()},
            )
        )
        # Its group in Keycloak (/ganzhou/<county>/<school>) is created by the account sync
        # worker; the request commits with the registration, so none is missed.
        await self._session.execute(
            pg_insert(school_group_requests)
            .values(school_code=school.school_code)
            .on_conflict_do_nothing(index_elements=[school_group_requests.c.school_code])
        )

    async def schools_in(self, org_unit: str, after: str, limit: int) -> Sequence[School]:
        query = self._schools().where(schools.c.school_code > after)
        if org_unit != CITY_CODE:
            query = query.where(org_units.c.county_code == org_unit)
        query = query.order_by(schools.c.school_code).limit(limit)
        return [_school(row) for row in await self._session.execute(query)]

    async def department(self, code: str) -> Department | None:
        query = (
            select(departments, org_units.c.name)
            .join(org_units, org_units.c.code == departments.c.code)
            .where(departments.c.code == code)
        )
        row = (await self._session.execute(query)).first()
        if row is None:
            return None
        return Department(
            code=row.code,
            name=row.name,
            department_type=DepartmentType(row.department_type),
            jurisdiction_code=row.jurisdiction_code,
        )

    async def add_department(self, department: Department) -> None:
        await self._session.execute(
            insert(org_units).values(
                code=department.code,
                kind="department",
                name=department.name,
                parent_code=department.jurisdiction_code,
                county_code=(
                    None
                    if department.jurisdiction_code == CITY_CODE
                    else department.jurisdiction_code
                ),
            )
        )
        await self._session.execute(
            insert(departments).values(
                code=department.code,
                department_type=department.department_type.value,
                jurisdiction_code=department.jurisdiction_code,
            )
        )

    async def school_class(self, class_code: str) -> SchoolClass | None:
        query = select(classes).where(classes.c.class_code == class_code)
        row = (await self._session.execute(query)).first()
        if row is None:
            return None
        return SchoolClass(row.class_code, row.school_code, row.cohort, row.number)

    async def add_class(self, school_class: SchoolClass) -> None:
        county = (
            await self._session.execute(
                select(org_units.c.county_code).where(org_units.c.code == school_class.school_code)
            )
        ).scalar_one()
        grade = grade_code(school_class.school_code, school_class.cohort)
        await self._session.execute(
            pg_insert(org_units)
            .values(
                code=grade,
                kind="grade",
                name=f"{school_class.cohort}级",
                parent_code=school_class.school_code,
                county_code=county,
                school_code=school_class.school_code,
            )
            .on_conflict_do_nothing(index_elements=[org_units.c.code])
        )
        await self._session.execute(
            insert(org_units).values(
                code=school_class.class_code,
                kind="class",
                name=school_class.name,
                parent_code=grade,
                county_code=county,
                school_code=school_class.school_code,
            )
        )
        await self._session.execute(
            insert(classes).values(
                class_code=school_class.class_code,
                school_code=school_class.school_code,
                cohort=school_class.cohort,
                number=school_class.number,
            )
        )

    async def unit_exists(self, code: str) -> bool:
        query = select(org_units.c.code).where(org_units.c.code == code)
        return (await self._session.execute(query)).first() is not None


def _person(row: Any) -> Person:
    return Person(
        person_id=row.person_id,
        kind=PersonKind(row.kind),
        username=row.username,
        full_name=row.full_name,
        gender=_gender(row.gender),
        home_unit_code=row.home_unit_code or "",
        roles=tuple(row.roles or ()),
    )


def _relationship(row: Any) -> Relationship:
    return Relationship(
        relationship_id=row.relationship_id,
        person_id=row.person_id,
        kind=RelationshipKind(row.kind),
        valid_from=row.valid_from,
        student_id=row.student_id,
        class_code=row.class_code or "",
        school_code=row.school_code or "",
        full_time=bool(row.full_time),
        subject=row.subject or "",
        valid_to=row.valid_to,
    )


def _active_on(table: Any, day: date) -> ColumnElement[bool]:
    return and_(table.c.valid_from <= day, or_(table.c.valid_to.is_(None), table.c.valid_to > day))


class SqlPeople:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_username(self, username: str) -> Person | None:
        row = (
            await self._session.execute(select(people).where(people.c.username == username))
        ).first()
        return _person(row) if row else None

    async def by_id(self, person_id: UUID) -> Person | None:
        row = (
            await self._session.execute(select(people).where(people.c.person_id == person_id))
        ).first()
        return _person(row) if row else None

    async def add(self, person: Person) -> None:
        await self._session.execute(
            insert(people).values(
                person_id=person.person_id,
                kind=person.kind.value,
                username=person.username,
                full_name=person.full_name,
                gender=person.gender.value if person.gender else None,
                home_unit_code=person.home_unit_code or None,
                roles=list(person.roles),
            )
        )

    async def set_roles(self, person_id: UUID, roles: Sequence[str]) -> None:
        await self._session.execute(
            update(people).where(people.c.person_id == person_id).values(roles=list(roles))
        )

    async def request_account_sync(self, person_id: UUID) -> None:
        # A new request is due now and starts counting attempts afresh; one that is being
        # synced gets a new requested_at, so the worker's delete (which names the requested_at
        # it claimed) leaves it for the next pass.
        statement = pg_insert(account_sync_requests).values(person_id=person_id)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[account_sync_requests.c.person_id],
                set_={
                    "requested_at": func.clock_timestamp(),
                    "next_attempt_at": func.now(),
                    "attempts": 0,
                    "last_error_code": None,
                },
            )
        )

    async def relationship(self, relationship_id: UUID) -> Relationship | None:
        query = select(relationships).where(relationships.c.relationship_id == relationship_id)
        row = (await self._session.execute(query)).first()
        return _relationship(row) if row else None

    async def same_relationship(self, relationship: Relationship) -> Relationship | None:
        query = select(relationships).where(
            relationships.c.person_id == relationship.person_id,
            relationships.c.kind == relationship.kind.value,
            relationships.c.valid_to.is_(None),
            relationships.c.student_id.is_not_distinct_from(relationship.student_id),
            relationships.c.class_code.is_not_distinct_from(relationship.class_code or None),
            relationships.c.school_code.is_not_distinct_from(relationship.school_code or None),
        )
        row = (await self._session.execute(query)).first()
        return _relationship(row) if row else None

    async def relationships_to(
        self,
        *,
        student_ids: Sequence[UUID],
        class_codes: Sequence[str],
        school_codes: Sequence[str],
        on: date,
    ) -> Sequence[Relationship]:
        targets = []
        if student_ids:
            targets.append(relationships.c.student_id.in_(list(student_ids)))
        if class_codes:
            targets.append(relationships.c.class_code.in_(list(class_codes)))
        if school_codes:
            targets.append(relationships.c.school_code.in_(list(school_codes)))
        if not targets:
            return []
        query = select(relationships).where(or_(*targets), _active_on(relationships, on))
        return [_relationship(row) for row in await self._session.execute(query)]

    async def by_ids(self, person_ids: Sequence[UUID]) -> Sequence[Person]:
        if not person_ids:
            return []
        query = select(people).where(people.c.person_id.in_(list(person_ids)))
        return [_person(row) for row in await self._session.execute(query)]

    async def holding_roles(
        self, home_unit_codes: Sequence[str], roles: Sequence[str]
    ) -> Sequence[Person]:
        if not home_unit_codes or not roles:
            return []
        query = select(people).where(
            people.c.home_unit_code.in_(list(home_unit_codes)),
            or_(*(literal(role) == any_(people.c.roles) for role in roles)),
        )
        return [_person(row) for row in await self._session.execute(query)]

    async def relationships_of(self, person_id: UUID, on: date) -> Sequence[Relationship]:
        query = select(relationships).where(
            relationships.c.person_id == person_id, _active_on(relationships, on)
        )
        return [_relationship(row) for row in await self._session.execute(query)]

    async def add_relationship(self, relationship: Relationship) -> None:
        await self._session.execute(
            insert(relationships).values(
                relationship_id=relationship.relationship_id,
                person_id=relationship.person_id,
                kind=relationship.kind.value,
                student_id=relationship.student_id,
                class_code=relationship.class_code or None,
                school_code=relationship.school_code or None,
                full_time=relationship.full_time
                if relationship.kind is RelationshipKind.PSYCH_TEACHER_OF
                else None,
                subject=relationship.subject or None,
                valid_from=relationship.valid_from,
                valid_to=relationship.valid_to,
            )
        )

    async def end_relationship(self, relationship_id: UUID, valid_to: date) -> None:
        await self._session.execute(
            update(relationships)
            .where(relationships.c.relationship_id == relationship_id)
            .values(valid_to=valid_to)
        )

    async def committee_membership(self, student_id: UUID, on: date) -> UUID | None:
        query = select(committee_members.c.membership_id).where(
            committee_members.c.student_id == student_id, _active_on(committee_members, on)
        )
        found = (await self._session.execute(query)).scalar()
        return found if isinstance(found, UUID) else None

    async def add_committee_member(
        self, membership_id: UUID, student_id: UUID, class_code: str, valid_from: date
    ) -> None:
        await self._session.execute(
            insert(committee_members).values(
                membership_id=membership_id,
                student_id=student_id,
                class_code=class_code,
                valid_from=valid_from,
            )
        )


def _in_scope(school_code_column: Any, org_unit: str) -> ColumnElement[bool]:
    """Restricts a query to a school, a county (via org_units) or, for the city, nothing."""
    condition: ColumnElement[bool]
    if org_unit == CITY_CODE:
        condition = school_code_column.is_not(None)
    elif len(org_unit) == 6:
        in_county = select(org_units.c.code).where(
            org_units.c.kind == "school", org_units.c.county_code == org_unit
        )
        condition = school_code_column.in_(in_county)
    else:
        condition = school_code_column == org_unit
    return condition


class SqlReports:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def committee_counts(self, org_unit: str, on: date) -> Sequence[CommitteeCount]:
        members = (
            select(
                committee_members.c.class_code,
                func.count().filter(students.c.gender == "male").label("boys"),
                func.count().filter(students.c.gender == "female").label("girls"),
            )
            .join(students, students.c.student_id == committee_members.c.student_id)
            .where(_active_on(committee_members, on))
            .group_by(committee_members.c.class_code)
            .subquery()
        )
        query = (
            select(
                classes.c.class_code,
                func.coalesce(members.c.boys, 0),
                func.coalesce(members.c.girls, 0),
            )
            .outerjoin(members, members.c.class_code == classes.c.class_code)
            .where(_in_scope(classes.c.school_code, org_unit))
            .order_by(classes.c.class_code)
        )
        return [
            CommitteeCount(class_code=code, boys=int(boys), girls=int(girls))
            for code, boys, girls in await self._session.execute(query)
        ]

    async def mentee_counts(self, org_unit: str, on: date) -> Sequence[MenteeCount]:
        query = (
            select(people.c.person_id, people.c.full_name, func.count())
            .join(relationships, relationships.c.person_id == people.c.person_id)
            .join(students, students.c.student_id == relationships.c.student_id)
            .where(
                relationships.c.kind == RelationshipKind.MENTOR_OF.value,
                _active_on(relationships, on),
                _in_scope(students.c.school_code, org_unit),
            )
            .group_by(people.c.person_id, people.c.full_name)
            .order_by(people.c.person_id)
        )
        return [
            MenteeCount(person_id=person_id, full_name=name, mentees=int(count))
            for person_id, name, count in await self._session.execute(query)
        ]

    async def psych_teacher_counts(self, org_unit: str, on: date) -> Sequence[PsychTeacherCount]:
        teachers = relationships.alias("teachers")
        active = and_(
            teachers.c.kind == RelationshipKind.PSYCH_TEACHER_OF.value,
            teachers.c.valid_from <= on,
            or_(teachers.c.valid_to.is_(None), teachers.c.valid_to > on),
        )
        query = (
            select(
                schools.c.school_code,
                schools.c.enrolment,
                func.count(teachers.c.relationship_id).filter(teachers.c.full_time.is_(True)),
                func.count(teachers.c.relationship_id).filter(teachers.c.full_time.is_(False)),
            )
            .outerjoin(teachers, and_(teachers.c.school_code == schools.c.school_code, active))
            .where(_in_scope(schools.c.school_code, org_unit))
            .group_by(schools.c.school_code, schools.c.enrolment)
            .order_by(schools.c.school_code)
        )
        return [
            PsychTeacherCount(
                school_code=code, enrolment=int(enrolment), full_time=int(ft), part_time=int(pt)
            )
            for code, enrolment, ft, pt in await self._session.execute(query)
        ]


class SqlUnitOfWork:
    def __init__(
        self, session: AsyncSession, outbox: OutboxWriter, numbers: StudentNumberProtector
    ) -> None:
        self.students = SqlStudents(session, numbers)
        self.organisation = SqlOrganisation(session)
        self.people = SqlPeople(session)
        self.reports = SqlReports(session)
        self.events = OutboxIdentityEvents(session, outbox)


class SqlUnitOfWorkFactory:
    """One transaction per use case: state and its events commit together or not at all."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: OutboxWriter,
        numbers: StudentNumberProtector,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._numbers = numbers

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[SqlUnitOfWork]:
        async with self._sessions() as session, session.begin():
            yield SqlUnitOfWork(session, self._outbox, self._numbers)

"""ListResponders' queries against PostgreSQL: relationships to the student, their class and
their school, and roles recorded on people at the school and the county."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from sqlalchemy import event
from throwaway import COUNTY, OTHER_SCHOOL, SCHOOL, two_school_schema

from identity.adapters.db.repository import SqlUnitOfWorkFactory
from identity.adapters.db.tables import outbox
from identity.domain.model import (
    Gender,
    Person,
    PersonKind,
    Relationship,
    RelationshipKind,
    Student,
)
from identity.domain.organisation import Organisation
from identity.domain.resident_id import ResidentIdProtector
from identity.domain.responders import Responder, ResponderDirectory
from identity.domain.student_number import StudentNumberProtector
from xinyu_core.crypto import FieldCipher
from xinyu_core.db import make_session_factory
from xinyu_core.messaging import OutboxWriter
from xinyu_core.testing import principal

pytestmark = pytest.mark.integration

NUMBERS = StudentNumberProtector(
    ResidentIdProtector(b"responders-test-key-0123456789"), FieldCipher(bytes(range(32)))
)


async def test_responders_come_from_relationships_and_recorded_roles() -> None:
    async with two_school_schema("responders") as schema:
        units = SqlUnitOfWorkFactory(
            make_session_factory(schema.engine), OutboxWriter(outbox), NUMBERS
        )
        city = principal("city_admin", org_unit="360700")
        mine, _ = await Organisation(units).create_class(city, SCHOOL, 2024, 1)
        theirs, _ = await Organisation(units).create_class(city, OTHER_SCHOOL, 2024, 1)
        student = Student(
            uuid4(), "G360702201401011234", "学生", SCHOOL, COUNTY,
            datetime(2026, 9, 1, tzinfo=UTC), Gender.MALE, class_code=mine.class_code,
        )  # fmt: skip
        people = {
            name: Person(
                uuid4(),
                PersonKind.GUARDIAN if name == "guardian.a" else PersonKind.STAFF,
                name,
                name,
                home_unit_code={"guardian.a": "", "county.c": COUNTY}.get(name, SCHOOL),
                roles={"admin.a": ("school_admin",), "county.c": ("county_counsellor",)}.get(
                    name, ()
                ),
            )
            for name in ("head.a", "guardian.a", "psych.a", "admin.a", "county.c", "head.b")
        }
        async with units() as unit:
            await unit.students.add(student)
            for who in people.values():
                await unit.people.add(who)
            for name, kind, target in (
                ("head.a", RelationshipKind.HEAD_TEACHER_OF, {"class_code": mine.class_code}),
                ("guardian.a", RelationshipKind.GUARDIAN_OF, {"student_id": student.student_id}),
                ("psych.a", RelationshipKind.PSYCH_TEACHER_OF, {"school_code": SCHOOL}),
                ("head.b", RelationshipKind.HEAD_TEACHER_OF, {"class_code": theirs.class_code}),
            ):
                await unit.people.add_relationship(
                    Relationship(uuid4(), people[name].person_id, kind, date(2026, 8, 1), **target)  # type: ignore[arg-type]
                )
        directory = ResponderDirectory(units, clock=lambda: datetime(2026, 10, 1, tzinfo=UTC))

        _, responders = await directory.responders(principal("service"), str(student.student_id))

        assert {(r.level.value, r.role, r.person.username) for r in responders} == {
            ("class", "head_teacher", "head.a"),
            ("family", "guardian", "guardian.a"),
            ("school", "psych_teacher", "psych.a"),
            ("school", "school_admin", "admin.a"),
            ("county", "county_counsellor", "county.c"),
        }


async def test_a_batch_resolves_every_student_in_five_statements() -> None:
    """BatchListResponders' queries: the students, the relationships to all of them, their
    classes and schools, the people related, and the officials of all their schools and
    counties, one statement each however many students; each answer is ListResponders'."""
    async with two_school_schema("batchresponders") as schema:
        units = SqlUnitOfWorkFactory(
            make_session_factory(schema.engine), OutboxWriter(outbox), NUMBERS
        )
        city = principal("city_admin", org_unit="360700")
        mine, _ = await Organisation(units).create_class(city, SCHOOL, 2024, 1)
        theirs, _ = await Organisation(units).create_class(city, OTHER_SCHOOL, 2024, 1)
        students = [
            Student(
                uuid4(), f"G3607022014010{n:04d}", f"学生{n}",
                SCHOOL if n % 2 else OTHER_SCHOOL, COUNTY, datetime(2026, 9, 1, tzinfo=UTC),
                Gender.MALE, class_code=(mine if n % 2 else theirs).class_code,
            )
            for n in range(60)
        ]  # fmt: skip
        names = ("head.a", "head.b", "psych.a", "admin.b", "county.c", "guardian.0", "guardian.1")
        people = {
            name: Person(
                uuid4(),
                PersonKind.GUARDIAN if name.startswith("guardian") else PersonKind.STAFF,
                name,
                name,
                home_unit_code={"admin.b": OTHER_SCHOOL, "county.c": COUNTY}.get(name, SCHOOL),
                roles={"admin.b": ("school_admin",), "county.c": ("county_admin",)}.get(name, ()),
            )
            for name in names
        }
        async with units() as unit:
            for each in students:
                await unit.students.add(each)
            for who in people.values():
                await unit.people.add(who)
            for name, kind, target in (
                ("head.a", RelationshipKind.HEAD_TEACHER_OF, {"class_code": mine.class_code}),
                ("head.b", RelationshipKind.HEAD_TEACHER_OF, {"class_code": theirs.class_code}),
                ("psych.a", RelationshipKind.PSYCH_TEACHER_OF, {"school_code": SCHOOL}),
                (
                    "guardian.0",
                    RelationshipKind.GUARDIAN_OF,
                    {"student_id": students[0].student_id},
                ),
                (
                    "guardian.1",
                    RelationshipKind.GUARDIAN_OF,
                    {"student_id": students[1].student_id},
                ),
            ):
                await unit.people.add_relationship(
                    Relationship(uuid4(), people[name].person_id, kind, date(2026, 8, 1), **target)  # type: ignore[arg-type]
                )
        directory = ResponderDirectory(units, clock=lambda: datetime(2026, 10, 1, tzinfo=UTC))
        unknown = uuid4()
        asked = [s.student_id for s in reversed(students)] + [unknown]
        statements: list[str] = []

        def count(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(schema.engine.sync_engine, "before_cursor_execute", count)
        try:
            answers = await directory.responders_of_many(
                principal("service"), [str(i) for i in asked]
            )
        finally:
            event.remove(schema.engine.sync_engine, "before_cursor_execute", count)

        assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 5
        assert [a.student_id for a in answers] == asked
        assert answers[-1].student is None
        assert answers[-1].responders == []

        def roles(responders: list[Responder]) -> list[tuple[str, str]]:
            return [(r.role, r.person.username) for r in responders]

        by_id = {a.student_id: a for a in answers}
        assert roles(by_id[students[0].student_id].responders) == [
            ("head_teacher", "head.b"), ("school_admin", "admin.b"), ("guardian", "guardian.0"),
            ("county_admin", "county.c"),
        ]  # fmt: skip
        assert roles(by_id[students[1].student_id].responders) == [
            ("head_teacher", "head.a"), ("psych_teacher", "psych.a"), ("guardian", "guardian.1"),
            ("county_admin", "county.c"),
        ]  # fmt: skip
        for each in students[:4]:
            alone = await directory.responders(principal("service"), str(each.student_id))
            assert alone == (by_id[each.student_id].student, by_id[each.student_id].responders)

"""ListResponders' queries against PostgreSQL: relationships to the student, their class and
their school, and roles recorded on people at the school and the county."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
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
from identity.domain.responders import ResponderDirectory
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

"""Identity's tables. The outbox lives here too, so a change and its event commit together.

The organisation is one tree (city → county → school → grade → class) in ``org_units``, with
departments (police, cyberspace, health, women's federation, youth league…) hanging beside it;
details that only some kinds have live in their own tables. People and what they are
responsible for are rows with validity periods, never flags on a user.
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Uuid,
    func,
)

from xinyu_core.db import new_metadata
from xinyu_core.messaging.outbox import outbox_table

metadata = new_metadata()

org_units = Table(
    "org_units",
    metadata,
    # Official codes: 360700 city, 3607xx counties, 10-digit schools; grades and classes are
    # "<school>-<cohort>" and "<school>-<cohort>-<nn>"; departments "<type>-<jurisdiction>".
    Column("code", String(40), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(100), nullable=False),
    Column("parent_code", String(40), ForeignKey("org_units.code"), nullable=True, index=True),
    # Denormalised so scope checks need no tree walk.
    Column("county_code", String(6), nullable=True, index=True),
    Column("school_code", String(10), nullable=True, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(
        "kind IN ('city', 'county', 'school', 'grade', 'class', 'department')", name="kind"
    ),
)

schools = Table(
    "schools",
    metadata,
    Column("school_code", String(10), ForeignKey("org_units.code"), primary_key=True),
    Column("school_type", String(16), nullable=False),
    Column("enrolment", Integer, nullable=False, server_default="0"),
    Column("has_counselling_station", Boolean, nullable=False, server_default="false"),
    Column("has_hotline", Boolean, nullable=False, server_default="false"),
    Column("has_counsellor", Boolean, nullable=False, server_default="false"),
    Column("is_specialty_school", Boolean, nullable=False, server_default="false"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(
        "school_type IN ('primary', 'junior', 'senior', 'nine_year', 'twelve_year', 'vocational')",
        name="school_type",
    ),
    CheckConstraint("enrolment >= 0", name="enrolment"),
)

departments = Table(
    "departments",
    metadata,
    Column("code", String(40), ForeignKey("org_units.code"), primary_key=True),
    Column("department_type", String(32), nullable=False),
    # The county (or the city) the department serves.
    Column("jurisdiction_code", String(6), nullable=False, index=True),
    CheckConstraint(
        "department_type IN ('police', 'cyberspace', 'health_commission', 'hospital',"
        " 'womens_federation', 'family_station', 'youth_league', 'county_centre')",
        name="department_type",
    ),
)

classes = Table(
    "classes",
    metadata,
    Column("class_code", String(40), ForeignKey("org_units.code"), primary_key=True),
    Column("school_code", String(10), ForeignKey("schools.school_code"), nullable=False),
    # The entry year (届): a class keeps its code as it moves up a grade each year.
    Column("cohort", SmallInteger, nullable=False),
    Column("number", SmallInteger, nullable=False),
    Index("ix_classes_school_cohort", "school_code", "cohort"),
)

students = Table(
    "students",
    metadata,
    Column("student_id", Uuid, primary_key=True),
    # 学籍号 is unique nationally; a transfer moves the row, it never duplicates it. A G-form
    # number contains the resident ID, so it is never stored in clear: the keyed hash is what
    # every match and join uses, the ciphertext (AES-GCM) is read back only into the domain
    # Student, and the masked form is for people (see domain/student_number.py).
    Column("student_number_hash", String(64), nullable=False, unique=True),
    Column("student_number_cipher", LargeBinary, nullable=False),
    Column("student_number_masked", String(32), nullable=False),
    Column("full_name", String(50), nullable=False),
    Column("gender", String(8), nullable=True),
    Column("birth_date", Date, nullable=True),
    # Keyed hash and masked form only; the clear number is never stored (see resident_id.py).
    Column("resident_id_hash", String(64), nullable=True, index=True),
    Column("resident_id_masked", String(18), nullable=True),
    Column("school_code", String(16), nullable=False, index=True),
    Column("county_code", String(8), nullable=False, index=True),
    Column("class_code", String(40), ForeignKey("classes.class_code"), nullable=True, index=True),
    Column("status", String(16), nullable=False, server_default="enrolled"),
    Column("enrolled_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("gender IS NULL OR gender IN ('male', 'female')", name="gender"),
    CheckConstraint("status IN ('enrolled', 'graduated', 'left')", name="status"),
)

people = Table(
    "people",
    metadata,
    Column("person_id", Uuid, primary_key=True),
    Column("kind", String(16), nullable=False),
    # The Keycloak username: how a token's caller is matched to a person.
    Column("username", String(64), nullable=False, unique=True),
    Column("full_name", String(50), nullable=False),
    Column("gender", String(8), nullable=True),
    # Staff: their school, county office, city office or department; guardians: none.
    Column("home_unit_code", String(40), ForeignKey("org_units.code"), nullable=True),
    # Realm roles granted explicitly (school_admin, county_admin…); the roles a relationship
    # implies (head_teacher, guardian…) are derived, never stored here.
    Column("roles", ARRAY(String(32)), nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("kind IN ('staff', 'guardian')", name="kind"),
)

# A person whose Keycloak account must be brought in line with identity's records: written in
# the transaction that changed the person or their relationships, deleted by the account sync
# worker once Keycloak agrees. ``last_error_code`` is an error class name, never personal data.
account_sync_requests = Table(
    "account_sync_requests",
    metadata,
    Column("person_id", Uuid, ForeignKey("people.person_id"), primary_key=True),
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Not picked up before this (backoff after a failure; a lease while a worker syncs it).
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error_code", String(64), nullable=True),
    Index("ix_account_sync_requests_due", "next_attempt_at", "requested_at"),
)

relationships = Table(
    "relationships",
    metadata,
    Column("relationship_id", Uuid, primary_key=True),
    Column("person_id", Uuid, ForeignKey("people.person_id"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    # Exactly one target, depending on the kind: a student, a class or a school.
    Column("student_id", Uuid, ForeignKey("students.student_id"), nullable=True, index=True),
    Column("class_code", String(40), ForeignKey("classes.class_code"), nullable=True, index=True),
    Column("school_code", String(10), ForeignKey("schools.school_code"), nullable=True),
    # Psychology teachers: full-time counts for the 1:800 ratio (R24), part-time does not.
    Column("full_time", Boolean, nullable=True),
    Column("subject", String(20), nullable=True),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=True),
    CheckConstraint(
        "kind IN ('guardian_of', 'head_teacher_of', 'subject_teacher_of', 'mentor_of',"
        " 'psych_teacher_of')",
        name="kind",
    ),
    CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="validity"),
    CheckConstraint(
        "(kind IN ('guardian_of', 'mentor_of') AND student_id IS NOT NULL"
        "   AND class_code IS NULL AND school_code IS NULL)"
        " OR (kind IN ('head_teacher_of', 'subject_teacher_of') AND class_code IS NOT NULL"
        "   AND student_id IS NULL AND school_code IS NULL)"
        " OR (kind = 'psych_teacher_of' AND school_code IS NOT NULL"
        "   AND student_id IS NULL AND class_code IS NULL)",
        name="target",
    ),
)

# Class mental-health committee members are students (R7), so they are not ``people``.
committee_members = Table(
    "committee_members",
    metadata,
    Column("membership_id", Uuid, primary_key=True),
    Column("student_id", Uuid, ForeignKey("students.student_id"), nullable=False, index=True),
    Column("class_code", String(40), ForeignKey("classes.class_code"), nullable=False, index=True),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=True),
    CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="validity"),
)

# Key students (重点关注学生) are flagged by counsellors in archives; identity keeps only who
# mentors them (R8), through ``relationships`` of kind mentor_of.

enrolment_changes = Table(
    "enrolment_changes",
    metadata,
    Column("change_id", Uuid, primary_key=True),
    Column("student_id", Uuid, ForeignKey("students.student_id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("from_school_code", String(10), nullable=False),
    Column("to_school_code", String(10), nullable=False),
    Column("from_class_code", String(40), nullable=True),
    Column("to_class_code", String(40), nullable=True),
    Column("effective_on", Date, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("kind IN ('transfer', 'promotion')", name="kind"),
)

# Students' Keycloak accounts (docs/decisions/0013-student-accounts.md). A row is written with
# the login name before the account is sent to Keycloak; ``provisioned_at`` is set once Keycloak
# has it, so a run that died half-way resumes with the same names. The live activation code is
# kept only as a keyed hash (one per student: a new slip replaces the old one).
student_accounts = Table(
    "student_accounts",
    metadata,
    Column("student_id", Uuid, ForeignKey("students.student_id"), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    # The school whose sequence gave the login name.
    Column("school_code", String(10), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("provisioned_at", DateTime(timezone=True), nullable=True),
    # The school the Keycloak account was last made for (its org_unit and group), and when it
    # was disabled because the student left: a provisioning run brings accounts whose student
    # moved or left since in line, whichever way the move was recorded.
    Column("org_unit", String(10), nullable=True),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
    Column("activated_at", DateTime(timezone=True), nullable=True),
    Column("code_hash", String(64), nullable=True),
    Column("code_expires_at", DateTime(timezone=True), nullable=True),
    Column("code_used_at", DateTime(timezone=True), nullable=True),
    Column("code_batch_id", Uuid, nullable=True),
    # Wrong codes since the last slip; at the limit the login name is locked until a new one.
    Column("failed_attempts", Integer, nullable=False, server_default="0"),
    Column("last_failed_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("failed_attempts >= 0", name="failed_attempts"),
)

# The last number of each school's login names (s<school>-<n>).
student_login_sequences = Table(
    "student_login_sequences",
    metadata,
    Column("school_code", String(10), primary_key=True),
    Column("last_value", Integer, nullable=False),
)

# Every issuance of activation slips: who, for which class, how many, until when (the codes
# themselves are never stored). An AccessAudited event is written with it.
activation_code_batches = Table(
    "activation_code_batches",
    metadata,
    Column("batch_id", Uuid, primary_key=True),
    Column("class_code", String(40), ForeignKey("classes.class_code"), nullable=False, index=True),
    Column("school_code", String(10), nullable=False),
    Column("issued_by", String(64), nullable=False),
    Column("issued_by_client", String(64), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("code_count", Integer, nullable=False),
)

# A school whose group /ganzhou/<county>/<school> must exist in Keycloak: written with the
# school's registration, removed by the account sync worker once Keycloak has the group.
school_group_requests = Table(
    "school_group_requests",
    metadata,
    Column("school_code", String(10), ForeignKey("schools.school_code"), primary_key=True),
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error_code", String(64), nullable=True),
)

outbox = outbox_table(metadata)

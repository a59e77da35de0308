"""Screening's tables and its outbox. Answers, result details, confirmation reasons
and task notes are stored only as AES-256-GCM ciphertexts (screening.domain.sealing); codes
only as keyed hashes."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from xinyu_core.db import new_metadata
from xinyu_core.messaging import outbox_table

metadata = new_metadata()

instruments = Table(
    "instruments",
    metadata,
    Column("instrument_id", String(64), primary_key=True),
    Column("version", String(64), primary_key=True),
    # The licensed definition as the operator sent it, and the levels of its bands.
    Column("definition", Text, nullable=False),
    Column("policy", Text, nullable=False),
    Column("loaded_by", String(64), nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("campaign_id", Uuid, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("scope_code", String(16), nullable=False, index=True),
    Column("school_codes", JSONB, nullable=False),
    Column("cohorts", JSONB, nullable=False),
    Column("opens_at", DateTime(timezone=True), nullable=False),
    Column("closes_at", DateTime(timezone=True), nullable=False),
    # [{grade_band, instruments: [[id, version], ...]}, ...]
    Column("batteries", JSONB, nullable=False),
    Column("consent_required_under_age", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

consents = Table(
    "consents",
    metadata,
    Column("consent_id", Uuid, primary_key=True),
    Column("campaign_id", Uuid, ForeignKey("campaigns.campaign_id"), nullable=False),
    Column("student_id", Uuid, nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("via", String(16), nullable=False),
    Column("recorded_by", String(64), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Index("ix_consents_campaign_student", "campaign_id", "student_id", "recorded_at"),
)

sittings = Table(
    "sittings",
    metadata,
    Column("sitting_id", Uuid, primary_key=True),
    Column("campaign_id", Uuid, ForeignKey("campaigns.campaign_id"), nullable=False, index=True),
    Column("class_code", String(32), nullable=False),
    Column("school_code", String(16), nullable=False),
    Column("county_code", String(8), nullable=False),
    Column("join_code_hash", String(64), nullable=False, unique=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("started_by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("participants", Integer, nullable=False),
    Column("wrong_codes", Integer, nullable=False, server_default="0"),
)

participants = Table(
    "participants",
    metadata,
    Column("sitting_id", Uuid, ForeignKey("sittings.sitting_id"), primary_key=True),
    Column("student_id", Uuid, primary_key=True),
    Column("campaign_id", Uuid, nullable=False),
    Column("school_code", String(16), nullable=False),
    Column("county_code", String(8), nullable=False),
    Column("class_code", String(32), nullable=False),
    Column("cohort", Integer, nullable=False),
    Column("grade_band", String(32), nullable=False),
    # [[instrument_id, version], ...]: what this student sits, copied from the campaign.
    Column("battery", JSONB, nullable=False),
    Column("code_hash", String(64), nullable=True),
    Column("consent_missing", Boolean, nullable=False),
    Column("joined_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("sitting_id", "code_hash", name="uq_participants_sitting_code"),
    Index("ix_participants_campaign_student", "campaign_id", "student_id"),
)

drafts = Table(
    "drafts",
    metadata,
    Column("campaign_id", Uuid, primary_key=True),
    Column("student_id", Uuid, primary_key=True),
    Column("instrument_id", String(64), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("answers_cipher", LargeBinary, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

results = Table(
    "results",
    metadata,
    Column("submission_id", Uuid, primary_key=True),
    Column("campaign_id", Uuid, nullable=False),
    Column("student_id", Uuid, nullable=False),
    Column("sitting_id", Uuid, nullable=False),
    Column("school_code", String(16), nullable=False),
    Column("county_code", String(8), nullable=False),
    Column("class_code", String(32), nullable=False),
    Column("instrument_id", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("suggested_level", String(8), nullable=True),
    Column("critical", Boolean, nullable=False),
    Column("valid", Boolean, nullable=False),
    Column("answers_cipher", LargeBinary, nullable=False),
    Column("detail_cipher", LargeBinary, nullable=False),
    Column("confirmed_level", String(8), nullable=True),
    Column("confirmed_by", String(64), nullable=False, server_default=""),
    Column("confirmed_at", DateTime(timezone=True), nullable=True),
    Column("confirmation_reason_cipher", LargeBinary, nullable=True),
    # Once per campaign, student and instrument.
    UniqueConstraint(
        "campaign_id", "student_id", "instrument_id", name="uq_results_campaign_student_instrument"
    ),
    Index("ix_results_school_submitted", "school_code", "submitted_at", "submission_id"),
    Index("ix_results_county_submitted", "county_code", "submitted_at", "submission_id"),
    Index("ix_results_class_submitted", "class_code", "submitted_at", "submission_id"),
    # The re-screening list, selected in SQL: each student's latest result, latest
    # confirmation and flags (critical and confirmed results are few: partial indexes).
    Index(
        "ix_results_school_student_submitted",
        "school_code",
        "student_id",
        "submitted_at",
        "submission_id",
    ),
    Index(
        "ix_results_school_student_confirmed",
        "school_code",
        "student_id",
        "confirmed_at",
        postgresql_where=text("confirmed_at IS NOT NULL"),
    ),
    Index(
        "ix_results_school_student_flagged",
        "school_code",
        "student_id",
        "submitted_at",
        postgresql_where=text("critical"),
    ),
)

guardian_tasks = Table(
    "guardian_tasks",
    metadata,
    Column("task_id", Uuid, primary_key=True),
    # One task per result, however it was opened (a flag, then a confirmation).
    Column("submission_id", Uuid, nullable=False, unique=True),
    Column("student_id", Uuid, nullable=False),
    Column("school_code", String(16), nullable=False),
    Column("county_code", String(8), nullable=False),
    Column("class_code", String(32), nullable=False),
    Column("level", String(8), nullable=False),
    Column("cause", String(16), nullable=False),
    Column("status", String(8), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("done_by", String(64), nullable=False, server_default=""),
    Column("done_at", DateTime(timezone=True), nullable=True),
    Column("note_cipher", LargeBinary, nullable=True),
    # Pages in (due_at, task_id) order, open ones only or all.
    Index("ix_guardian_tasks_school_status_due", "school_code", "status", "due_at", "task_id"),
    Index("ix_guardian_tasks_school_due", "school_code", "due_at", "task_id"),
)

outbox = outbox_table(metadata)

"""Alerts' tables, its outbox and its inbox. Free text (descriptions, protected reporters, raw
partner messages, case notes and summaries, locate details) is stored encrypted
(AES-256-GCM, ``xinyu_core.crypto.FieldCipher``) with the column's name as associated data."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
    Uuid,
    text,
)

from xinyu_core.db import new_metadata
from xinyu_core.messaging import inbox_table, outbox_table

metadata = new_metadata()

SEVERITIES = "'low', 'medium', 'high', 'critical'"
LEVELS = "'class', 'grade', 'school', 'family', 'county'"

alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", Uuid, primary_key=True),
    Column("student_id", Uuid, nullable=False, index=True),
    Column("school_code", String(16), nullable=False),
    Column("county_code", String(8), nullable=False),
    Column("class_code", String(32), nullable=False, server_default=""),
    Column("severity", String(16), nullable=False),
    Column("source", String(16), nullable=False),
    Column("source_ref", String(64), nullable=False),
    Column("category", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("level_index", Integer, nullable=False),
    Column("level", String(16), nullable=True),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("acknowledge_by", DateTime(timezone=True), nullable=True),
    Column("acknowledged_at", DateTime(timezone=True), nullable=True),
    Column("acknowledged_by", String(64), nullable=False, server_default=""),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("outcome", String(64), nullable=False, server_default=""),
    Column("protected", Boolean, nullable=False, server_default=text("false")),
    Column("description_enc", LargeBinary, nullable=True),
    # A non-protected reporter's Keycloak subject; a protected one's is only in reporter_enc.
    Column("reporter", String(64), nullable=False, server_default=""),
    Column("reporter_enc", LargeBinary, nullable=True),
    Column("case_id", String(48), nullable=True),
    Column("unit_report_id", Uuid, nullable=True),
    CheckConstraint(f"severity IN ({SEVERITIES})", name="severity"),
    CheckConstraint("status IN ('open', 'acknowledged', 'closed')", name="status"),
    CheckConstraint(f"level IS NULL OR level IN ({LEVELS})", name="level"),
    Index("ix_alerts_school_raised", "school_code", "raised_at"),
    Index("ix_alerts_county_raised", "county_code", "raised_at"),
)

routings = Table(
    "routings",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("alert_id", Uuid, ForeignKey("alerts.alert_id"), nullable=False, index=True),
    Column("level", String(16), nullable=False),
    Column("routed_at", DateTime(timezone=True), nullable=False),
    Column("notified", Integer, nullable=False),
    Column("reason", String(32), nullable=False),
)

# One live timer per alert: the next escalation (or reminder) and when it is due. Claimed with
# SELECT … FOR UPDATE SKIP LOCKED by the scheduler of any replica.
escalation_timers = Table(
    "escalation_timers",
    metadata,
    Column("alert_id", Uuid, ForeignKey("alerts.alert_id"), primary_key=True),
    Column("level_index", Integer, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False, index=True),
)

notifications = Table(
    "notifications",
    metadata,
    Column("notification_id", Uuid, primary_key=True),
    Column("alert_id", Uuid, ForeignKey("alerts.alert_id"), nullable=False, index=True),
    Column("student_id", Uuid, nullable=False),
    Column("level", String(16), nullable=False),
    Column("role", String(32), nullable=False),
    # Keycloak username of the recipient.
    Column("recipient", String(128), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("acknowledge_by", DateTime(timezone=True), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column(
        "notification_id",
        Uuid,
        ForeignKey("notifications.notification_id"),
        nullable=False,
        index=True,
    ),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Column("delivered", Boolean, nullable=False),
    # An error code, never a response body.
    Column("error", String(64), nullable=False, server_default=""),
)

# Every partner report accepted after validation, once per (unit, external id): the dedupe rule
# in the database, beside the inbox's event id (a name-based UUID of the same pair).
unit_reports = Table(
    "unit_reports",
    metadata,
    Column("report_id", Uuid, primary_key=True),
    Column("unit", String(64), nullable=False),
    Column("external_id", String(100), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("alert_id", Uuid, nullable=True),
    Column("review_task_id", Uuid, nullable=True),
    Column("contact_enc", LargeBinary, nullable=True),
    UniqueConstraint("unit", "external_id", name="uq_unit_reports_unit_external_id"),
)

review_tasks = Table(
    "review_tasks",
    metadata,
    Column("task_id", Uuid, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("scope_code", String(16), nullable=False, index=True),
    Column("external_id", String(100), nullable=False, server_default=""),
    Column("reason", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("raw_enc", LargeBinary, nullable=False),
    Column("description_enc", LargeBinary, nullable=True),
    Column("unit_report_id", Uuid, nullable=True),
    # topic/partition/offset of a malformed message: a redelivery finds its task here.
    Column("position", String(200), nullable=True, unique=True),
    Column("category", String(32), nullable=False),
    Column("severity_hint", String(16), nullable=True),
    Column("alert_id", Uuid, nullable=True),
    Column("resolution", String(64), nullable=False, server_default=""),
    Column("resolved_by", String(64), nullable=False, server_default=""),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(
        "kind IN ('no_match', 'uncertain', 'invalid_identifier', 'malformed')", name="kind"
    ),
    CheckConstraint("status IN ('open', 'attached', 'dismissed')", name="status"),
)

cases = Table(
    "cases",
    metadata,
    Column("case_id", String(48), primary_key=True),
    Column("alert_id", Uuid, ForeignKey("alerts.alert_id"), nullable=False, unique=True),
    Column("student_id", Uuid, nullable=False, index=True),
    Column("school_code", String(16), nullable=False, index=True),
    Column("county_code", String(8), nullable=False),
    Column("class_code", String(32), nullable=False, server_default=""),
    # Keycloak username of the owner (the school's psychology teacher); "" until someone takes it.
    Column("owner", String(128), nullable=False, server_default=""),
    Column("status", String(16), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("summary_enc", LargeBinary, nullable=True),
    CheckConstraint("status IN ('open', 'closed')", name="status"),
)

case_steps = Table(
    "case_steps",
    metadata,
    Column("step_id", Uuid, primary_key=True),
    Column("case_id", String(48), ForeignKey("cases.case_id"), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("note_enc", LargeBinary, nullable=False),
    UniqueConstraint("case_id", "seq", name="uq_case_steps_case_id_seq"),
)

locate_requests = Table(
    "locate_requests",
    metadata,
    Column("request_id", Uuid, primary_key=True),
    Column("student_id", Uuid, nullable=False, index=True),
    Column("school_code", String(16), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("requested_by", String(64), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("details_enc", LargeBinary, nullable=False),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)

"""The event envelope, topic names and Kafka keys: the rules every producer and consumer share.

Every event message has a field ``meta`` of type ``xinyu.events.v1.EventMeta``. The subject in
it is also the Kafka key, so one student's (or case's) events land on one partition and stay in
order. Because keys are visible to every operator and tool that touches the broker, a key must be
an opaque platform id; anything that could be a name, a student number or a resident ID number is
refused here rather than trusted to each caller.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from google.protobuf.message import Message

from xinyu.events.v1 import envelope_pb2

META_FIELD = "meta"
DLQ_SUFFIX = ".dlq"

# <domain>.<entity>.<event>.v<N>. Lowercase kebab segments only: Kafka maps "." and "_" to the
# same metric name, so allowing "_" beside "." invites collisions.
_SEGMENT = r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*"
TOPIC_PATTERN = re.compile(rf"^{_SEGMENT}\.{_SEGMENT}\.{_SEGMENT}\.v[1-9][0-9]*$")

# A service's one name (ARCHITECTURE §2): kebab-case.
PRODUCER_PATTERN = re.compile(rf"^{_SEGMENT}$")

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# A subject is a student id (a bare UUID) or a case id ("case-" + UUID). Both are opaque: a UUID
# body cannot carry a name, a student number or an 18-character resident ID number, so requiring
# one is the cheapest way to keep personal data out of keys. Widen this deliberately, not ad hoc.
SUBJECT_PATTERN = re.compile(rf"^(?:case-)?{_UUID}$")


class EnvelopeError(ValueError):
    """An event, topic or key breaks the platform's envelope rules."""


class InvalidTopic(EnvelopeError):
    pass


class InvalidKey(EnvelopeError):
    pass


class InvalidMeta(EnvelopeError):
    pass


def validate_topic(topic: str) -> str:
    """Return ``topic`` if it is ``<domain>.<entity>.<event>.v<N>``; raise otherwise."""
    if not TOPIC_PATTERN.fullmatch(topic):
        raise InvalidTopic("topic must be <domain>.<entity>.<event>.v<N> in lowercase kebab-case")
    return topic


def dlq_topic(topic: str) -> str:
    """The dead-letter topic that sits beside a consumed topic."""
    return validate_topic(topic) + DLQ_SUFFIX


def validate_key(subject: str) -> str:
    """Return ``subject`` if it may be a Kafka key (an opaque UUID or case id); raise otherwise.

    The offending value is deliberately not echoed in the error: it may be the personal data
    this check exists to stop, and errors end up in logs.
    """
    if not SUBJECT_PATTERN.fullmatch(subject):
        raise InvalidKey("a Kafka key must be a lowercase UUID or 'case-' + UUID")
    return subject


def validate_producer(producer: str) -> str:
    if not PRODUCER_PATTERN.fullmatch(producer):
        raise InvalidMeta("producer must be the service's kebab-case name")
    return producer


def payload_type_of(message: Message | type[Message]) -> str:
    """The fully qualified protobuf type name, e.g. ``xinyu.events.v1.StudentEnrolled``."""
    return str(message.DESCRIPTOR.full_name)


def new_meta(
    producer: str,
    subject: str,
    payload_type: str,
    *,
    occurred_at: datetime | None = None,
    event_id: uuid.UUID | None = None,
) -> envelope_pb2.EventMeta:
    """A fresh envelope. ``occurred_at`` is when the fact happened (defaults to now, UTC)."""
    meta = envelope_pb2.EventMeta(
        event_id=str(event_id or uuid.uuid4()),
        producer=validate_producer(producer),
        subject=validate_key(subject),
        payload_type=payload_type,
    )
    meta.occurred_at.FromDatetime(_as_utc(occurred_at or datetime.now(UTC)))
    return meta


def stamp(
    message: Message,
    producer: str,
    subject: str,
    *,
    occurred_at: datetime | None = None,
    event_id: uuid.UUID | None = None,
) -> envelope_pb2.EventMeta:
    """Fill ``message.meta`` with a new envelope whose payload type is the message's own type."""
    meta = new_meta(
        producer,
        subject,
        payload_type_of(message),
        occurred_at=occurred_at,
        event_id=event_id,
    )
    meta_of(message).CopyFrom(meta)
    return meta


def has_meta_field(message_type: type[Message]) -> bool:
    field = message_type.DESCRIPTOR.fields_by_name.get(META_FIELD)
    return (
        field is not None
        and field.message_type is not None
        and field.message_type.full_name == envelope_pb2.EventMeta.DESCRIPTOR.full_name
    )


def meta_of(message: Message) -> envelope_pb2.EventMeta:
    """The envelope of an event message (raises :class:`InvalidMeta` if it has none)."""
    if not has_meta_field(type(message)):
        raise InvalidMeta("event messages must have a field 'meta' of type EventMeta")
    meta = getattr(message, META_FIELD)
    if not isinstance(meta, envelope_pb2.EventMeta):  # pragma: no cover - guarded above
        raise InvalidMeta("field 'meta' is not an EventMeta")
    return meta


def validate_event(message: Message) -> envelope_pb2.EventMeta:
    """Check the envelope an event must carry before it is stored or after it is received."""
    meta = meta_of(message)
    event_id_of(meta)
    validate_producer(meta.producer)
    validate_key(meta.subject)
    if meta.payload_type != payload_type_of(message):
        raise InvalidMeta("meta.payload_type does not name the message's own type")
    if not meta.HasField("occurred_at"):
        raise InvalidMeta("meta.occurred_at is required")
    return meta


def event_id_of(meta: envelope_pb2.EventMeta) -> uuid.UUID:
    """The event id as a UUID; the inbox dedupes on it, so a malformed one is refused."""
    try:
        parsed = uuid.UUID(meta.event_id)
    except ValueError:
        raise InvalidMeta("meta.event_id must be a UUID") from None
    if str(parsed) != meta.event_id:
        raise InvalidMeta("meta.event_id must be a canonical lowercase UUID")
    return parsed


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise InvalidMeta("occurred_at must be timezone-aware")
    return moment.astimezone(UTC)

"""The chassis's Kafka layer: envelope rules, outbox, relay, inbox and an idempotent consumer.

Nothing here builds a client or touches the broker at import time; a service's ``bootstrap.py``
builds one producer, the relay and its consumers and passes them where they are needed.
"""

from xinyu_core.messaging.consumer import (
    DeadLetter,
    DeadLetterHook,
    EventConsumer,
    PoisonMessage,
    RetryPolicy,
    TransientError,
    build_consumer,
    consumer_config,
)
from xinyu_core.messaging.events import (
    EnvelopeError,
    InvalidKey,
    InvalidMeta,
    InvalidTopic,
    dlq_topic,
    meta_of,
    new_meta,
    payload_type_of,
    stamp,
    validate_event,
    validate_key,
    validate_topic,
)
from xinyu_core.messaging.inbox import Inbox, PostgresInbox, inbox_table
from xinyu_core.messaging.outbox import (
    OutboxRelay,
    OutboxStore,
    OutboxWriter,
    PostgresOutbox,
    SessionFactory,
    outbox_table,
)
from xinyu_core.messaging.producer import (
    AsyncProducer,
    DeliveryReport,
    OutgoingRecord,
    build_producer,
    producer_config,
)

__all__ = [
    "AsyncProducer",
    "DeadLetter",
    "DeadLetterHook",
    "DeliveryReport",
    "EnvelopeError",
    "EventConsumer",
    "Inbox",
    "InvalidKey",
    "InvalidMeta",
    "InvalidTopic",
    "OutboxRelay",
    "OutboxStore",
    "OutboxWriter",
    "OutgoingRecord",
    "PoisonMessage",
    "PostgresInbox",
    "PostgresOutbox",
    "RetryPolicy",
    "SessionFactory",
    "TransientError",
    "build_consumer",
    "build_producer",
    "consumer_config",
    "dlq_topic",
    "inbox_table",
    "meta_of",
    "new_meta",
    "outbox_table",
    "payload_type_of",
    "producer_config",
    "stamp",
    "validate_event",
    "validate_key",
    "validate_topic",
]

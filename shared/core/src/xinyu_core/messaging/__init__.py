"""The chassis's Kafka layer: envelope rules, outbox, relay, inbox and an idempotent consumer.

Nothing here builds a client or touches the broker at import time; a service's ``bootstrap.py``
builds them and passes them where they are needed::

    # tables.py — both tables join the service's own MetaData, so Alembic creates them
    outbox = outbox_table(metadata)
    inbox = inbox_table(metadata)

    # bootstrap.py
    producer = AsyncProducer(build_producer(settings.kafka, client_id="identity"))
    relay = OutboxRelay(sessions, PostgresOutbox(outbox), producer)
    writer = OutboxWriter(outbox, on_commit=relay.wake)  # given to repositories / use cases
    consumer = EventConsumer(
        consumer=build_consumer(settings.kafka, client_id="archives", group_id="archives"),
        consumer_group="archives",
        sessions=sessions,
        inbox=PostgresInbox(inbox),
        dlq_producer=producer,
        on_dead_letter=raise_review_task,
    )
    consumer.register("identity.student.enrolled.v1", StudentEnrolled, on_student_enrolled)

    # __main__.py — run until a signal, then stop() both and await their tasks
    await asyncio.gather(relay.run(), consumer.run())

    # a use case, inside its own transaction
    stamp(event, "identity", str(student.id))
    await writer.add(session, "identity.student.enrolled.v1", event)
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
from xinyu_core.messaging.housekeeping import MessagingHousekeeping, Purged
from xinyu_core.messaging.inbox import BatchInbox, Inbox, PostgresInbox, inbox_table
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
    "BatchInbox",
    "DeadLetter",
    "DeadLetterHook",
    "DeliveryReport",
    "EnvelopeError",
    "EventConsumer",
    "Inbox",
    "InvalidKey",
    "InvalidMeta",
    "InvalidTopic",
    "MessagingHousekeeping",
    "OutboxRelay",
    "OutboxStore",
    "OutboxWriter",
    "OutgoingRecord",
    "PoisonMessage",
    "PostgresInbox",
    "PostgresOutbox",
    "Purged",
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

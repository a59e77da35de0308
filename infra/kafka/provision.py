"""Render infra/kafka/topics.yaml onto a Kafka broker, idempotently.

    uv run python infra/kafka/provision.py            # the local broker (127.0.0.1:9092)
    uv run python infra/kafka/provision.py --plan     # print what is declared, touch nothing

Creates missing topics (and their derived `.dlq` topics), raises partition counts and
sets retention where they differ, upserts missing SCRAM-SHA-512 users and makes the ACLs
of every declared principal exactly what the declaration says (missing ones created,
undeclared ones deleted). Topics that are not declared are reported, never deleted.
`infra/local/stack up` runs it; it needs the broker's super user (`admin`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
DECLARATION = HERE / "topics.yaml"
TOPIC_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*(\.[a-z0-9]+(-[a-z0-9]+)*){2}\.v[0-9]+$")
PRINCIPAL_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
KINDS = ("service", "unit", "test")
CLUSTER = "kafka-cluster"
SCRAM_ITERATIONS = 4096  # Kafka's minimum for SCRAM-SHA-512
DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


class DeclarationError(ValueError):
    pass


def retention_ms(value: object) -> int:
    if isinstance(value, int):
        return value
    match = DURATION.match(str(value).strip())
    if not match:
        raise DeclarationError(f"bad retention {value!r}: use <n>ms|s|m|h|d or -1")
    return int(match.group(1)) * UNIT_MS[match.group(2)]


@dataclass(frozen=True)
class Principal:
    name: str
    kind: str
    local_only: bool = False

    @property
    def group_pattern(self) -> str:
        """Every principal's groups start with its name: a service's live group is exactly its
        name (``archives``), and replays or tests use ``<name>.<purpose>`` beside it."""
        return "PREFIXED"


@dataclass
class Topic:
    name: str
    partitions: int
    retention_ms: int
    producers: list[str] = field(default_factory=list)
    consumers: list[str] = field(default_factory=list)
    local_only: bool = False


@dataclass
class Declaration:
    principals: dict[str, Principal]
    topics: dict[str, Topic]


#: (resource type, resource name, pattern type, principal, operation)
Acl = tuple[str, str, str, str, str]


def load(path: Path = DECLARATION, *, local: bool = True) -> Declaration:
    """Read and check the declaration; `local=False` leaves out local-only entries."""
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    defaults = raw.get("defaults", {})
    dlq_defaults = defaults.get("dlq", {})
    principals: dict[str, Principal] = {}
    for item in raw.get("principals", []):
        p = Principal(str(item["name"]), str(item["kind"]), bool(item.get("local_only", False)))
        if not PRINCIPAL_NAME.match(p.name) or p.kind not in KINDS:
            raise DeclarationError(f"bad principal {item!r}")
        if p.name in principals or p.name == "admin":
            raise DeclarationError(f"principal {p.name} declared twice (or is `admin`)")
        if local or not p.local_only:
            principals[p.name] = p
    topics: dict[str, Topic] = {}
    for item in raw.get("topics", []):
        topic = Topic(
            name=str(item["name"]),
            partitions=int(item.get("partitions", defaults.get("partitions", 1))),
            retention_ms=retention_ms(item.get("retention", defaults.get("retention", "7d"))),
            producers=[str(x) for x in item.get("producers", [])],
            consumers=[str(x) for x in item.get("consumers", [])],
            local_only=bool(item.get("local_only", False)),
        )
        if not TOPIC_NAME.match(topic.name):
            raise DeclarationError(f"topic {topic.name}: not <domain>.<entity>.<event>.v<N>")
        if topic.name in topics:
            raise DeclarationError(f"topic {topic.name} declared twice")
        if topic.local_only and not local:
            continue
        for who in topic.producers + topic.consumers:
            if who not in principals:
                raise DeclarationError(f"topic {topic.name}: unknown principal {who}")
        topics[topic.name] = topic
    for topic in list(topics.values()):
        # Services park what they cannot handle; the chassis's tests prove that on the scratch
        # topic. Partner units read receipts with their own tools and get no DLQ.
        service_consumers = [
            c for c in topic.consumers if principals[c].kind in ("service", "test")
        ]
        if service_consumers:
            dlq = Topic(
                name=f"{topic.name}.dlq",
                partitions=int(dlq_defaults.get("partitions", 1)),
                retention_ms=retention_ms(dlq_defaults.get("retention", "30d")),
                producers=service_consumers,
                consumers=service_consumers,
                local_only=topic.local_only,
            )
            topics[dlq.name] = dlq
    return Declaration(principals, topics)


def acls(decl: Declaration) -> set[Acl]:
    """Every ACL the declaration implies (all ALLOW, host *)."""
    wanted: set[Acl] = set()
    for topic in decl.topics.values():
        for name in topic.producers:
            user = f"User:{name}"
            wanted.add(("TOPIC", topic.name, "LITERAL", user, "WRITE"))
            wanted.add(("TOPIC", topic.name, "LITERAL", user, "DESCRIBE"))
            # Brokers >= 3 also accept WRITE on any topic for InitProducerId; explicit
            # IDEMPOTENT_WRITE keeps idempotent producers working with older clients too.
            wanted.add(("BROKER", CLUSTER, "LITERAL", user, "IDEMPOTENT_WRITE"))
        for name in topic.consumers:
            user = f"User:{name}"
            principal = decl.principals[name]
            wanted.add(("TOPIC", topic.name, "LITERAL", user, "READ"))
            wanted.add(("TOPIC", topic.name, "LITERAL", user, "DESCRIBE"))
            wanted.add(("GROUP", name, principal.group_pattern, user, "READ"))
    return wanted


def local_password(name: str) -> str:
    return f"dev-kafka-{name}"


# ---------------------------------------------------------------------------------- applying


def kafka_admin_api() -> Any:
    """confluent_kafka.admin, untyped: its stubs re-export nothing under mypy --strict."""
    return importlib.import_module("confluent_kafka.admin")


def admin_client(bootstrap: str, user: str, password: str) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": user,
            "sasl.password": password,
            "log_level": 3,
        }
    )


def wait_all(futures: dict[Any, Any], timeout: float = 30) -> None:
    for future in futures.values():
        future.result(timeout=timeout)


def apply_topics(admin: Any, decl: Declaration, replication: int, say: Any) -> None:
    from confluent_kafka import KafkaException

    k = kafka_admin_api()

    existing = admin.list_topics(timeout=15).topics
    missing = [t for t in decl.topics.values() if t.name not in existing]
    if missing:
        futures = admin.create_topics(
            [
                k.NewTopic(
                    t.name,
                    num_partitions=t.partitions,
                    replication_factor=replication,
                    config={"retention.ms": str(t.retention_ms), "cleanup.policy": "delete"},
                )
                for t in missing
            ],
            operation_timeout=30,
        )
        for name, future in futures.items():
            try:
                future.result(timeout=30)
                say(f"created topic {name}")
            except KafkaException as exc:
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                    raise
    present = [t for t in decl.topics.values() if t.name in existing]
    grow = [
        k.NewPartitions(t.name, t.partitions)
        for t in present
        if len(existing[t.name].partitions) < t.partitions
    ]
    if grow:
        wait_all(admin.create_partitions(grow))
        say(f"raised partitions of {', '.join(g.topic for g in grow)}")
    if present:
        described = admin.describe_configs(
            [k.ConfigResource(k.ResourceType.TOPIC, t.name) for t in present]
        )
        changes = []
        for resource, future in described.items():
            config = future.result(timeout=30)
            want = str(decl.topics[resource.name].retention_ms)
            if config["retention.ms"].value != want:
                entry = k.ConfigEntry(
                    "retention.ms", want, incremental_operation=k.AlterConfigOpType.SET
                )
                changes.append(
                    k.ConfigResource(
                        k.ResourceType.TOPIC, resource.name, incremental_configs=[entry]
                    )
                )
        if changes:
            wait_all(admin.incremental_alter_configs(changes))
            say(f"set retention.ms of {', '.join(c.name for c in changes)}")
    internal = {"__consumer_offsets", "__transaction_state", "__share_group_state"}
    extra = sorted(set(existing) - set(decl.topics) - internal)
    if extra:
        say(f"note: topics not declared in topics.yaml (left alone): {', '.join(extra)}")


def apply_users(admin: Any, decl: Declaration, say: Any) -> None:
    k = kafka_admin_api()

    described = admin.describe_user_scram_credentials()
    have: set[str] = set()
    if isinstance(described, dict):  # older clients: one future per user
        for user, future in described.items():
            with_suppressed_error(lambda f=future: f.result(timeout=30))
            have.add(str(user))
    else:
        have = set(described.result(timeout=30).keys())
    missing = [name for name in decl.principals if name not in have]
    if not missing:
        return
    info = k.ScramCredentialInfo(k.ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    upserts = [
        k.UserScramCredentialUpsertion(name, info, local_password(name).encode())
        for name in missing
    ]
    wait_all(admin.alter_user_scram_credentials(upserts))
    say(f"created SCRAM users {', '.join(missing)}")


def with_suppressed_error(call: Any) -> None:
    # a user without credentials is simply "missing"
    with contextlib.suppress(Exception):
        call()


def apply_acls(admin: Any, decl: Declaration, say: Any) -> None:
    k = kafka_admin_api()

    wanted = acls(decl)
    every = k.AclBindingFilter(
        k.ResourceType.ANY,
        None,
        k.ResourcePatternType.ANY,
        None,
        None,
        k.AclOperation.ANY,
        k.AclPermissionType.ANY,
    )
    current: dict[Acl, Any] = {}
    for binding in admin.describe_acls(every).result(timeout=30):
        key: Acl = (
            binding.restype.name,
            binding.name,
            binding.resource_pattern_type.name,
            binding.principal,
            binding.operation.name,
        )
        if binding.permission_type.name == "ALLOW" and binding.host == "*":
            current[key] = binding
        elif binding.principal[len("User:") :] in decl.principals:
            current[(*key[:4], f"{key[4]}/{binding.permission_type.name}@{binding.host}")] = binding

    def binding_of(acl: Acl) -> Any:
        restype, name, pattern, principal, operation = acl
        return k.AclBinding(
            k.ResourceType[restype],
            name,
            k.ResourcePatternType[pattern],
            principal,
            "*",
            k.AclOperation[operation],
            k.AclPermissionType.ALLOW,
        )

    create = sorted(wanted - set(current))
    if create:
        wait_all(admin.create_acls([binding_of(a) for a in create]))
        say(f"created {len(create)} ACLs")
    managed = {f"User:{name}" for name in decl.principals}
    stale = [current[a] for a in sorted(set(current) - wanted) if a[3] in managed]
    if stale:
        filters = [
            k.AclBindingFilter(
                b.restype,
                b.name,
                b.resource_pattern_type,
                b.principal,
                b.host,
                b.operation,
                b.permission_type,
            )
            for b in stale
        ]
        wait_all(admin.delete_acls(filters))
        say(f"deleted {len(stale)} undeclared ACLs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--admin-user", default="admin")
    parser.add_argument("--admin-password", default="dev-kafka-admin")
    parser.add_argument("--replication-factor", type=int, default=1)
    parser.add_argument("--plan", action="store_true", help="print the declaration and exit")
    parser.add_argument("--quiet", action="store_true", help="print only a one-line summary")
    ns = parser.parse_args(argv)
    decl = load()
    if ns.plan:
        for topic in decl.topics.values():
            print(
                f"{topic.name}  partitions={topic.partitions} retention.ms={topic.retention_ms}"
                f"  producers={','.join(topic.producers)} consumers={','.join(topic.consumers)}"
            )
        for acl in sorted(acls(decl)):
            print("ACL ALLOW", *acl)
        return 0
    changes: list[str] = []

    def say(message: str) -> None:
        changes.append(message)
        if not ns.quiet:
            print(f"[kafka] {message}")

    admin = admin_client(ns.bootstrap, ns.admin_user, ns.admin_password)
    apply_users(admin, decl, say)
    apply_topics(admin, decl, ns.replication_factor, say)
    apply_acls(admin, decl, say)
    print(
        f"[kafka] {len(decl.topics)} topics, {len(decl.principals)} SCRAM users, "
        f"{len(acls(decl))} ACLs declared; "
        + (f"{len(changes)} change(s)" if changes else "already in place")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

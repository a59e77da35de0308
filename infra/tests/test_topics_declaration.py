"""infra/kafka/topics.yaml follows the conventions (no broker needed)."""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

PROVISION = Path(__file__).resolve().parents[1] / "kafka" / "provision.py"


@functools.cache
def provision() -> ModuleType:
    spec = importlib.util.spec_from_file_location("infra_kafka_provision", PROVISION)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_consumed_topic_has_a_dlq_written_by_its_consumers() -> None:
    decl = provision().load()
    for topic in decl.topics.values():
        if topic.name.endswith(".dlq"):
            continue
        service_consumers = [c for c in topic.consumers if decl.principals[c].kind == "service"]
        if service_consumers:
            dlq = decl.topics[f"{topic.name}.dlq"]
            assert dlq.producers == service_consumers


def test_topic_names_follow_the_convention() -> None:
    pattern = re.compile(r"^[a-z0-9-]+\.[a-z0-9-]+\.[a-z0-9-]+\.v\d+(\.dlq)?$")
    for name in provision().load().topics:
        assert pattern.match(name), name


def test_units_write_only_their_own_inbound_topic() -> None:
    module = provision()
    decl = module.load()
    for acl in module.acls(decl):
        restype, name, _pattern, principal, operation = acl
        user = principal.removeprefix("User:")
        if decl.principals[user].kind == "unit" and restype == "TOPIC" and operation == "WRITE":
            assert name == f"alerts.{user}.reported.v1"


def test_cluster_rendering_leaves_local_only_entries_out() -> None:
    decl = provision().load(local=False)
    assert "tests" not in decl.principals
    assert "platform.test.scratch.v1" not in decl.topics

"""Loads the demo data through the gateway, as a school administrator would, and prints where
everything is. Idempotent: enrolling the same students again changes nothing."""

from __future__ import annotations

import sys

import httpx

from xinyu_e2e import GATEWAY_URL, KEYCLOAK_ISSUER
from xinyu_e2e.seed import CLASS_ONE, CLASS_TWO, DEMO_SCHOOL, ensure_demo_world

DEMO_ACCOUNTS = (
    ("city.admin", "city administrator (360700)"),
    ("zhanggong.admin", "county administrator, 章贡区 (360702)"),
    ("nankang.admin", "county administrator, 南康区 (360703)"),
    ("school.admin", f"school administrator ({DEMO_SCHOOL})"),
    ("psych.teacher", f"psychology teacher ({DEMO_SCHOOL})"),
    ("head.teacher", f"head teacher ({DEMO_SCHOOL})"),
    ("guardian.demo", "guardian"),
    ("police.zhanggong", "police officer, 章贡 unit"),
    ("auditor.demo", "auditor (city)"),
)


def main() -> int:
    with httpx.Client(base_url=GATEWAY_URL, timeout=10.0) as gateway:
        try:
            world = ensure_demo_world(gateway)
        except RuntimeError as error:
            print(f"demo: {error}", file=sys.stderr)
            return 1
    print(f"""
Xinyu is running.
  gateway (HTTP API)   {GATEWAY_URL}   OpenAPI: {GATEWAY_URL}/docs
  Keycloak             {KEYCLOAK_ISSUER.rsplit("/realms", 1)[0]}  (realm xinyu; admin console user
                       'admin', password in infra/local/README.md)
  PostgreSQL           127.0.0.1:5433    Kafka 127.0.0.1:9092 (services), 127.0.0.1:9094 (units)
  logs                 infra/local/.data/logs/
Demo accounts (password Xinyu-Demo-2026!, local only):""")
    for username, what in DEMO_ACCOUNTS:
        print(f"  {username:<18} {what}")
    print(
        f"{len(world.students)} demo students at school {DEMO_SCHOOL} (classes {CLASS_ONE},"
        f" {CLASS_TWO}); head.teacher leads {CLASS_ONE}, guardian.demo is a guardian there."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Loads the demo data through the gateway, as a school administrator would, and prints where
everything is. Idempotent: enrolling the same students again changes nothing."""

from __future__ import annotations

import sys

import httpx

from xinyu_e2e import GATEWAY_URL, KEYCLOAK_ISSUER, auth

DEMO_SCHOOL = "3607020001"
DEMO_COUNTY = "360702"
# Fictional children with well-formed but invented student numbers.
DEMO_STUDENTS = (
    ("G360702201401010011", "林小雨"),
    ("G360702201402020022", "陈子墨"),
    ("G360702201503030033", "黄欣怡"),
)
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
        for number, name in DEMO_STUDENTS:
            reply = gateway.post(
                "/v1/students",
                json={
                    "student_number": number,
                    "full_name": name,
                    "school_code": DEMO_SCHOOL,
                    "county_code": DEMO_COUNTY,
                },
                headers=auth("school.admin"),
            )
            if reply.status_code not in (200, 201):
                print(f"demo: enrolment failed: {reply.status_code} {reply.text}", file=sys.stderr)
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
    print(f"{len(DEMO_STUDENTS)} demo students enrolled at school {DEMO_SCHOOL}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

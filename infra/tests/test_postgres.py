"""Each service owns one database: its role gets in, nobody else's password does."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("postgres_up")]

SERVICES = ["identity", "screening", "archives", "alerts", "referral", "training", "family"]


def connect(user: str, password: str, dbname: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host="127.0.0.1",
        port=5433,
        user=user,
        password=password,
        dbname=dbname,
        connect_timeout=5,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_service_role_opens_its_own_database(service: str) -> None:
    with connect(service, f"dev-db-{service}", service) as conn:
        row = conn.execute("select current_user, current_database()").fetchone()
        assert row == (service, service)
        # the owner may create its tables (migrations run as this role)
        conn.execute("create temporary table probe (id int)")


@pytest.mark.parametrize("service", SERVICES)
def test_service_database_refuses_another_services_password(service: str) -> None:
    other = SERVICES[(SERVICES.index(service) + 1) % len(SERVICES)]
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(service, f"dev-db-{other}", service)


@pytest.mark.parametrize("service", SERVICES)
def test_another_service_role_cannot_connect_to_the_database(service: str) -> None:
    other = SERVICES[(SERVICES.index(service) + 1) % len(SERVICES)]
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        connect(other, f"dev-db-{other}", service)


def test_service_roles_are_not_privileged() -> None:
    with connect("postgres", "dev-postgres", "postgres") as conn:
        rows = conn.execute(
            "select rolname, rolsuper, rolcreatedb, rolcreaterole from pg_roles"
            " where rolname = any(%s)",
            ([*SERVICES, "keycloak"],),
        ).fetchall()
    assert {r[0] for r in rows} == {*SERVICES, "keycloak"}
    assert all(not (r[1] or r[2] or r[3]) for r in rows)


def test_gateway_has_no_database() -> None:
    with pytest.raises(psycopg.OperationalError):
        connect("gateway", "dev-db-gateway", "gateway")

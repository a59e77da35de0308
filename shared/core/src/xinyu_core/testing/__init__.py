"""Helpers for the platform's own tests (fakes of our own ports, never of real servers)."""

from __future__ import annotations

from xinyu_core.auth import Principal


def principal(
    *roles: str,
    org_unit: str = "",
    subject: str = "00000000-0000-4000-8000-000000000001",
    username: str = "tester",
) -> Principal:
    """A verified caller for unit tests of use cases."""
    return Principal(
        subject=subject,
        username=username,
        roles=frozenset(roles),
        org_unit=org_unit,
        client_id="xinyu-cli",
        token="unit-test-token",  # noqa: S106 - a label, not a credential
    )

"""Students' first sign-in: one-time activation codes a school admin prints for a class, and the
activation that sets the student's password in Keycloak.

Bulk-provisioned accounts have no credential (hashing 1.6 million passwords at import would take
hours and nobody could tell the students theirs). A school admin asks for a class's slips; each
carries the login name and a code identity keeps only as a keyed hash. The student sends both
with a new password (through the gateway, which calls as its own service client because the
student has no token yet); identity checks the code, sets the password through Keycloak's admin
API (reset-password, as identity's own client) and marks the code used. From then on the
student signs in to Keycloak like anybody else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from uuid import UUID, uuid4

from identity.domain.student_accounts import (
    CODE_TTL,
    LOCKED,
    LOGIN_NAME,
    REFUSED,
    ActivationCodes,
    ActivationState,
    Verdict,
    format_code,
    judge,
    normalise_code,
    require_password,
)
from xinyu_core.auth import Principal
from xinyu_core.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied

log = logging.getLogger(__name__)

ISSUERS = ("school_admin",)
# Service clients allowed to activate on a student's behalf: the gateway's route is the only way
# in for a person who has no token yet.
ACTIVATING_CLIENTS = frozenset({"gateway"})


@dataclass(frozen=True)
class PendingStudent:
    student_id: UUID
    username: str
    full_name: str


@dataclass(frozen=True)
class ClassAccounts:
    """A class's students as activation sees them."""

    school_code: str
    pending: Sequence[PendingStudent]
    without_account: int
    already_activated: int


@dataclass(frozen=True)
class Batch:
    batch_id: UUID
    class_code: str
    school_code: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Slip:
    student_id: UUID
    full_name: str
    login_name: str
    code: str


@dataclass(frozen=True)
class IssuedSlips:
    batch: Batch
    slips: Sequence[Slip]
    without_account: int
    already_activated: int


class ActivationStore(Protocol):
    async def class_accounts(self, class_code: str) -> ClassAccounts | None:
        """None when there is no such class."""
        ...

    async def save_batch(
        self, principal: Principal, batch: Batch, hashes: Mapping[UUID, str]
    ) -> None:
        """In one transaction: the batch row, each student's new code hash (failures reset,
        any earlier code replaced) and the issuance's audit record."""
        ...

    async def state(self, username: str) -> ActivationState | None: ...

    async def reserve_attempt(self, username: str) -> bool:
        """Count one attempt before the code is compared, atomically and only while under the
        limit, so concurrent guesses cannot exceed it; False when the limit is reached (or
        there is no such account). A successful activation resets the count."""
        ...

    async def claim(self, username: str, code_hash: str, now: datetime) -> bool:
        """Mark the code used if it still is this one and unused (one winner among racers)."""
        ...

    async def release(self, username: str, code_hash: str) -> None:
        """Undo :meth:`claim` and its attempt when Keycloak did not take the password."""
        ...

    async def activated(self, principal: Principal, username: str, now: datetime) -> None:
        """Record the activation and its audit record."""
        ...


class PasswordDirectory(Protocol):
    async def set_password(self, username: str, password: str) -> bool: ...


class StudentActivation:
    def __init__(
        self,
        store: ActivationStore,
        directory: PasswordDirectory | None,
        codes: ActivationCodes,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        code_ttl: timedelta = CODE_TTL,
        activating_clients: frozenset[str] = ACTIVATING_CLIENTS,
    ) -> None:
        self._store = store
        self._directory = directory
        self._codes = codes
        self._clock = clock
        self._ttl = code_ttl
        self._clients = activating_clients

    async def issue(self, principal: Principal, class_code: str) -> IssuedSlips:
        principal.require_any_role(*ISSUERS)
        found = await self._store.class_accounts(class_code)
        if found is None:
            raise NotFound("no such class")
        if principal.org_unit != found.school_code:
            raise PermissionDenied("activation codes are issued by the class's own school")
        now = self._clock()
        batch = Batch(uuid4(), class_code, found.school_code, now, now + self._ttl)
        slips = [
            Slip(s.student_id, s.full_name, s.username, self._codes.new_code())
            for s in found.pending
        ]
        hashes = {s.student_id: self._codes.digest(s.login_name, s.code) for s in slips}
        await self._store.save_batch(principal, batch, hashes)
        log.info(
            "activation codes issued",
            extra={
                "batch_id": str(batch.batch_id),
                "class_code": class_code,
                "codes": len(slips),
                "without_account": found.without_account,
                "already_activated": found.already_activated,
            },
        )
        return IssuedSlips(
            batch,
            [Slip(s.student_id, s.full_name, s.login_name, format_code(s.code)) for s in slips],
            found.without_account,
            found.already_activated,
        )

    async def activate(
        self, principal: Principal, login_name: str, code: str, new_password: str
    ) -> str:
        if not (principal.is_service and principal.client_id in self._clients):
            raise PermissionDenied("activation goes through the gateway's activation route")
        if self._directory is None:
            raise FailedPrecondition("identity has no Keycloak client to set passwords with")
        username = login_name.strip().lower()
        # The password's shape first, so a refusal here says nothing about the code.
        require_password(new_password, username)
        if not LOGIN_NAME.match(username) or not normalise_code(code):
            raise PermissionDenied(REFUSED)
        state = await self._store.state(username)
        if state is None:
            raise PermissionDenied(REFUSED)
        if judge(state, code, self._clock(), self._codes) == Verdict.LOCKED:
            raise FailedPrecondition(LOCKED)
        # The attempt is counted before the code is compared: at most MAX_FAILED_ATTEMPTS
        # comparisons per slip, however many requests arrive at once.
        if not await self._store.reserve_attempt(username):
            raise FailedPrecondition(LOCKED)
        verdict = judge(state, code, self._clock(), self._codes)
        if verdict != Verdict.OK or state.code_hash is None:
            log.info("activation refused", extra={"failed_attempts": state.failed_attempts + 1})
            raise PermissionDenied(REFUSED)
        if not await self._store.claim(username, state.code_hash, self._clock()):
            raise PermissionDenied(REFUSED)  # used by a concurrent request a moment ago
        try:
            found = await self._directory.set_password(username, new_password)
        except BaseException:
            await self._store.release(username, state.code_hash)
            raise
        if not found:
            await self._store.release(username, state.code_hash)
            raise FailedPrecondition("the account is not in Keycloak yet: ask the school")
        await self._store.activated(principal, username, self._clock())
        log.info("student account activated")
        return username


def require_class_code(value: str) -> str:
    if not value or len(value) > 40:
        raise InvalidArgument("class_code", "a class code such as 3607020001-2024-01")
    return value

"""What the identity use cases need from the outside world."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol
from uuid import UUID

from identity.domain.model import Student


class StudentRepository(Protocol):
    async def by_number(self, student_number: str) -> Student | None: ...

    async def by_id(self, student_id: UUID) -> Student | None: ...

    async def add(self, student: Student) -> None: ...


class IdentityEvents(Protocol):
    """Facts identity tells the platform; stored in the same transaction as the change."""

    async def student_enrolled(self, student: Student) -> None: ...


class UnitOfWork(Protocol):
    """One transaction: what ``students`` changes and what ``events`` records commit together."""

    @property
    def students(self) -> StudentRepository: ...

    @property
    def events(self) -> IdentityEvents: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[UnitOfWork]: ...

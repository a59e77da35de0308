"""What the archive use cases need from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol
from uuid import UUID

from archives.domain.model import Archive


class ArchiveRepository(Protocol):
    async def for_student(self, student_id: UUID) -> Archive | None: ...

    async def add(self, archive: Archive) -> None: ...

    async def add_missing(self, archives: Sequence[Archive]) -> int:
        """Stores the archives whose students have none yet; returns how many it stored."""
        ...


class ArchiveReader(Protocol):
    """Read side, each call its own short transaction."""

    def __call__(self) -> AbstractAsyncContextManager[ArchiveRepository]: ...

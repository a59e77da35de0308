"""Domain errors. Domain code raises these; the gRPC layer maps them to status codes and the
gateway maps status codes to HTTP. No transport type appears here."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a use case may raise on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    """Input is malformed. ``field`` names the offending field so a form can point at it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(DomainError):
    pass


class AlreadyExists(DomainError):
    pass


class Unauthenticated(DomainError):
    pass


class PermissionDenied(DomainError):
    pass


class FailedPrecondition(DomainError):
    pass


class Unavailable(DomainError):
    """A dependency cannot be reached; the caller may retry."""

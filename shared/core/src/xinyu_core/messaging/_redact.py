"""Describe an exception without its message.

Exception messages routinely quote the data that caused them: a psycopg error shows the row, a
SQLAlchemy error the bound parameters, a validation error the offending value. Any of those can
be a child's name or ID number, so the messaging layer logs and records only the exception's type
and where it was raised, never ``str(exc)``.
"""

from __future__ import annotations

import traceback


def error_type(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def error_fields(exc: BaseException) -> dict[str, str]:
    """Log ``extra`` fields for an exception: its type and stack frames, no message text."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(
        f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}:{frame.name}"
        for frame in reversed(frames[-8:])
    )
    return {"error_type": error_type(exc), "error_where": where}

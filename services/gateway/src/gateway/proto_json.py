"""Protobuf messages as the JSON the API documents: field names as in the proto, enums as
their short lower-case names ("primary", not "SCHOOL_TYPE_PRIMARY"), maps as objects, every
field present."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message


def enum_name(descriptor: EnumDescriptor, number: int) -> str:
    """``SCHOOL_TYPE_PRIMARY`` → ``primary``; the zero value becomes an empty string."""
    if number == 0:
        return ""
    prefix = (
        "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(descriptor.name)).upper()
        + "_"
    )
    name = descriptor.values_by_number[number].name
    return name.removeprefix(prefix).lower()


def enum_number(descriptor: EnumDescriptor, short_name: str) -> int:
    """The inverse of :func:`enum_name`; unknown names are the caller's validation error."""
    for value in descriptor.values:
        if value.number and enum_name(descriptor, value.number) == short_name:
            return int(value.number)
    raise ValueError(short_name)


def _value(field: Any, value: Any) -> Any:
    # ``field`` is a FieldDescriptor from either the C (upb) or the Python implementation.
    if field.type == FieldDescriptor.TYPE_ENUM:
        return enum_name(field.enum_type, value)
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.full_name == "google.protobuf.Timestamp":
            return value.ToJsonString() if value.seconds or value.nanos else None
        return to_json(value)
    return value


def _is_map(field: Any) -> bool:
    # ``field`` as in :func:`_value`.
    return bool(
        field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry
    )


def to_json(message: Message) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if _is_map(field):
            entry = field.message_type.fields_by_name["value"]  # type: ignore[union-attr]
            result[field.name] = {key: _value(entry, item) for key, item in value.items()}
        elif field.is_repeated:
            result[field.name] = [_value(field, item) for item in value]
        elif field.type == FieldDescriptor.TYPE_MESSAGE and not message.HasField(field.name):
            result[field.name] = None
        else:
            result[field.name] = _value(field, value)
    return result

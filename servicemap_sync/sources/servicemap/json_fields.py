"""Readers of decoded-JSON fields for the Service Map parser: type checks with exact messages.

Each reader takes the JSON path of the object it reads from and raises :class:`Invalid` naming
the culprit's path (``.map.nodes.ports[0].properties.portNumber``) and what is wrong with it;
:mod:`.parse` turns that into a :class:`~servicemap_sync.errors.ParseError`. ``null`` counts as
absent everywhere, as it does in Service Map's responses. Booleans are not numbers here,
although Python's ``bool`` is an ``int``, so types are compared exactly.

:func:`usual_strings` is the one reader that never raises: the parser's shortcut for the usual
shape of an item uses it and hands anything unusual to the careful readers.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "Invalid", "as_object", "date_time", "expect_kind", "field_name", "json_type", "optional_array", "optional_int",
    "optional_object", "optional_string", "optional_strings", "required", "required_object", "required_string",
    "short", "string_array", "usual_strings",
]

_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
               float: "a number", type(None): "null"}
# Service Map writes 7 fractional digits (.NET ticks); datetime takes at most 6, and
# fromisoformat's leniency differs between Python versions, so the format is spelled out.
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)


class Invalid(Exception):
    """What is wrong and at which JSON path; the parser's public functions make a ParseError of it."""

    def __init__(self, path: str, what: str) -> None:
        super().__init__(what)
        self.path = path
        self.what = what


def field_name(path: str) -> str:
    """The path as an error's ``field``: without the leading dot, ``body`` for the root."""
    return path.lstrip(".") or "body"


def short(value: object) -> str:
    """``repr`` cut to a readable length: hostile input must not make megabyte messages."""
    text = repr(value)
    return text if len(text) <= 120 else f"{text[:117]}..."


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, with its article (``an object``, ``null``)."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


def as_object(value: object, path: str) -> dict[str, Any]:
    """``value`` itself, which must be a JSON object."""
    if type(value) is not dict:
        raise Invalid(path, f"expected an object, got {json_type(value)}")
    return value


def required(obj: dict[str, Any], key: str, path: str) -> object:
    """``obj[key]``, which must be present and not ``null``."""
    value = obj.get(key)
    if value is None:
        raise Invalid(f"{path}.{key}", "missing")
    return value


def required_object(obj: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    return as_object(required(obj, key, path), f"{path}.{key}")


def optional_object(obj: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    """``obj[key]`` if it is an object, ``{}`` if it is absent."""
    value = obj.get(key)
    return {} if value is None else as_object(value, f"{path}.{key}")


def required_string(obj: dict[str, Any], key: str, path: str) -> str:
    """``obj[key]``, a string that must be present and not empty."""
    value = optional_string(obj, key, path)
    if not value:
        raise Invalid(f"{path}.{key}", "missing" if value is None else "empty")
    return value


def optional_string(obj: dict[str, Any], key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is None or type(value) is str:
        return value
    raise Invalid(f"{path}.{key}", f"expected a string, got {json_type(value)}")


def optional_strings(obj: dict[str, Any], keys: tuple[str, ...], path: str) -> list[str | None]:
    """The optional string fields ``keys`` of ``obj``; an error names the first wrong one."""
    return [optional_string(obj, key, path) for key in keys]


def optional_int(obj: dict[str, Any], key: str, path: str) -> int | None:
    value = obj.get(key)
    if value is None or type(value) is int:
        return value
    raise Invalid(f"{path}.{key}", f"expected an integer, got {json_type(value)} {short(value)}")


def optional_array(obj: dict[str, Any], key: str, path: str) -> list[Any]:
    """``obj[key]`` if it is an array, ``[]`` if it is absent."""
    value = obj.get(key)
    if value is None:
        return []
    if type(value) is not list:
        raise Invalid(f"{path}.{key}", f"expected an array, got {json_type(value)}")
    return value


def string_array(obj: dict[str, Any], key: str, path: str) -> list[str]:
    """``obj[key]``, an array of strings (``[]`` if absent)."""
    values = optional_array(obj, key, path)
    for i, value in enumerate(values):
        if type(value) is not str:
            raise Invalid(f"{path}.{key}[{i}]", f"expected a string, got {json_type(value)}")
    return values


def usual_strings(obj: object, keys: tuple[str, ...]) -> list[str | None] | None:
    """What :func:`optional_strings` returns, with an absent ``obj`` read as ``{}``; None where
    that would raise. For the parser's shortcut, which leaves the precise error to the careful
    readers."""
    if obj is None:
        return [None] * len(keys)
    if type(obj) is not dict:
        return None
    values = []
    for key in keys:
        value = obj.get(key)
        if value is not None and type(value) is not str:
            return None
        values.append(value)
    return values


def date_time(value: object, path: str) -> datetime:
    """An aware UTC-or-offset datetime; no offset means UTC, as the spec's times are UTC."""
    if value is None:
        raise Invalid(path, "missing")
    if type(value) is not str:
        raise Invalid(path, f"expected a date-time string, got {json_type(value)}")
    match = _DATETIME.fullmatch(value)
    if match is None:
        raise Invalid(path, f"{short(value)} is not an ISO 8601 date-time")
    year, month, day, hour, minute, second, fraction, _z, sign, off_h, off_m = match.groups()
    tz = timezone.utc
    try:
        if sign:
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            tz = timezone(-offset if sign == "-" else offset)
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second),
            int((fraction or "0")[:6].ljust(6, "0")), tzinfo=tz,
        )
    except ValueError as exc:
        raise Invalid(path, f"{short(value)} is not a valid date-time ({exc})") from None


def expect_kind(obj: dict[str, Any], path: str, kind: str) -> None:
    """Refuse ``obj`` unless its ``kind`` is ``kind``."""
    raw = obj.get("kind")
    if raw != kind:
        raise Invalid(f"{path}.kind", "missing" if raw is None else f"expected {kind!r}, got {short(raw)}")

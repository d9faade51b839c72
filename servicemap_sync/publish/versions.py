"""Management-pack version numbers: parse, compare, bump.

SCOM compares versions numerically part by part and refuses to import an unsealed pack over
an installed one unless the new version is higher, so every publish bumps the revision
(the fourth part). Versions are compared as integer tuples, never as strings, because
"1.0.0.10" must sort after "1.0.0.9".
"""

from __future__ import annotations

import re

__all__ = ["FIRST_VERSION", "next_version", "version_tuple"]

FIRST_VERSION = "1.0.0.0"

# SCOM: exactly four numeric parts, each at most ten digits (System.Version also takes 2..4 parts).
_VERSION = re.compile(r"^\d{1,10}(?:\.\d{1,10}){1,3}$")


def version_tuple(version: str) -> tuple[int, ...]:
    """Return ``version`` as integers for numeric comparison.

    Args:
        version: a dotted version with two to four numeric parts, e.g. ``"1.0.0.7"``.

    Returns:
        The parts as a tuple of ints, e.g. ``(1, 0, 0, 7)``.

    Raises:
        ValueError: ``version`` is not a dotted numeric version.
    """
    if not isinstance(version, str) or not _VERSION.match(version):
        raise ValueError(f"{version!r} is not a version like 1.0.0.0")
    return tuple(int(part) for part in version.split("."))


def next_version(previous: str | None) -> str:
    """Return the version to publish after ``previous``.

    Args:
        previous: the last published version, or None if the server was never published.

    Returns:
        ``"1.0.0.0"`` for a first publish, otherwise ``previous`` with its revision plus one
        (``"1.0.0.7"`` -> ``"1.0.0.8"``).

    Raises:
        ValueError: ``previous`` does not have four numeric parts, or its revision cannot grow
            without exceeding SCOM's ten digits per part.
    """
    if previous is None:
        return FIRST_VERSION
    parts = version_tuple(previous)
    if len(parts) != 4:
        raise ValueError(f"{previous!r} does not have the four parts a management-pack version needs")
    revision = parts[3] + 1
    if len(str(revision)) > 10:
        raise ValueError(f"the revision of {previous!r} cannot grow further; raise the build number instead")
    return ".".join(str(part) for part in (*parts[:3], revision))

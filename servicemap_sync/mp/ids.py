"""Management-pack element IDs: valid, unique, short enough, and stable across runs.

SCOM accepts only ``A–Z a–z 0–9 . _`` in IDs, fewer than 256 characters, unique in the MP,
and compares them case-insensitively in practice. Class IDs are also global in the
management group, and a class ID that changes between versions is a *new* class (the old
one must be retired, see :mod:`servicemap_sync.mp.retire`), so IDs must not depend on
anything but the Service Map data itself.

Scheme (``M`` = MP ID = ``<prefix>.<server>``)::

    M.Service                                     the Distributed Application class
    M.Machine.<name> / M.Process.<name> / M.Clients.<name>   component classes
    M.Arrow.<Kind>.<name>.<Kind>.<name>.P<port>   one reference relationship per arrow
    <class ID>.Discovery, <class ID>.WindowsRollup, <class ID>.UnixRollup, M.Service.ComponentRollup
    M.ServiceContainsComponent, M.ComponentContainsWindowsComputer, M.ComponentContainsUnixComputer

Cleaning (no transliteration): runs of other characters become ``_``, a part starting with a
digit or ``_`` gets an ``x`` in front, variable parts are lower-cased (so names differing only
in case really are the same ID) and long parts are cut. A name gets a suffix ``_<8 hex>``, a
hash of its :class:`NodeKey`, when its cleaned form collides with another one in the same
namespace, when it was cut, or when cleaning left nothing of it (``???``, ``""``, ``сервер``):
the suffix depends on the node's identity only, never on the order of arrival.

The server part of the MP ID keeps the dots of the host name (``ServiceMapSync.web01.contoso.com``).
Two configured servers whose names clean to the same text (``web-01`` and ``web_01``) would
get the same MP ID; the renderer sees one server at a time and cannot tell, so the caller
must (host names cannot contain ``_``, so this needs odd input).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Mapping

from servicemap_sync.errors import RenderError
from servicemap_sync.model import NodeKey

__all__ = [
    "KIND_WORDS",
    "MAX_ID_LENGTH",
    "MAX_MP_ID_LENGTH",
    "MAX_PREFIX_LENGTH",
    "NAME_MAX",
    "arrow_id",
    "assign_names",
    "clean_part",
    "distinct_mp_id",
    "component_id",
    "group_mp_id",
    "is_valid_id",
    "mp_id",
    "service_id",
]

MAX_ID_LENGTH = 255
"""SCOM: IDs must be *fewer than* 256 characters."""

HASH_LEN = 8
NAME_MAX = 48
"""Longest name part of a component ID, suffix included."""

KIND_WORDS = {"machine": "Machine", "process": "Process", "clientGroup": "Clients", "peerGroup": "Group"}
"""The ID word for each kind of component (the server is a ``Machine``)."""

_LONGEST_KIND = max(len(w) for w in KIND_WORDS.values())
_LONGEST_SUFFIX = len(".Arrow.") + 2 * (_LONGEST_KIND + 1 + NAME_MAX) + 1 + len(".P65535")
MAX_MP_ID_LENGTH = MAX_ID_LENGTH - _LONGEST_SUFFIX
"""The MP ID leaves room for the longest element suffix (an arrow between two long names)."""

_MIN_SERVER_PART = 16
MAX_PREFIX_LENGTH = MAX_MP_ID_LENGTH - _MIN_SERVER_PART - 1
"""The longest MP ID prefix: room is left for ``.`` and a server part of 16 characters."""
_OTHER = re.compile(r"[^A-Za-z0-9_]+")
_INFORMATIVE = re.compile(r"[A-Za-z0-9]")
_VALID_PART = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def clean_part(text: str) -> str:
    """One ID part from arbitrary text: other characters → ``_``, leading letter, lower case.

    >>> clean_part("web-01.contoso")
    'web_01_contoso'
    >>> clean_part("1433")
    'x1433'
    """
    part = _OTHER.sub("_", text).lower()
    if not part or not part[0].isalpha():
        part = "x" + part
    return part


def is_valid_id(value: str) -> bool:
    """Whether ``value`` is an acceptable element ID (parts start with a letter, < 256 chars)."""
    return 0 < len(value) <= MAX_ID_LENGTH and all(_VALID_PART.fullmatch(p) for p in value.split("."))


def mp_id(prefix: str, server: str) -> str:
    """The MP ID ``<prefix>.<server>``; the server part is cleaned per dot-separated label.

    Raises:
        RenderError: the prefix is not a valid ID or leaves no room for the server name.
    """
    check_prefix(prefix)
    lowered = server.strip().lower()
    labels = [p for p in lowered.split(".") if p.strip()]
    part = ".".join(clean_part(p) for p in labels) or "x"
    budget = MAX_MP_ID_LENGTH - len(prefix) - 1
    if len(part) > budget or not _INFORMATIVE.search(server):
        part = part[: budget - HASH_LEN - 1].rstrip("._") or "x"
        part = f"{part}_{_digest(lowered, HASH_LEN)}"
    return f"{prefix}.{part}"


GROUP_WORD = "Group"
"""The part between prefix and name in a machine group's MP ID: ``<prefix>.Group.<name>``."""


def check_prefix(prefix: str) -> None:
    """Refuse a management-pack ID prefix SCOM would refuse (every pack's ID starts with it).

    Raises:
        RenderError: the prefix is not dot-separated parts of letters, digits and ``_``.
    """
    if not is_valid_id(prefix) or len(prefix) > MAX_PREFIX_LENGTH:
        raise RenderError(
            f"mp_id_prefix {prefix!r} must be dot-separated parts of letters, digits and _ that start "
            f"with a letter, at most {MAX_PREFIX_LENGTH} characters"
        )


def group_mp_id(prefix: str, group: str) -> str:
    """The MP ID ``<prefix>.Group.<name>`` of a machine group's Distributed Application.

    The group's name is cleaned into **one** part (dots too become ``_``, so a group never
    takes a server's ``<prefix>.<host>.<domain>``): ``Contoso Web Shop`` →
    ``<prefix>.Group.contoso_web_shop``. A name cleaning leaves nothing informative of, or too
    long a one, gets ``_<8 hex>`` of the name, as :func:`mp_id` does for servers.

    Raises:
        RenderError: the prefix is not a valid ID or leaves no room for the group's name.
    """
    check_prefix(prefix)
    head = prefix
    lowered = group.strip().lower()
    part = clean_part(lowered)
    budget = MAX_MP_ID_LENGTH - len(head) - len(GROUP_WORD) - 2
    if len(part) > budget or not _INFORMATIVE.search(group):
        part = part[: budget - HASH_LEN - 1].rstrip("_") or "x"
        part = f"{part}_{_digest(lowered, HASH_LEN)}"
    return f"{head}.{GROUP_WORD}.{part}"


def distinct_mp_id(prefix: str, server: str, machine: str) -> str:
    """The MP ID of a server whose plain ID (:func:`mp_id`) another server already has: the
    plain ID with ``_<8 hex>`` of the machine's identity, so it is distinct and never moves."""
    plain = mp_id(prefix, server)
    return f"{plain[: MAX_MP_ID_LENGTH - HASH_LEN - 1]}_{_digest(machine.lower(), HASH_LEN)}"


def service_id(mp: str) -> str:
    """ID of the Distributed Application class."""
    return f"{mp}.Service"


def component_id(mp: str, kind: str, name: str) -> str:
    """ID of a component class; ``kind`` is a key of :data:`KIND_WORDS`."""
    return f"{mp}.{KIND_WORDS[kind]}.{name}"


def arrow_id(mp: str, source: tuple[str, str], target: tuple[str, str], port: int | None) -> str:
    """ID of the reference relationship drawn from component ``source`` to ``target``.

    ``source``/``target`` are ``(kind, name)`` as given to :func:`component_id`; the kind words
    keep ``Process.a`` → ``Machine.b`` apart from ``Machine.a`` → ``Process.b``.
    """
    port_part = f"P{port}" if port is not None else "PAny"
    return f"{mp}.Arrow.{KIND_WORDS[source[0]]}.{source[1]}.{KIND_WORDS[target[0]]}.{target[1]}.{port_part}"


def assign_names(labels: Mapping[NodeKey, str]) -> dict[NodeKey, str]:
    """Unique ID name parts for one namespace (one component kind) of nodes.

    Args:
        labels: the human name of every node in the namespace.

    Returns:
        ``{key: name}``; each name a valid single ID part of at most :data:`NAME_MAX`
        characters, unique case-insensitively, and the same for the same input.

    Raises:
        RenderError: two names still collide after identity suffixes (needs a hash collision).
    """
    base: dict[NodeKey, str] = {}
    suffixed: set[NodeKey] = set()
    for key, label in labels.items():
        part = clean_part(label)
        if len(part) > NAME_MAX:
            part = part[: NAME_MAX - HASH_LEN - 1]
            suffixed.add(key)
        if not _INFORMATIVE.search(label):
            suffixed.add(key)
        base[key] = part
    by_part: dict[str, list[NodeKey]] = defaultdict(list)
    for key, part in base.items():
        by_part[part].append(key)
    for keys in by_part.values():
        if len(keys) > 1:
            suffixed.update(keys)
    names = {
        key: f"{part}_{_key_digest(key, HASH_LEN)}" if key in suffixed else part for key, part in base.items()
    }
    # A literal name can equal another's suffixed form ("java_1a2b3c4d"); widen both hashes.
    by_name: dict[str, list[NodeKey]] = defaultdict(list)
    for key, name in names.items():
        by_name[name].append(key)
    for keys in by_name.values():
        if len(keys) > 1:
            for key in keys:
                names[key] = f"{base[key][: NAME_MAX - 2 * HASH_LEN - 1]}_{_key_digest(key, 2 * HASH_LEN)}"
    if len(set(names.values())) != len(names):
        raise RenderError("could not make component IDs unique: " + ", ".join(sorted(names.values())))
    return names


def _key_digest(key: NodeKey, length: int) -> str:
    return _digest(f"{key.kind}\0{key.machine}\0{key.name}", length)


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]

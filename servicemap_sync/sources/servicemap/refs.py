"""Service Map ResourceReferences → node keys: the ``ref:*`` objects edges and nodes point with.

Split from :mod:`.parse` because every edge holds two or three references: the *usual* reader
(:func:`usual_ref`) takes the shape Service Map nearly always sends without building JSON
paths; :func:`ref_key_at` accepts the odd-but-valid forms (no ``kind``, no ``name``, ids in any
of the three published forms) and names the culprit of a broken reference.
"""

from __future__ import annotations

from typing import Any

from ...model import NodeKey, machine_key, make_key
from .json_fields import Invalid, as_object, json_type, optional_object, optional_string, required_string, short

__all__ = ["from_id", "machine_ref_name", "owner_and_name", "ref_key_at", "usual_owner", "usual_ref"]

_REF_KINDS = {
    "ref:machine": "machine",
    "ref:machinewithhints": "machine",
    "ref:process": "process",
    "ref:port": "port",
    "ref:clientgroup": "clientGroup",
}
_CHILD_SEGMENTS = {"processes": "process", "ports": "port"}


def usual_ref(value: object) -> tuple[str, str, str] | None:
    """The (kind, machine, name) of a :class:`NodeKey` for a reference in the usual shape: kind,
    id and name set, and a process or port owned through a complete machine reference."""
    if type(value) is not dict:
        return None
    kind, resource_id, name = value.get("kind"), value.get("id"), value.get("name")
    if type(resource_id) is not str or not resource_id or type(name) is not str or not name:
        return None
    if kind == "ref:process" or kind == "ref:port":
        props = value.get("properties")
        owner = usual_owner(props.get("machine")) if type(props) is dict else None
        return None if owner is None else (_REF_KINDS[kind], owner.lower(), name.lower())
    if kind == "ref:machine":
        low = name.lower()
        return "machine", low, low
    if kind == "ref:clientgroup":
        return "clientGroup", _group_owner(name), name.lower()
    return None


def usual_owner(ref: object) -> str | None:
    """The name in a machine reference with kind, id and name set."""
    if type(ref) is not dict or ref.get("kind") != "ref:machine":
        return None
    resource_id, name = ref.get("id"), ref.get("name")
    if type(resource_id) is not str or not resource_id or type(name) is not str or not name:
        return None
    return name


def ref_key_at(value: object, path: str) -> NodeKey:
    usual = usual_ref(value)
    if usual is not None:
        return make_key(usual)
    ref = as_object(value, path)
    resource_id = required_string(ref, "id", path)
    name = optional_string(ref, "name", path) or None
    kind = _ref_kind(ref, resource_id, path)
    if kind == "machine":
        return machine_key(name if name is not None else from_id(resource_id, kind, path)[1])
    if kind == "clientGroup":
        name = name if name is not None else from_id(resource_id, kind, path)[1]
        return NodeKey(kind, _group_owner(name), name.lower())
    owner, name = owner_and_name(kind, resource_id, name, optional_object(ref, "properties", path), path)
    return NodeKey(kind, owner.lower(), name.lower())


def _group_owner(name: str) -> str:
    """The machine of a client group, lower-cased, from the ``m!{machine}…`` form of its name."""
    return name[2:].split("!", 1)[0].lower() if name.startswith(("m!", "M!")) else ""


def _ref_kind(ref: dict[str, Any], resource_id: str, path: str) -> str:
    """The node kind a reference points at: from ``kind``, or from the id's shape when ``kind``
    is absent or one the parser does not know (``ref:onmachine``, future kinds)."""
    raw = ref.get("kind")
    if raw is not None and not isinstance(raw, str):
        raise Invalid(f"{path}.kind", f"expected a string, got {json_type(raw)}")
    kind = _REF_KINDS.get(raw) if raw is not None else None
    if kind is not None:
        return kind
    parsed = _id_parts(resource_id)
    if parsed is None:
        what = "missing" if raw is None else f"unknown reference kind {short(raw)}"
        raise Invalid(f"{path}.kind", f"{what}, and id {short(resource_id)} does not say what it points at")
    return parsed[0]


def machine_ref_name(value: object, path: str) -> str:
    """The name in a machine reference (``ref:machine``, ``ref:machinewithhints``, or no kind and
    a machine id), from ``name`` or else from the id; not recursive: a machine has no owner."""
    ref = as_object(value, path)
    resource_id = required_string(ref, "id", path)
    kind = _ref_kind(ref, resource_id, path)
    if kind != "machine":
        raise Invalid(path, f"expected a machine reference, got a {kind}")
    return optional_string(ref, "name", path) or from_id(resource_id, "machine", path)[1]


def _id_parts(resource_id: str) -> tuple[str, str, str] | None:
    """(kind, owning machine, name) from an id's trailing segments, in any of the three forms."""
    parts = resource_id.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-4].lower() == "machines" and parts[-3] and parts[-1]:
        kind = _CHILD_SEGMENTS.get(parts[-2].lower())
        if kind is not None:
            return kind, parts[-3], parts[-1]
    if len(parts) >= 2 and parts[-1]:
        container = parts[-2].lower()
        if container == "machines":
            return "machine", parts[-1], parts[-1]
        if container == "clientgroups":
            return "clientGroup", "", parts[-1]
    return None


def from_id(resource_id: str, kind: str, path: str, *, lacking: str = "name") -> tuple[str, str]:
    """(owning machine, name) of a ``kind`` resource from its id, when ``lacking`` is not given otherwise."""
    parsed = _id_parts(resource_id)
    if parsed is None or parsed[0] != kind:
        raise Invalid(f"{path}.id", f"no {lacking} given, and id {short(resource_id)} does not name a {kind}")
    return parsed[1], parsed[2]


def owner_and_name(kind: str, resource_id: str, name: str | None, props: dict[str, Any], path: str) -> tuple[str, str]:
    """(owning machine, name) of a process or port: the owner from ``properties.machine``, the
    name from ``name``, and either from the id when not given."""
    owner_ref = props.get("machine")
    owner = None if owner_ref is None else machine_ref_name(owner_ref, f"{path}.properties.machine")
    if owner is None or name is None:
        id_owner, id_name = from_id(resource_id, kind, path, lacking="name" if name is None else "properties.machine")
        owner = id_owner if owner is None else owner
        name = id_name if name is None else name
    return owner, name

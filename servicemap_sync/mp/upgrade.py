"""Will SCOM accept this MP over the version already imported?

SCOM runs an upgrade-compatibility check on Public types even for unsealed MPs
(guide §6: deleting group classes failed with "… is not upgrade compatible with older
version …", OpsMgr SDK event 26319). :func:`check_upgrade` emulates it so the renderer can
refuse to write an MP that would not import over the previous one:

* same MP ID, and a strictly higher version (compared number by number);
* every Public ClassType and RelationshipType of the old MP still exists in the new one,
  still Public, with the same Base, Abstract, Hosted and Singleton (absent Hosted /
  Singleton mean false) and — for relationships — the same Source and Target types;
* no class or relationship property removed, retyped or changed to/from a key.

References are compared by what they point at (``MP ID!element``), so renaming an alias
between versions is not a change.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from servicemap_sync.mp.mp_index import (
    SCOM, MpIndex, Problem, child_text, children, end_type, index_document, parse_version, where,
)

_FLAGS = (("Abstract", None), ("Hosted", "false"), ("Singleton", "false"))
_Emit = Callable[[etree._Element, str], None]


def check_upgrade(old: etree._Element, new: etree._Element) -> list[Problem]:
    """Problems that would make SCOM refuse ``new`` over ``old`` (scope scom, rule upgrade).

    Args:
        old: root of the MP as imported (or last written).
        new: root of the MP about to be written.

    Returns:
        Sorted problems; empty when the upgrade is compatible.
    """
    before, after = index_document(old, scan_uses=False), index_document(new, scan_uses=False)
    problems: set[Problem] = set()

    def emit(el: etree._Element, message: str) -> None:
        problems.add(Problem(SCOM, "upgrade", where(el), message))

    if before.mp_id != after.mp_id:
        emit(_identity(after), f"MP ID '{after.mp_id}' differs from the imported '{before.mp_id}'")
        return sorted(problems)
    old_version, new_version = _version(before), _version(after)
    old_parts, new_parts = parse_version(old_version), parse_version(new_version)
    if old_parts is None or new_parts is None or new_parts <= old_parts:
        emit(_identity(after), f"version {new_version} must be higher than the imported {old_version}")
    for tag in ("ClassType", "RelationshipType"):
        for old_el in before.tagged(tag):
            if old_el.get("Accessibility") == "Public":
                _compare(before, after, old_el, emit)
    return sorted(problems)


def _identity(index: MpIndex) -> etree._Element:
    return index.root if index.identity is None else index.identity


def _version(index: MpIndex) -> str | None:
    identity = _identity(index)
    return None if identity is index.root else child_text(identity, "Version")


def _resolve(index: MpIndex, value: str | None) -> str | None:
    """``Alias!X`` → ``MP ID!X``; a local ``X`` → ``this MP ID!X``."""
    if not value:
        return value
    alias, bang, name = value.partition("!")
    if not bang:
        return f"{index.mp_id}!{value}"
    return f"{index.alias_targets().get(alias, alias + '?')}!{name}"


def _properties(el: etree._Element) -> dict[str, tuple[str | None, str]]:
    return {p.get("ID", ""): (p.get("Type"), p.get("Key", "false")) for p in children(el) if p.tag == "Property"}


def _compare(before: MpIndex, after: MpIndex, old_el: etree._Element, emit: _Emit) -> None:
    tag, el_id = old_el.tag, old_el.get("ID", "")
    new_el = after.elements.get(el_id)
    if new_el is None or new_el.tag != tag:
        emit(old_el, f"Public {tag} '{el_id}' was removed; keep it (empty) or delete the MP first")
        return
    if new_el.get("Accessibility") != "Public":
        emit(new_el, f"'{el_id}' was Public and must stay Public")
    changes = []
    if _resolve(before, old_el.get("Base")) != _resolve(after, new_el.get("Base")):
        changes.append(f"Base {old_el.get('Base')} -> {new_el.get('Base')}")
    for attr, default in _FLAGS:
        if old_el.get(attr, default) != new_el.get(attr, default):
            changes.append(f"{attr} {old_el.get(attr, default)} -> {new_el.get(attr, default)}")
    if tag == "RelationshipType":
        for end in ("Source", "Target"):
            if _resolve(before, end_type(old_el, end)) != _resolve(after, end_type(new_el, end)):
                changes.append(f"{end} type {end_type(old_el, end)} -> {end_type(new_el, end)}")
    if changes:
        emit(new_el, f"'{el_id}' changed: {'; '.join(changes)}")
    new_props = _properties(new_el)
    for prop, (prop_type, key) in sorted(_properties(old_el).items()):
        if prop not in new_props:
            emit(new_el, f"property '{prop}' of '{el_id}' was removed")
        elif new_props[prop] != (prop_type, key):
            emit(new_el, f"property '{prop}' of '{el_id}' changed from Type={prop_type} Key={key} "
                         f"to Type={new_props[prop][0]} Key={new_props[prop][1]}")

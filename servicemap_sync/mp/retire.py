"""Carry the previous version's public types forward so SCOM accepts the new one as an upgrade.

SCOM refuses a version that drops or changes a public ClassType or RelationshipType of the
version it has (guide §6, event 26319). When a peer, process or arrow disappears from Service
Map, its class or relationship type therefore stays in the MP, byte-for-byte the previous
definition, but *retired*: no membership rule puts it in the Distributed Application, no rule
creates its arrow instances, no monitor targets it, and its display name says "(retired)".
A retired type is carried forward from version to version (each previous MP holds it) and
becomes active again, under the same ID, if the node comes back (IDs depend on Service Map
identity only, see :mod:`servicemap_sync.mp.ids`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from lxml import etree

from servicemap_sync.errors import RenderError

__all__ = ["PARSER", "RETIRED_MARK", "Retired", "parse_previous", "retire"]

RETIRED_MARK = " (retired)"

PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
    remove_blank_text=True, remove_comments=True,
)
"""Safe parser for management-pack XML we read back (our templates, our previous output):
no DTD, no entity expansion, no network; blank text dropped so output re-indents cleanly."""


@dataclass(frozen=True, slots=True)
class Retired:
    """Public types of the previous version that the new graph no longer has."""

    classes: tuple[etree._Element, ...]
    relationships: tuple[etree._Element, ...]
    names: dict[str, str]
    """Display name (already marked retired) of every retired element, by ID."""

    @property
    def class_ids(self) -> frozenset[str]:
        return frozenset(el.get("ID") for el in self.classes)


def parse_previous(data: bytes, mp_id: str) -> etree._Element:
    """Parse the last published MP (no DTD, no entities, no network).

    Raises:
        RenderError: it is not XML, or it is another management pack.
    """
    try:
        root = etree.fromstring(data, PARSER)
    except etree.XMLSyntaxError as exc:
        raise RenderError(f"{mp_id}: the previous management pack is not well-formed XML: {exc}") from exc
    found = root.findtext("Manifest/Identity/ID")
    if root.tag != "ManagementPack" or found != mp_id:
        raise RenderError(f"{mp_id}: the previous management pack is {found!r}, not this one")
    return root


def retire(previous: etree._Element, active_ids: set[str]) -> Retired:
    """The previous public types whose IDs are not in ``active_ids``, as copies to re-insert.

    Args:
        previous: the previous MP (from :func:`parse_previous`).
        active_ids: every ClassType and RelationshipType ID the new graph renders.
    """
    entity = previous.find("TypeDefinitions/EntityTypes")
    names = _display_names(previous)
    found: dict[str, list[etree._Element]] = {"ClassTypes": [], "RelationshipTypes": []}
    retired_names: dict[str, str] = {}
    if entity is not None:
        for section, items in found.items():
            container = entity.find(section)
            for element in container if container is not None else ():
                element_id = element.get("ID")
                if element.get("Accessibility") != "Public" or element_id in active_ids:
                    continue
                kept = copy.deepcopy(element)
                kept.tail = None
                items.append(kept)
                name = names.get(element_id, element_id)
                retired_names[element_id] = name if name.endswith(RETIRED_MARK) else name + RETIRED_MARK
    return Retired(
        classes=tuple(found["ClassTypes"]),
        relationships=tuple(found["RelationshipTypes"]),
        names=retired_names,
    )


def _display_names(root: etree._Element) -> dict[str, str]:
    """ENU (else default) display names by element ID."""
    packs = root.findall("LanguagePacks/LanguagePack")
    pack = next((p for p in packs if p.get("ID") == "ENU"), None)
    pack = pack if pack is not None else next((p for p in packs if p.get("IsDefault") == "true"), None)
    if pack is None:
        return {}
    return {
        ds.get("ElementID"): (ds.findtext("Name") or ds.get("ElementID"))
        for ds in pack.iterfind("DisplayStrings/DisplayString")
    }

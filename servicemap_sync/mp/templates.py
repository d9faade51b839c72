"""The XML in ``mp_templates``: the MP skeleton and prototypes of the repeated elements.

All SCOM vocabulary the renderer writes lives in those files, not in Python strings: the
skeleton (``distributed_application.xml``: root and namespaces, Manifest with References,
the fixed relationship types, the DA discovery and rollup, the language pack) and one
prototype per repeated element (``elements.xml``). Both are parsed once per process with the
safe parser; every render deep-copies them and fills values through lxml, which escapes them.
Deep-copying a prototype is also several times faster than building the same subtree with
``SubElement`` calls, which matters for maps with ten thousand arrows.
"""

from __future__ import annotations

import copy
import importlib.resources
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from servicemap_sync.mp.retire import PARSER

__all__ = ["ELEMENTS", "SKELETON", "Prototype", "prototypes", "skeleton"]

SKELETON = "distributed_application.xml"
ELEMENTS = "elements.xml"
_MP_TOKEN = "${MP}"
_ANCHOR = "slot"

Path = tuple[int, ...]


def _load(name: str) -> etree._Element:
    data = importlib.resources.files("servicemap_sync.mp_templates").joinpath(name).read_bytes()
    return etree.fromstring(data, PARSER)


@lru_cache(maxsize=1)
def _skeleton_template() -> etree._Element:
    return _load(SKELETON)


def skeleton(mp_id: str, version: str) -> etree._Element:
    """A fresh MP tree: the skeleton with ``${MP}`` replaced by ``mp_id`` and the version set."""
    root = copy.deepcopy(_skeleton_template())
    for element in root.iter():
        if element.text and _MP_TOKEN in element.text:
            element.text = element.text.replace(_MP_TOKEN, mp_id)
        for name, value in element.attrib.items():
            if _MP_TOKEN in value:
                element.set(name, value.replace(_MP_TOKEN, mp_id))
    root.find("Manifest/Identity/Version").text = version
    return root


@dataclass(frozen=True, slots=True)
class Prototype:
    """One repeated element: its tree, where its value slots are, and where children go."""

    element: etree._Element
    texts: tuple[tuple[Path, str], ...]
    attributes: tuple[tuple[Path, str, str], ...]
    anchors: dict[str, Path]

    def make(self, **values: str) -> etree._Element:
        """A copy with every slot set; raises KeyError if a slot has no value."""
        made = self.element.__copy__()  # lxml copies the whole subtree; copy.deepcopy only adds overhead
        for path, slot in self.texts:
            _at(made, path).text = values[slot]
        for path, attribute, slot in self.attributes:
            _at(made, path).set(attribute, values[slot])
        return made

    def anchor(self, made: etree._Element, name: str) -> etree._Element:
        """The element of ``made`` marked ``slot="name"`` in the prototype."""
        return _at(made, self.anchors[name])


@lru_cache(maxsize=1)
def prototypes() -> dict[str, Prototype]:
    """Every prototype of ``elements.xml`` by name."""
    found: dict[str, Prototype] = {}
    for holder in _load(ELEMENTS):
        element = holder[0]
        texts: list[tuple[Path, str]] = []
        attributes: list[tuple[Path, str, str]] = []
        anchors: dict[str, Path] = {}
        _scan(element, (), texts, attributes, anchors)
        found[holder.get("name")] = Prototype(element, tuple(texts), tuple(attributes), anchors)
    return found


def _scan(element: etree._Element, path: Path, texts: list, attributes: list, anchors: dict) -> None:
    slot = _slot(element.text)
    if slot:
        texts.append((path, slot))
    anchor = element.attrib.pop(_ANCHOR, None)
    if anchor:
        anchors[anchor] = path
    for name, value in element.attrib.items():
        slot = _slot(value)
        if slot:
            attributes.append((path, name, slot))
    for index, child in enumerate(element):
        _scan(child, (*path, index), texts, attributes, anchors)


def _slot(value: str | None) -> str | None:
    """``name`` for a value that is exactly ``${name}``."""
    if value and value.startswith("${") and value.endswith("}"):
        return value[2:-1]
    return None


def _at(element: etree._Element, path: Path) -> etree._Element:
    for index in path:
        element = element[index]
    return element

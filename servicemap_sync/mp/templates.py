"""The XML in ``mp_templates``: the MP skeleton and prototypes of the repeated elements.

All SCOM vocabulary the renderer writes lives in those files, not in Python strings: the
skeleton (``distributed_application.xml``: root and namespaces, Manifest with References,
the fixed relationship types, the language pack with the fixed display strings) and one
prototype per repeated element (``elements.xml``), the DA's own discovery and rollup included. Both are parsed once per process with the
safe parser; every render deep-copies the skeleton and makes the repeated elements as copies of
the prototypes (:class:`Filler`), with the values set through lxml, which escapes them.
Copying a prototype is about twice as fast as building the same subtree with ``SubElement``
calls, and copying a whole batch of filled prototypes in one call faster still, which matters
for maps with ten thousand arrows.
"""

from __future__ import annotations

import copy
import re
import importlib.resources
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice

from lxml import etree

from servicemap_sync.mp.retire import PARSER

__all__ = ["ELEMENTS", "SKELETON", "Filler", "Prototype", "prototypes", "skeleton"]

SKELETON = "distributed_application.xml"
ELEMENTS = "elements.xml"
_MP_TOKEN = "${MP}"
_ANCHOR = "slot"
_BATCH = 64  # rows per copied batch: large enough that one lxml call copies many elements

Path = tuple[int, ...]


def load_template(name: str) -> etree._Element:
    """The parsed template ``name`` of ``mp_templates/`` (callers copy it before changing it)."""
    data = importlib.resources.files("servicemap_sync.mp_templates").joinpath(name).read_bytes()
    return etree.fromstring(data, PARSER)


@lru_cache(maxsize=1)
def _skeleton_template() -> etree._Element:
    return load_template(SKELETON)


def skeleton(mp_id: str, version: str) -> etree._Element:
    """A fresh MP tree: the skeleton with ``${MP}`` replaced by ``mp_id`` and the version set."""
    root = copy.deepcopy(_skeleton_template())
    fill_tokens(root, {_MP_TOKEN: mp_id})
    root.find("Manifest/Identity/Version").text = version
    return root


def fill_tokens(root: etree._Element, values: dict[str, str]) -> None:
    """Replace each ``${TOKEN}`` of ``values`` in every text and attribute value (lxml escapes on output)."""
    pattern = re.compile("|".join(re.escape(token) for token in values))

    def fill(text: str) -> str:
        return pattern.sub(lambda m: values[m.group(0)], text)

    for element in root.iter(etree.Element):
        if element.text and "${" in element.text:
            element.text = fill(element.text)
        for name, value in element.attrib.items():
            if "${" in value:
                element.set(name, fill(value))


@dataclass(frozen=True, slots=True)
class Prototype:
    """One repeated element as parsed (shared, never changed): its tree, where its value slots
    are, and where children go. Elements are made through a :class:`Filler`."""

    element: etree._Element
    texts: tuple[tuple[Path, str], ...]
    attributes: tuple[tuple[Path, str, str], ...]
    anchors: dict[str, Path]

    def filler(self, slots: Sequence[str]) -> Filler:
        """A :class:`Filler` taking each element's values in the order of ``slots``.

        Raises:
            ValueError: ``slots`` does not name every slot of the prototype exactly once.
        """
        return Filler(self, slots)

    def anchor(self, made: etree._Element, name: str) -> etree._Element:
        """The element of ``made`` marked ``slot="name"`` in the prototype."""
        return _at(made, self.anchors[name])


class Filler:
    """Makes filled copies of one prototype, a batch at a time; one per render (not thread-safe).

    Each row of values is set into a private working copy of the prototype through handles to
    its slot elements taken once, and a batch of working copies, held in one container, is
    copied in one lxml call. Copying one element at a time would cost a walk into every copy
    per slot and a temporary document per element, and would scatter the tree in memory; a
    batch is allocated in one piece, in the order the renderer writes the tree, which also
    keeps the finished tree quick to serialise and to free.
    """

    __slots__ = ("_attributes", "_element", "_handles", "_texts", "_work")

    def __init__(self, prototype: Prototype, slots: Sequence[str]) -> None:
        named = [slot for _path, slot in prototype.texts] + [slot for _path, _name, slot in prototype.attributes]
        if sorted(named) != sorted(slots):
            raise ValueError(f"slots {sorted(slots)} do not match the prototype's {sorted(named)}")
        index = {slot: position for position, slot in enumerate(slots)}
        self._texts = tuple((path, index[slot]) for path, slot in prototype.texts)
        self._attributes = tuple((path, name, index[slot]) for path, name, slot in prototype.attributes)
        self._element = prototype.element
        self._work = etree.Element("Batch")
        self._handles: list[tuple[tuple[tuple[etree._Element, int], ...], tuple[tuple[Callable, str, int], ...]]] = []

    def make(self, rows: Iterable[Sequence[str]]) -> Iterator[etree._Element]:
        """One filled copy per row of values, in order; each is a child of a batch container
        until the caller appends it where it belongs."""
        rows = iter(rows)
        while batch := list(islice(rows, _BATCH)):
            yield from self._copy(batch)

    def _copy(self, rows: list[Sequence[str]]) -> etree._Element:
        """A batch container holding one filled copy per row."""
        handles = self._handles
        while len(handles) < len(rows):
            element = self._element.__copy__()  # lxml copies the whole subtree
            self._work.append(element)
            handles.append((
                tuple((_at(element, path), index) for path, index in self._texts),
                tuple((_at(element, path).set, name, index) for path, name, index in self._attributes),
            ))
        for (texts, attributes), row in zip(handles, rows):
            for element, index in texts:
                element.text = row[index]
            for set_attribute, name, index in attributes:
                set_attribute(name, row[index])
        copied = self._work.__copy__()
        del copied[len(rows):]
        return copied


@lru_cache(maxsize=1)
def prototypes() -> dict[str, Prototype]:
    """Every prototype of ``elements.xml`` by name."""
    found: dict[str, Prototype] = {}
    for holder in load_template(ELEMENTS):
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

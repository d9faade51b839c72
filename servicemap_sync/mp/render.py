"""One server's graph as an importable SCOM Distributed Application management pack.

Model (guide §3/§4; boxes and arrows are decided in :mod:`servicemap_sync.mp.diagram`):

* ``M.Service``: the Distributed Application, a concrete singleton on
  ``SD!…ServiceDesigner.GenericService``; as a ``System.Service`` it appears in SCOM's own
  *Distributed Applications* view, where its diagram opens. There is **no Folder and no View**:
  one folder per server at the root of the Monitoring pane is what users do not want, and a
  view outside any folder shows nowhere.
* One concrete singleton class per box on ``SD!…ServiceComponentGroup``.
* Fixed relationship types (in the template): DA contains component, component contains
  Windows computer, component contains UNIX/Linux computer (all ``System.Containment``).
* **Arrows: one** ``System.Reference`` **relationship type per arrow** (source box class →
  target box class), because the diagram can only name an arrow by its relationship type,
  and a single shared type could not carry "w3wp on web01 → sqlservr on sql01 :1433". Its
  instance is created by the source box's GroupPopulator discovery (MembershipRule with
  MonitoringClass = target box class, RelationshipClass = that arrow type), as the designer does.
* Membership by GroupPopulator discoveries with ``Expression`` on ``PrincipalName`` — never
  GUIDs: the DA discovery adds every active box; each box with a member or outgoing arrows
  has one discovery for both.
* Health: DependencyMonitors (availability, WorstOf, MemberUnAvailable = Error) DA → boxes
  (template) and box → member computer, so the diagram shows colour.

All XML comes from ``mp_templates`` (:mod:`servicemap_sync.mp.templates`): the skeleton and
prototypes of the repeated elements, deep-copied and filled through lxml, which escapes every
value. Sections are sorted by ID and nothing time-dependent is written: same graph and version
→ same bytes.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter

import networkx as nx
from lxml import etree

from servicemap_sync.errors import RenderError, ValidationError
from servicemap_sync.mp.diagram import Arrow, Component, Diagram, build_diagram
from servicemap_sync.mp.mp_index import where
from servicemap_sync.mp.retire import Retired, parse_previous, retire
from servicemap_sync.mp.templates import prototypes, skeleton
from servicemap_sync.mp.validate import HOUSE, Problem, check_upgrade, validate_document

__all__ = ["RenderedMP", "render_management_pack"]

logger = logging.getLogger(__name__)

_VERSION = re.compile(r"\d{1,10}(?:\.\d{1,10}){3}")
_XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'
_COMPUTERS = {"Windows": "Windows!Microsoft.Windows.Computer", "Unix": "Unix!Microsoft.Unix.Computer"}
_COMPUTER_NAMES = {"Windows": "Windows computer", "Unix": "UNIX/Linux computer"}
_RETIRED_DESCRIPTION = (
    "No longer in the Service Map data. Kept, outside the Distributed Application, only so that "
    "SCOM accepts this version as an upgrade of the previous one."
)


@dataclass(frozen=True)
class RenderedMP:
    """A rendered, validated management pack and what it shows.

    ``content_hash`` is the SHA-256 of the XML without the identity version, so the same
    content hashes the same whatever version it was stamped with. ``components`` maps each
    active box's class ID to its label; ``arrows`` holds ``(from class ID, to class ID, port
    label)`` with the port label ``":1433"`` (``""`` if Service Map gave none); ``retired``
    holds the component class IDs kept only for upgrade safety.
    """

    mp_id: str
    filename: str
    xml: bytes
    content_hash: str
    components: dict[str, str]
    arrows: frozenset[tuple[str, str, str]]
    retired: frozenset[str]


def render_management_pack(
    graph: nx.MultiDiGraph, *, mp_id_prefix: str, version: str, previous: bytes | None = None
) -> RenderedMP:
    """Render and validate the Distributed Application MP of one server's graph.

    Args:
        graph: from :func:`servicemap_sync.graph.build_graph`.
        mp_id_prefix: first part(s) of the MP ID, e.g. ``ServiceMapSync``.
        version: ``a.b.c.d``; the caller makes it increase between publications.
        previous: the last published XML of this MP; its public types that the graph no
            longer has are carried forward, retired (:mod:`servicemap_sync.mp.retire`).

    Returns:
        The :class:`RenderedMP`, named ``<MP ID>.xml``.

    Raises:
        RenderError: bad version or prefix, unusable previous MP, IDs not unique.
        ValidationError: the document breaks SCOM's or our rules, or is no upgrade of ``previous``.
    """
    if not _VERSION.fullmatch(version):
        raise RenderError(f"version {version!r} is not four numbers a.b.c.d of at most 10 digits")
    diagram = build_diagram(graph, mp_id_prefix=mp_id_prefix)
    mp_id = diagram.mp_id
    filename = f"{mp_id}.xml"
    root = skeleton(mp_id, version)

    old: etree._Element | None = None
    retired = Retired((), (), {})
    if previous is not None:
        old = parse_previous(previous, mp_id)
        retired = retire(old, _type_ids(root, diagram))
    _Document(root, mp_id, retired).add_diagram(diagram)

    problems = _without_retirement(validate_document(root, filename=filename, house_rules=True), retired.classes)
    if old is not None:
        problems.extend(check_upgrade(old, root))
    if problems:
        shown = "; ".join(f"{p.element}: {p.message}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ValidationError(f"{mp_id}: {len(problems)} problem(s): {shown}{more}", problems)

    xml = _XML_DECLARATION + etree.tostring(root, encoding="utf-8", pretty_print=True)
    start = xml.index(b"<Version>")  # the identity's: Identity comes before References
    end = xml.index(b"</Version>", start) + len(b"</Version>")
    view = memoryview(xml)
    content_hash = hashlib.sha256(view[:start])
    content_hash.update(view[end:])
    logger.info(
        "%s: %d components, %d arrows, %d retired types",
        mp_id, len(diagram.components), len(diagram.arrows), len(retired.names),
    )
    return RenderedMP(
        mp_id=mp_id,
        filename=filename,
        xml=xml,
        content_hash=content_hash.hexdigest(),
        components={c.id: c.label for c in diagram.components},
        arrows=frozenset((a.source, a.target, a.port) for a in diagram.arrows),
        retired=retired.class_ids,
    )


def _type_ids(root: etree._Element, diagram: Diagram) -> set[str]:
    """Every ClassType and RelationshipType ID the new version defines as active."""
    fixed = root.find("TypeDefinitions/EntityTypes")
    found = {element.get("ID") for section in fixed for element in section}
    found.update(c.id for c in diagram.components)
    found.update(a.id for a in diagram.arrows)
    return found


def _without_retirement(problems: list[Problem], retired: tuple[etree._Element, ...]) -> list[Problem]:
    """Drop the house ``da-shape`` findings that retirement causes on purpose.

    The house rules want every component class in the DA; a retired one is deliberately out
    of it. Only findings located exactly at a retired class element are dropped.
    """
    if not retired:
        return problems
    at_retired = {where(element) for element in retired}
    return [p for p in problems if not (p.scope == HOUSE and p.rule == "da-shape" and p.element in at_retired)]


def _ref(element_id: str) -> str:
    return f'$MPElement[Name="{element_id}"]$'


class _Sink:
    """Appends elements to one section in ID order, merging in those that are already known.

    The renderer emits each section's elements in ID order (see :meth:`_Document.add_diagram`),
    so merging the few template and retired elements in as it goes keeps the section sorted
    without holding every new element in Python; should an ID ever arrive out of order, the
    section is sorted once at the end instead.
    """

    def __init__(self, container: etree._Element, attr: str, extra: Iterable[etree._Element] = ()) -> None:
        self._container = container
        self._attr = attr
        present = list(container)
        for element in present:
            container.remove(element)
        known = [*present, *extra]
        self._queue = sorted(((e.get(attr), e) for e in known), key=itemgetter(0), reverse=True)
        self._last = ""
        self._sorted = True

    def emit(self, key: str, element: etree._Element) -> etree._Element:
        queue = self._queue
        while queue and queue[-1][0] < key:
            self._container.append(queue.pop()[1])
        if key < self._last:
            self._sorted = False
        self._last = key
        self._container.append(element)
        return element

    def close(self) -> None:
        while self._queue:
            self._container.append(self._queue.pop()[1])
        if not self._sorted:
            self._container[:] = sorted(self._container, key=lambda e: e.get(self._attr))


class _Document:
    """Fills one MP tree from a diagram with elements made from the prototypes."""

    def __init__(self, root: etree._Element, mp_id: str, retired: Retired) -> None:
        self.mp_id = mp_id
        self.proto = prototypes()
        entity = root.find("TypeDefinitions/EntityTypes")
        discoveries = root.find("Monitoring/Discoveries")
        self.service_rules = discoveries.find("Discovery/DataSource/MembershipRules")
        retired_strings = [
            self.proto["display_described"].make(id=element_id, name=name, description=_RETIRED_DESCRIPTION)
            for element_id, name in retired.names.items()
        ]
        self.classes = _Sink(entity.find("ClassTypes"), "ID", retired.classes)
        self.relationships = _Sink(entity.find("RelationshipTypes"), "ID", retired.relationships)
        self.discoveries = _Sink(discoveries, "ID")
        self.monitors = _Sink(root.find("Monitoring/Monitors"), "ID")
        self.strings = _Sink(root.find("LanguagePacks/LanguagePack/DisplayStrings"), "ElementID", retired_strings)
        self.contains = _ref(f"{mp_id}.ServiceContainsComponent")
        self.member_rel = {os: f"{mp_id}.ComponentContains{os}Computer" for os in _COMPUTERS}

    def add_diagram(self, diagram: Diagram) -> None:
        """Emit everything in ID order: ``M``, ``M.Arrow.*``, the boxes, then ``M.Service``.

        Box IDs (``M.Clients|Machine|Process.<name>``) sort between the two, and the IDs derived
        from a box (``<box>.Discovery``, ``<box>.UnixRollup``…) sort right after it, since ``.``
        sorts before every other ID character and names have no dots.
        """
        self.display(
            self.mp_id,
            f"Service Map: {diagram.server}",
            f"Distributed Application of {diagram.server} and its dependencies, generated by "
            "servicemap-sync from Azure Service Map. Regenerated on every sync: do not edit.",
        )
        outgoing: dict[str, list[Arrow]] = {}
        for arrow in diagram.arrows:
            outgoing.setdefault(arrow.source, []).append(arrow)
            self.relationships.emit(
                arrow.id, self.proto["arrow"].make(id=arrow.id, source=arrow.source, target=arrow.target))
            self.display(arrow.id, arrow.label)
        for component in diagram.components:
            self.add_component(component, outgoing.get(component.id, []))
        self.display(
            diagram.service_id,
            f"{diagram.server} (Service Map)",
            f"{diagram.server}, its processes, the machines they talk to and their clients, from Service Map.",
        )
        for sink in (self.classes, self.relationships, self.discoveries, self.monitors, self.strings):
            sink.close()

    def add_component(self, component: Component, arrows: list[Arrow]) -> None:
        proto = self.proto
        self.classes.emit(component.id, proto["component"].make(id=component.id))
        self.display(component.id, component.label, component.description)
        self.service_rules.append(
            proto["rule"].make(monitoring_class=_ref(component.id), relationship=self.contains))

        member = component.member
        wanted = {"Unix": bool(member and member.unix), "Windows": bool(member and member.windows)}
        systems = [os for os in ("Unix", "Windows") if wanted[os]]  # in ID order
        if not systems and not arrows:
            return
        discovery_id = f"{component.id}.Discovery"
        discovery = self.discoveries.emit(
            discovery_id, proto["discovery"].make(id=discovery_id, target=component.id))
        self.display(discovery_id, f"Service Map members and arrows of {component.label}")
        types = proto["discovery"].anchor(discovery, "types")
        rules = proto["discovery"].anchor(discovery, "rules")
        for os in systems:
            types.append(proto["discovery_type"].make(type=self.member_rel[os]))
            rules.append(proto["member_rule"].make(
                monitoring_class=_ref(_COMPUTERS[os]),
                relationship=_ref(self.member_rel[os]),
                property=f'$MPElement[Name="{_COMPUTERS[os]}"]/PrincipalName$',
                value=member.principal_name,
            ))
            monitor_id = f"{component.id}.{os}Rollup"
            self.monitors.emit(monitor_id, proto["rollup"].make(
                id=monitor_id, target=component.id, relationship=self.member_rel[os]))
            self.display(monitor_id, f"{component.label}: {_COMPUTER_NAMES[os]} availability")
        for arrow in arrows:
            types.append(proto["discovery_type"].make(type=arrow.id))
            rules.append(proto["rule"].make(monitoring_class=_ref(arrow.target), relationship=_ref(arrow.id)))

    def display(self, element_id: str, name: str, description: str | None = None) -> None:
        if description:
            string = self.proto["display_described"].make(id=element_id, name=name, description=description)
        else:
            string = self.proto["display"].make(id=element_id, name=name)
        self.strings.emit(element_id, string)

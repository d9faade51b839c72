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
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice

import networkx as nx
from lxml import etree

from servicemap_sync.errors import RenderError, ValidationError
from servicemap_sync.mp.diagram import Arrow, Component, Diagram, build_diagram
from servicemap_sync.mp.mp_index import parse_version
from servicemap_sync.mp.retire import Retired, parse_previous, retire
from servicemap_sync.mp.templates import prototypes, skeleton
from servicemap_sync.mp.validate import check_upgrade, validate_document

__all__ = ["RenderedMP", "render_management_pack"]

logger = logging.getLogger(__name__)

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
    version: str
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
    if parse_version(version) is None:
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

    problems = validate_document(root, filename=filename, house_rules=True)
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
    logger.debug(
        "%s: %d components, %d arrows, %d retired types",
        mp_id, len(diagram.components), len(diagram.arrows), len(retired.names),
    )
    return RenderedMP(
        mp_id=mp_id,
        filename=filename,
        version=version,
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


def _ref(element_id: str) -> str:
    return f'$MPElement[Name="{element_id}"]$'


def _fill(container: etree._Element, attr: str, keys: list[str], elements: Iterable[etree._Element],
          known: Iterable[etree._Element] = ()) -> None:
    """Fill a section with new elements (``keys`` are their IDs, in order), kept sorted by ID.

    The section's present elements and ``known`` ones (the template's, the retired ones) are
    merged in. The renderer makes each section's elements in ID order (see
    :meth:`_Document.add_diagram`), so they are appended as they come, in one lxml call, and
    only the few known ones are inserted at their places; should an ID ever come out of order,
    the whole section is sorted instead.
    """
    merged = sorted([*container, *known], key=lambda e: e.get(attr))
    del container[:]
    container.extend(elements)
    if keys != sorted(keys):
        container.extend(merged)
        container[:] = sorted(container, key=lambda e: e.get(attr))
        return
    for rank, element in enumerate(merged):
        container.insert(bisect_right(keys, element.get(attr)) + rank, element)


_Box = tuple[Component, list[str], list[Arrow]]
"""A component, the computer classes its member is looked for in, and its outgoing arrows."""


class _Document:
    """Fills one MP tree from a diagram with elements made from the prototypes.

    Sections are filled one after the other, in document order, each from a few batches of
    prototype copies (:class:`~servicemap_sync.mp.templates.Filler`), so the nodes of a section
    lie together in memory and the finished tree is serialised and freed in one sweep.
    """

    def __init__(self, root: etree._Element, mp_id: str, retired: Retired) -> None:
        self.mp_id = mp_id
        self.root = root
        self.retired = retired
        proto = prototypes()
        self.discovery_proto = proto["discovery"]
        self.component = proto["component"].filler(("id",))
        self.arrow = proto["arrow"].filler(("id", "source", "target"))
        self.discovery = proto["discovery"].filler(("id", "target"))
        self.discovery_type = proto["discovery_type"].filler(("type",))
        self.rule = proto["rule"].filler(("monitoring_class", "relationship"))
        self.member_rule = proto["member_rule"].filler(("monitoring_class", "relationship", "property", "value"))
        self.rollup = proto["rollup"].filler(("id", "target", "relationship"))
        self.display = proto["display"].filler(("id", "name"))
        self.described = proto["display_described"].filler(("id", "name", "description"))
        self.member_rel = {os: f"{mp_id}.ComponentContains{os}Computer" for os in _COMPUTERS}

    def add_diagram(self, diagram: Diagram) -> None:
        """Fill every section in ID order: ``M``, ``M.Arrow.*``, the boxes, then ``M.Service``.

        Box IDs (``M.Clients|Machine|Process.<name>``) sort between the two, and the IDs derived
        from a box (``<box>.Discovery``, ``<box>.UnixRollup``…) sort right after it, since ``.``
        sorts before every other ID character and names have no dots.
        """
        outgoing: dict[str, list[Arrow]] = {}
        for arrow in diagram.arrows:
            outgoing.setdefault(arrow.source, []).append(arrow)
        boxes = [(component, _systems(component), outgoing.get(component.id, [])) for component in diagram.components]
        root, retired = self.root, self.retired
        entity = root.find("TypeDefinitions/EntityTypes")
        discoveries, monitors = root.find("Monitoring/Discoveries"), root.find("Monitoring/Monitors")
        # The DA's own populator and rollup, made from the same prototypes as the boxes'.
        service, contains = diagram.service_id, f"{self.mp_id}.ServiceContainsComponent"
        [service_discovery] = self.discovery.make([(f"{service}.Discovery", service)])
        discoveries.append(service_discovery)
        self.discovery_proto.anchor(service_discovery, "types").extend(self.discovery_type.make([(contains,)]))
        monitors.extend(self.rollup.make([(f"{service}.ComponentRollup", service, contains)]))

        keys = [component.id for component in diagram.components]
        _fill(entity.find("ClassTypes"), "ID", keys, self.component.make((key,) for key in keys), retired.classes)
        # Rows are made as they are used rather than listed: held, they would add to every
        # collection of the cyclic GC for the rest of the render.
        made = self.arrow.make((arrow.id, arrow.source, arrow.target) for arrow in diagram.arrows)
        _fill(entity.find("RelationshipTypes"), "ID", [arrow.id for arrow in diagram.arrows], made,
              retired.relationships)
        self.add_discoveries(discoveries, [box for box in boxes if box[1] or box[2]])
        self.discovery_proto.anchor(service_discovery, "rules").extend(
            self.rule.make((_ref(key), _ref(contains)) for key in keys))
        rows = [(f"{component.id}.{os}Rollup", component.id, self.member_rel[os])
                for component, systems, _arrows in boxes for os in systems]
        _fill(monitors, "ID", [row[0] for row in rows], self.rollup.make(rows))
        self.add_display_strings(diagram, boxes)

    def add_discoveries(self, section: etree._Element, boxes: list[_Box]) -> None:
        """The GroupPopulator of each box that has a member or arrows: it puts the member's
        computer in the box and creates the box's arrows."""
        keys = [f"{component.id}.Discovery" for component, _systems, _arrows in boxes]
        made = list(self.discovery.make(zip(keys, (component.id for component, _systems, _arrows in boxes))))
        _fill(section, "ID", keys, made)
        member_rel = self.member_rel
        member_class = {  # the member rule's values but the principal name, per computer class
            os: (_ref(computer), _ref(member_rel[os]), f'$MPElement[Name="{computer}"]/PrincipalName$')
            for os, computer in _COMPUTERS.items()
        }
        types = self.discovery_type.make(
            (rel,) for _component, systems, arrows in boxes
            for rel in [*(member_rel[os] for os in systems), *(arrow.id for arrow in arrows)]
        )
        member_rules = self.member_rule.make(
            (*member_class[os], component.member.principal_name)
            for component, systems, _arrows in boxes for os in systems
        )
        arrow_rules = self.rule.make(
            (_ref(arrow.target), _ref(arrow.id)) for _component, _systems, arrows in boxes for arrow in arrows
        )
        anchor = self.discovery_proto.anchor
        for discovery, (_component, systems, arrows) in zip(made, boxes):
            anchor(discovery, "types").extend(islice(types, len(systems) + len(arrows)))
            rules = anchor(discovery, "rules")
            rules.extend(islice(member_rules, len(systems)))
            rules.extend(islice(arrow_rules, len(arrows)))

    def add_display_strings(self, diagram: Diagram, boxes: list[_Box]) -> None:
        """Every element's display string, in ID order (see :meth:`add_diagram`)."""
        strings: list[tuple[str, str, str | None]] = [(
            self.mp_id,
            f"Service Map: {diagram.server}",
            f"Distributed Application of {diagram.server} and its dependencies, generated by "
            "servicemap-sync from Azure Service Map. Regenerated on every sync: do not edit.",
        )]
        strings.extend((arrow.id, arrow.label, None) for arrow in diagram.arrows)
        for component, systems, arrows in boxes:
            label = component.label
            strings.append((component.id, label, component.description))
            if systems or arrows:
                strings.append((f"{component.id}.Discovery", f"Service Map members and arrows of {label}", None))
            strings.extend(
                (f"{component.id}.{os}Rollup", f"{label}: {_COMPUTER_NAMES[os]} availability", None) for os in systems
            )
        strings.append((
            diagram.service_id,
            f"{diagram.server} (Service Map)",
            f"{diagram.server}, its processes, the machines they talk to and their clients, from Service Map.",
        ))
        retired = list(self.described.make(
            (element_id, name, _RETIRED_DESCRIPTION) for element_id, name in self.retired.names.items()))
        described = self.described.make(row for row in strings if row[2])
        plain = self.display.make(row[:2] for row in strings if not row[2])
        made = (next(described) if row[2] else next(plain) for row in strings)
        section = self.root.find("LanguagePacks/LanguagePack/DisplayStrings")
        _fill(section, "ElementID", [row[0] for row in strings], made, retired)


def _systems(component: Component) -> list[str]:
    """The computer classes (``Unix``, ``Windows``, in ID order) the box's member is looked for in."""
    member = component.member
    if member is None:
        return []
    return [os for os, wanted in (("Unix", member.unix), ("Windows", member.windows)) if wanted]

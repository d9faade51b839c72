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
* Membership by GroupPopulator discoveries with an ``Expression`` — never GUIDs — on the best
  property SCOM has (``PrincipalName`` for an FQDN, ``NetbiosComputerName`` without one; see
  :mod:`servicemap_sync.mp.diagram`): the DA discovery adds every active box; each box with a
  member or outgoing arrows has one discovery for both. A box whose member cannot be
  expressed is listed in :attr:`RenderedMP.warnings`.
* Health: DependencyMonitors for all four aspects (Availability, Configuration, Performance,
  Security; MemberUnAvailable = Error) DA → boxes and box → member computer, as Microsoft's DA
  templates do, with the algorithm of each layer from ``da_rollup`` / ``box_rollup``
  (:class:`HealthRollup`, ``WorstOf`` by default).
* References at the lowest version that has every element used, raised to what
  ``scom_version`` ships (:mod:`servicemap_sync.mp.releases`); ``Microsoft.Unix.Library`` (and
  the UNIX containment type) only in a pack with a UNIX/Linux member or a retired type that
  needs it.

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
from servicemap_sync.mp.diagram import Arrow, BoxWarning, Component, Diagram, build_diagram
from servicemap_sync.mp.mp_index import parse_version
from servicemap_sync.mp.releases import UNIX_LIBRARY, normalize_release, reference_version
from servicemap_sync.mp.retire import Retired, parse_previous, retire
from servicemap_sync.mp.templates import prototypes, skeleton
from servicemap_sync.mp.validate import check_upgrade, validate_document

__all__ = ["ASPECTS", "ALGORITHMS", "BoxWarning", "HealthRollup", "RenderedMP", "WORST_OF", "render_management_pack"]

logger = logging.getLogger(__name__)

_XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'
_COMPUTERS = {"Windows": "Windows!Microsoft.Windows.Computer", "Unix": "Unix!Microsoft.Unix.Computer"}
_COMPUTER_NAMES = {"Windows": "Windows computer", "Unix": "UNIX/Linux computer"}
#: Health aspect → the ID part of its rollup monitors ("" keeps the availability monitors' IDs of
#: earlier versions), its aggregate monitor in System.Health.Library and its monitor category.
ASPECTS: dict[str, tuple[str, str, str]] = {
    "Availability": ("", "Health!System.Health.AvailabilityState", "AvailabilityHealth"),
    "Configuration": ("Configuration", "Health!System.Health.ConfigurationState", "ConfigurationHealth"),
    "Performance": ("Performance", "Health!System.Health.PerformanceState", "PerformanceHealth"),
    "Security": ("Security", "Health!System.Health.SecurityState", "SecurityHealth"),
}
ALGORITHMS = ("WorstOf", "BestOf", "Percentage")
_UNIX_ALIAS = "Unix!"


@dataclass(frozen=True)
class HealthRollup:
    """How a layer's DependencyMonitors combine their members' health (learn:ee533964).

    ``WorstOf`` (the default: the worst member colours the box), ``BestOf``, or ``Percentage``
    with ``percentage`` 1..100: healthy while at least that share of members is healthy, for
    layers with several members (a DA's boxes; a box whose rule matches several computers).
    """

    algorithm: str = "WorstOf"
    percentage: int | None = None

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise RenderError(f"rollup algorithm {self.algorithm!r} is not one of {', '.join(ALGORITHMS)}")
        if self.algorithm == "Percentage":
            if isinstance(self.percentage, bool) or not isinstance(self.percentage, int) \
                    or not 1 <= self.percentage <= 100:
                raise RenderError(f"rollup algorithm Percentage needs a percentage 1..100, not {self.percentage!r}")
        elif self.percentage is not None:
            raise RenderError(f"a percentage ({self.percentage!r}) goes only with the Percentage algorithm")

    @property
    def text(self) -> str:
        """``WorstOf``, ``BestOf`` or ``Percentage 60%``, for display strings."""
        return f"Percentage {self.percentage}%" if self.algorithm == "Percentage" else self.algorithm


WORST_OF = HealthRollup()

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
    warnings: tuple[BoxWarning, ...] = ()
    """Boxes whose member SCOM cannot find (fully) from what Service Map knows, in box ID order;
    each has ``component_id``, ``label``, ``machine``, ``reason`` and ``message``."""
    scom_version: str = "2012R2"
    """The oldest SCOM release this pack imports into (its references are at most what that has)."""


def checked_release(version: str, scom_version: str | None) -> str:
    """The SCOM release a pack of ``version`` is rendered for, both checked (every pack's renderer).

    Raises:
        RenderError: the version is not ``a.b.c.d`` or the release is unknown.
    """
    if parse_version(version) is None:
        raise RenderError(f"version {version!r} is not four numbers a.b.c.d of at most 10 digits")
    try:
        return normalize_release(scom_version)
    except ValueError as exc:
        raise RenderError(str(exc)) from None


def validated_xml(root: etree._Element, filename: str, release: str, *, extra: Iterable = ()) -> bytes:
    """``root`` as the bytes of a pack file, once it passes SCOM's rules and ours (and ``extra``
    findings, e.g. the upgrade check, are none): every pack is checked before it is written.

    Raises:
        ValidationError: naming the pack, the first problems and how many there are.
    """
    problems = [*validate_document(root, filename=filename, house_rules=True, scom_version=release), *extra]
    if problems:
        mp_id = filename.removesuffix(".xml")
        shown = "; ".join(f"{p.element}: {p.message}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ValidationError(f"{mp_id}: {len(problems)} problem(s): {shown}{more}", problems)
    return _XML_DECLARATION + etree.tostring(root, encoding="utf-8", pretty_print=True)


def render_management_pack(
    graph: nx.MultiDiGraph, *, mp_id_prefix: str, version: str, previous: bytes | None = None,
    scom_version: str | None = None, da_rollup: HealthRollup = WORST_OF, box_rollup: HealthRollup = WORST_OF,
) -> RenderedMP:
    """Render and validate the Distributed Application MP of one server's graph.

    Args:
        graph: from :func:`servicemap_sync.graph.build_graph`.
        mp_id_prefix: first part(s) of the MP ID, e.g. ``ServiceMapSync``.
        version: ``a.b.c.d``; the caller makes it increase between publications.
        previous: the last published XML of this MP; its public types that the graph no
            longer has are carried forward, retired (:mod:`servicemap_sync.mp.retire`).
        scom_version: the oldest SCOM release the pack must import into (``2012R2``, ``2016``,
            ``2019``, ``2022``, ``2025``; None: 2012 R2, the lowest that works). References are
            written at what that release has (:mod:`servicemap_sync.mp.releases`), never below
            what the pack needs; the validator refuses a reference above it.
        da_rollup: how the DA combines its boxes' health (every aspect).
        box_rollup: how each box combines its member computers' health (every aspect).

    Returns:
        The :class:`RenderedMP`, named ``<MP ID>.xml``.

    Raises:
        RenderError: bad version, prefix, SCOM release or rollup, unusable previous MP, IDs not unique.
        ValidationError: the document breaks SCOM's or our rules, or is no upgrade of ``previous``.
    """
    release = checked_release(version, scom_version)
    for rollup in (da_rollup, box_rollup):
        if not isinstance(rollup, HealthRollup):
            raise RenderError(f"a rollup must be a HealthRollup, not {rollup!r}")
    diagram = build_diagram(graph, mp_id_prefix=mp_id_prefix)
    mp_id = diagram.mp_id
    filename = f"{mp_id}.xml"
    root = skeleton(mp_id, version)
    unix_members = any(c.member is not None and c.member.unix for c in diagram.components)
    if not unix_members:
        _drop_unix_containment(root, mp_id)

    old: etree._Element | None = None
    retired = Retired((), (), {})
    if previous is not None:
        old = parse_previous(previous, mp_id)
        retired = retire(old, _type_ids(root, diagram))
    unix_needed = unix_members or any(
        value.startswith(_UNIX_ALIAS) for element in (*retired.classes, *retired.relationships)
        for node in element.iter() for value in node.attrib.values())
    _set_references(root, release, unix_needed)
    _Document(root, mp_id, retired, unix_members, da_rollup, box_rollup).add_diagram(diagram)

    xml = validated_xml(root, filename, release, extra=check_upgrade(old, root) if old is not None else ())
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
        warnings=diagram.warnings,
        scom_version=release,
    )


def _drop_unix_containment(root: etree._Element, mp_id: str) -> None:
    """The skeleton's UNIX containment type and its display string, for a pack without UNIX members."""
    element_id = f"{mp_id}.ComponentContainsUnixComputer"
    for element in root.iterfind(f"TypeDefinitions/EntityTypes/RelationshipTypes/RelationshipType[@ID='{element_id}']"):
        element.getparent().remove(element)
    for element in root.iterfind(f"LanguagePacks/LanguagePack/DisplayStrings/DisplayString[@ElementID='{element_id}']"):
        element.getparent().remove(element)


def _set_references(root: etree._Element, release: str, unix: bool) -> None:
    """Each reference at the version the release table gives; the Unix one only when needed."""
    references = root.find("Manifest/References")
    for reference in list(references):
        library = reference.findtext("ID")
        if library == UNIX_LIBRARY and not unix:
            references.remove(reference)
            continue
        reference.find("Version").text = reference_version(library, release)


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

    def __init__(self, root: etree._Element, mp_id: str, retired: Retired, unix: bool,
                 da_rollup: HealthRollup, box_rollup: HealthRollup) -> None:
        self.mp_id = mp_id
        self.root = root
        self.retired = retired
        self.da_rollup = da_rollup
        self.box_rollup = box_rollup
        proto = prototypes()
        self.discovery_proto = proto["discovery"]
        self.component = proto["component"].filler(("id",))
        self.arrow = proto["arrow"].filler(("id", "source", "target"))
        self.discovery = proto["discovery"].filler(("id", "target"))
        self.discovery_type = proto["discovery_type"].filler(("type",))
        self.rule = proto["rule"].filler(("monitoring_class", "relationship"))
        self.member_rule = proto["member_rule"].filler(("monitoring_class", "relationship", "property", "value"))
        self.member_rule_domain = proto["member_rule_netbios_domain"].filler(
            ("monitoring_class", "relationship", "property", "value", "domain_property", "domain_pattern"))
        columns = ("id", "target", "relationship", "parent", "member", "category", "algorithm")
        self.rollup = {
            layer: proto["rollup_percentage"].filler((*columns, "parameter")) if rollup.algorithm == "Percentage"
            else proto["rollup"].filler(columns)
            for layer, rollup in (("da", da_rollup), ("box", box_rollup))
        }
        self.display = proto["display"].filler(("id", "name"))
        self.described = proto["display_described"].filler(("id", "name", "description"))
        self.member_rel = {os: f"{mp_id}.ComponentContains{os}Computer" for os in _COMPUTERS
                           if unix or os != "Unix"}

    def rollup_rows(self, layer: str, rows: Iterable[tuple[str, str, str]]) -> list[tuple[str, ...]]:
        """The DependencyMonitor values of one layer: per ``(ID stem, target, relationship)``, one
        row per aspect, in ID order (``<stem>Rollup`` is availability's, as in earlier versions)."""
        rollup = self.da_rollup if layer == "da" else self.box_rollup
        extra = (str(rollup.percentage),) if rollup.algorithm == "Percentage" else ()
        made = [
            (f"{stem}{part}Rollup", target, relationship, monitor, monitor, category, rollup.algorithm, *extra)
            for stem, target, relationship in rows
            for part, monitor, category in sorted(ASPECTS.values())
        ]
        return made

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
        monitors.extend(self.rollup["da"].make(self.rollup_rows("da", [(f"{service}.Component", service, contains)])))

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
        rows = self.rollup_rows("box", ((f"{component.id}.{os}", component.id, self.member_rel[os])
                                        for component, systems, _arrows in boxes for os in systems))
        _fill(monitors, "ID", [row[0] for row in rows], self.rollup["box"].make(rows))
        self.add_display_strings(diagram, boxes)

    def add_discoveries(self, section: etree._Element, boxes: list[_Box]) -> None:
        """The GroupPopulator of each box that has a member or arrows: it puts the member's
        computer in the box and creates the box's arrows."""
        keys = [f"{component.id}.Discovery" for component, _systems, _arrows in boxes]
        made = list(self.discovery.make(zip(keys, (component.id for component, _systems, _arrows in boxes))))
        _fill(section, "ID", keys, made)
        member_rel = self.member_rel
        member_class = {  # the member rule's classes, per computer class
            os: (_ref(computer), _ref(member_rel[os])) for os, computer in _COMPUTERS.items() if os in member_rel
        }

        def prop(os: str, name: str) -> str:
            return f'$MPElement[Name="{_COMPUTERS[os]}"]/{name}$'

        def rule_kind(member) -> str:
            return "plain" if member.principal_name or not member.domain else "domain"
        types = self.discovery_type.make(
            (rel,) for _component, systems, arrows in boxes
            for rel in [*(member_rel[os] for os in systems), *(arrow.id for arrow in arrows)]
        )
        wanted = [(os, component.member) for component, systems, _arrows in boxes for os in systems]
        plain = self.member_rule.make(
            (*member_class[os], prop(os, "PrincipalName"), member.principal_name) if member.principal_name
            else (*member_class[os], prop(os, "NetbiosComputerName"), member.netbios_name)
            for os, member in wanted if rule_kind(member) == "plain"
        )
        in_domain = self.member_rule_domain.make(
            (*member_class[os], prop(os, "NetbiosComputerName"), member.netbios_name,
             prop(os, "PrincipalName"), f"*.{member.domain}")
            for os, member in wanted if rule_kind(member) == "domain"
        )
        member_rules = (next(plain) if rule_kind(member) == "plain" else next(in_domain) for _os, member in wanted)
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
        if diagram.members:  # a machine group's DA
            servers = ", ".join(diagram.members)
            missing = f" Not in the data: {', '.join(diagram.missing)}." if diagram.missing else ""
            title, description = f"Service Map group: {diagram.server}", (
                f"Distributed Application of the machine group {diagram.server} ({servers}), how its servers "
                "talk to each other and to the outside, generated by servicemap-sync from Azure Service Map."
                f"{missing} Regenerated on every sync: do not edit.")
            service_title = f"{diagram.server} (Service Map group)"
            service_description = (f"The machine group {diagram.server}: its servers ({servers}), their processes, "
                                   "the machines they talk to and their clients, from Service Map.")
        else:
            title, description = f"Service Map: {diagram.server}", (
                f"Distributed Application of {diagram.server} and its dependencies, generated by "
                "servicemap-sync from Azure Service Map. Regenerated on every sync: do not edit.")
            service_title = f"{diagram.server} (Service Map)"
            service_description = (f"{diagram.server}, its processes, the machines they talk to and their clients, "
                                   "from Service Map.")
        strings: list[tuple[str, str, str | None]] = [(self.mp_id, title, description)]
        strings.extend((arrow.id, arrow.label, None) for arrow in diagram.arrows)
        for component, systems, arrows in boxes:
            label = component.label
            strings.append((component.id, label, component.description))
            if systems or arrows:
                strings.append((f"{component.id}.Discovery", f"Service Map members and arrows of {label}", None))
            strings.extend(
                (f"{component.id}.{os}{part}Rollup", f"{label}: {_COMPUTER_NAMES[os]} {aspect.lower()}", None)
                for os in systems for part, aspect in sorted((part, aspect) for aspect, (part, *_r) in ASPECTS.items())
            )
        strings.append((diagram.service_id, service_title, service_description))
        strings.extend(
            (f"{diagram.service_id}.Component{part}Rollup", f"Service Map components {aspect.lower()} rollup",
             f"The Distributed Application's {aspect.lower()} health from its components' "
             f"({self.da_rollup.text}); each component's from its computer's ({self.box_rollup.text}).")
            for part, aspect in sorted((part, aspect) for aspect, (part, *_r) in ASPECTS.items())
        )
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

"""Our own rules (scope ``"house"``): display quality and the DA shape we generate.

SCOM imports an MP that breaks these; the result is just worse (raw IDs in the console,
a Distributed Application whose groups show "not monitored").

``display-string``
    The ENU LanguagePack has a DisplayString (without ``SubElementID``) for the MP ID
    and for every MP element that has an ID — classes, relationships, discoveries,
    rules, monitors, overrides, views, folders, module types, string resources… An MP
    without an ENU pack gets one problem instead of one per element.

``da-shape`` — only for an MP that declares a class based on
``*!Microsoft.SystemCenter.ServiceDesigner.GenericService`` (i.e. ours; any alias):

1. exactly one such class (the DA), concrete (``Abstract="false"``) and
   ``Singleton="true"``;
2. every class based on ``*!…ServiceDesigner.ServiceComponentGroup`` (a component) is
   concrete and singleton, and is a member of the DA: a ``MembershipRule`` of a
   ``*!Microsoft.SystemCenter.GroupPopulator`` discovery targeting the DA names it as
   ``MonitoringClass`` with a ``RelationshipClass`` that is a containment relationship
   (base ``*!System.Containment``) whose Source is the DA class;
3. a discovery targeting a component is a GroupPopulator; a component that is the
   Source (by its own ID) of a containment relationship has such a discovery
   ("a component class with members");
4. health rolls up in all four aspects (``MemberMonitor`` = ``*!System.Health.AvailabilityState``,
   ``…ConfigurationState``, ``…PerformanceState``, ``…SecurityState``), as Microsoft's DA templates
   do: with components present, for each aspect a DependencyMonitor targets the DA over one of
   the DA's containment relationships; for each relationship a component's GroupPopulator
   uses, for each aspect a DependencyMonitor targets that component over it;
5. no Folder directly under the Monitoring root
   (``Alias!Microsoft.SystemCenter.Monitoring.ViewFolder.Root`` where the alias is
   ``SC`` or references ``Microsoft.SystemCenter.Library``): the DA belongs in SCOM's
   own Distributed Applications view, not in a folder per server at the root.

``unix-reference`` — a DA pack that references ``Microsoft.Unix.Library`` needs a UNIX/Linux
member: a ``MembershipRule`` whose ``MonitoringClass`` is ``Alias!Microsoft.Unix.Computer``, or a
retired type (below) that names the alias; otherwise the reference only makes a Windows-only
management group install the cross-platform packs for nothing.

A *retired* component — one whose ENU display name ends with ``" (retired)"``, as the
renderer marks the classes it carries forward only so that SCOM accepts the new version
as an upgrade (``servicemap_sync.mp.retire``) — is deliberately outside the DA: points 2
(membership), 3 and 4 do not apply to it; it must still be a concrete singleton.

Speed: the DA of a 10,000-connection map has ~4,500 discoveries with ~20,000
MembershipRules; each rule's texts are read once and each distinct text parsed once.
"""

from __future__ import annotations

import re

from lxml import etree

from servicemap_sync.mp.mp_index import HOUSE, Emit, MpIndex, child, end_type
from servicemap_sync.mp.retire import RETIRED_MARK

_GENERIC_SERVICE = "Microsoft.SystemCenter.ServiceDesigner.GenericService"
_COMPONENT_GROUP = "Microsoft.SystemCenter.ServiceDesigner.ServiceComponentGroup"
_POPULATOR = "Microsoft.SystemCenter.GroupPopulator"
_CONTAINMENT = "System.Containment"
_ROOT_FOLDER = "Microsoft.SystemCenter.Monitoring.ViewFolder.Root"
_SC_LIBRARY = "Microsoft.SystemCenter.Library"
_ASPECTS = ("Availability", "Configuration", "Performance", "Security")
_UNIX_LIBRARY = "Microsoft.Unix.Library"
_UNIX_COMPUTER = "Microsoft.Unix.Computer"
_MPELEMENT = re.compile(r"""\s*\$MPElement\[Name=(?:"([^"]*)"|'([^']*)')\]\$\s*""")


def check(index: MpIndex, emit: Emit) -> None:
    """Run the house rules on an indexed document."""
    _check_display_strings(index, emit)
    _check_da_shape(index, emit)


def _enu(index: MpIndex) -> int | None:
    """Position of the ENU LanguagePack in ``index.language_packs`` (the first one)."""
    return next((i for i, p in enumerate(index.language_packs) if p.get("ID") == "ENU"), None)


def _check_display_strings(index: MpIndex, emit: Emit) -> None:
    enu = _enu(index)
    if enu is None:
        emit(HOUSE, "display-string", index.root,
             "no ENU LanguagePack: the console shows raw IDs; add a DisplayString per element")
        return
    named = index.named[enu]
    identity = index.identity
    if index.mp_id is not None and index.mp_id not in named and identity is not None:
        emit(HOUSE, "display-string", identity,
             f"no ENU DisplayString for the MP '{index.mp_id}' (its name in the console)")
    for el_id in index.elements.keys() - named:
        emit(HOUSE, "display-string", index.elements[el_id], f"no ENU DisplayString for '{el_id}'")


def _remote(value: str | None, name: str) -> bool:
    """True for ``AnyAlias!name``."""
    return value is not None and value.partition("!")[2] == name


def _is_concrete_singleton(el: etree._Element) -> bool:
    return el.get("Abstract") == "false" and el.get("Singleton") == "true"


def _named(text: str | None) -> str | None:
    """The element a ``$MPElement[Name="X"]$`` text names."""
    m = None if text is None else _MPELEMENT.fullmatch(text)
    return None if m is None else m.group(1) if m.group(1) is not None else m.group(2)


class _Names(dict[str | None, str | None]):
    """Text → the element it names (see :func:`_named`), parsed on first use; starts from
    the names ``mp_index`` already read (``MpIndex.mpelement_names``)."""

    def __missing__(self, text: str | None) -> str | None:
        self[text] = name = _named(text)
        return name


def _check_da_shape(index: MpIndex, emit: Emit) -> None:
    services: list[etree._Element] = []
    components: dict[str, etree._Element] = {}
    for cls in index.tagged("ClassType"):
        base = (cls.get("Base") or "").partition("!")[2]
        if base == _GENERIC_SERVICE:
            services.append(cls)
        elif base == _COMPONENT_GROUP:
            components[cls.get("ID", "")] = cls
    if not services:
        return
    da, da_id = services[0], services[0].get("ID", "")
    for extra in services[1:]:
        emit(HOUSE, "da-shape", extra, f"only one class may be based on GenericService; the DA is '{da_id}'")
    if not _is_concrete_singleton(da):
        emit(HOUSE, "da-shape", da, "the DA class must be concrete (Abstract='false') and Singleton='true'")
    for comp in components.values():
        if not _is_concrete_singleton(comp):
            emit(HOUSE, "da-shape", comp, "a component class must be concrete (Abstract='false') "
                                          "and Singleton='true'")

    containments = [r for r in index.tagged("RelationshipType") if _remote(r.get("Base"), _CONTAINMENT)]
    found: list[tuple[str, etree._Element, str]] = []  # (component ID, element, message)
    populations = _Populations(index, da_id, components, containments, found)
    aspects: dict[tuple[str | None, str | None], set[str]] = {}
    for monitor in index.tagged("DependencyMonitor"):
        member = (monitor.get("MemberMonitor") or "").partition("!")[2]
        aspect = member.removeprefix("System.Health.").removesuffix("State")
        aspects.setdefault((monitor.get("Target"), monitor.get("RelationshipType")), set()).add(aspect)
    rollups = set(aspects)

    def missing(target: str, rels) -> list[str]:
        have = set().union(*(aspects.get((target, rel), set()) for rel in rels))
        return [aspect for aspect in _ASPECTS if aspect not in have]

    for comp_id in components.keys() - populations.da_members:
        found.append((comp_id, components[comp_id], "not a member of the DA: the GroupPopulator discovery "
                      f"targeting '{da_id}' needs a MembershipRule with this class and a containment "
                      "relationship whose Source is the DA"))
    if components and not any((da_id, rel) in rollups for rel in populations.da_rels):
        emit(HOUSE, "da-shape", da, "no DependencyMonitor rolls component health up to the DA "
                                    "(Target = the DA, RelationshipType = its containment relationship)")
    elif components and (gaps := missing(da_id, populations.da_rels)):
        emit(HOUSE, "da-shape", da, f"component health rolls up to the DA in {', '.join(gaps)} by no "
                                    "DependencyMonitor (all four aspects: MemberMonitor System.Health.<Aspect>State)")
    with_members = {end_type(r, "Source") for r in containments}
    for comp_id in (components.keys() & with_members) - populations.populated:
        found.append((comp_id, components[comp_id], "a containment relationship starts at this component "
                                                    "but no GroupPopulator discovery populates it"))
    for comp_id, rel in sorted(populations.member_rels):
        if (comp_id, rel) not in rollups:
            found.append((comp_id, components[comp_id], f"no DependencyMonitor rolls member health up over "
                                                        f"'{rel}' (Target = this component)"))
        elif gaps := missing(comp_id, [rel]):
            found.append((comp_id, components[comp_id], f"member health over '{rel}' rolls up in "
                                                        f"{', '.join(gaps)} by no DependencyMonitor "
                                                        "(all four aspects: MemberMonitor System.Health.<Aspect>State)"))
    retired = _retired(index, {comp_id for comp_id, _, _ in found}) if found else set()
    for comp_id, el, message in found:
        if comp_id not in retired:
            emit(HOUSE, "da-shape", el, message)
    _check_folders(index, emit)
    _check_unix_reference(index, populations.unix_members, emit)


def _check_unix_reference(index: MpIndex, unix_members: bool, emit: Emit) -> None:
    """``unix-reference`` (see the module docstring)."""
    if unix_members:
        return
    for ref in index.references:
        if ref.mp_id != _UNIX_LIBRARY:
            continue
        prefix = f"{ref.alias}!"
        users = {el.get("ID", "") for tag in ("ClassType", "RelationshipType") for el in index.tagged(tag)
                 if any(value.startswith(prefix) for node in el.iter() for value in node.attrib.values())}
        if users and _retired(index, users) == users - {""}:
            continue  # only retired types need it: kept so that the upgrade is accepted
        emit(HOUSE, "unix-reference", ref.element,
             f"'{_UNIX_LIBRARY}' is referenced but no box has a UNIX/Linux member (no MembershipRule "
             f"with MonitoringClass {prefix}{_UNIX_COMPUTER}); drop the reference so that a Windows-only "
             "management group needs no cross-platform packs")


class _Populations:
    """What the GroupPopulator discoveries of the DA and of the components add (from
    ``index.memberships``); a component's discovery that is no GroupPopulator goes to ``found``.

    Attributes:
        da_rels: the DA's containment relationships (their Source is the DA).
        da_members: what the DA's populators add over one of those.
        unix_members: some component's populator looks for ``*!Microsoft.Unix.Computer``.
        populated: the components some populator targets.
        member_rels: (component, containment relationship of this MP) its populators use.
    """

    def __init__(self, index: MpIndex, da_id: str, components: dict[str, etree._Element],
                 containments: list[etree._Element], found: list[tuple[str, etree._Element, str]]) -> None:
        self.da_rels = {r.get("ID") for r in containments if end_type(r, "Source") == da_id}
        local_containment = {r.get("ID") for r in containments}
        self.da_members: set[str] = set()
        self.populated: set[str] = set()
        self.member_rels: set[tuple[str, str]] = set()
        self.unix_members = False
        names = _Names(index.mpelement_names)
        memberships = index.memberships
        for discovery in index.tagged("Discovery"):
            target = discovery.get("Target", "")
            to_da, to_component = target == da_id, target in components
            if not (to_da or to_component):
                continue
            membership = memberships[discovery]
            if not (membership.has_source and _remote(membership.type_id, _POPULATOR)):
                if to_component:
                    found.append((target, discovery, f"a discovery targeting component '{target}' must use "
                                                     "the GroupPopulator data source"))
                continue
            if to_da:
                for monitoring, rel in membership.rules:
                    member, relationship = names[monitoring], names[rel]
                    if member is not None and relationship is not None and relationship in self.da_rels:
                        self.da_members.add(member)
            if to_component:
                self.populated.add(target)
                # (a rule of a discovery that also targets the DA counts only with a MonitoringClass)
                for monitoring, rel in membership.rules:
                    relationship = names[rel]
                    if _remote(names[monitoring], _UNIX_COMPUTER):
                        self.unix_members = True
                    if (relationship is not None and relationship in local_containment
                            and (not to_da or names[monitoring] is not None)):
                        self.member_rels.add((target, relationship))


def _retired(index: MpIndex, ids: set[str]) -> set[str]:
    """Those of ``ids`` whose ENU display name (DisplayString without SubElementID) is marked retired."""
    enu = _enu(index)
    if enu is None:
        return set()
    out = set()
    for strings in index.language_packs[enu].iterchildren("DisplayStrings"):
        for ds in strings.iterchildren("DisplayString"):
            element_id = ds.get("ElementID")
            if element_id in ids and ds.get("SubElementID") is None:
                name = child(ds, "Name")
                if name is not None and (name.text or "").strip().endswith(RETIRED_MARK):
                    out.add(element_id)
    return out


def _check_folders(index: MpIndex, emit: Emit) -> None:
    targets = index.alias_targets()
    for folder in index.tagged("Folder"):
        alias, _, name = (folder.get("ParentFolder") or "").partition("!")
        if name == _ROOT_FOLDER and (alias == "SC" or targets.get(alias) == _SC_LIBRARY):
            emit(HOUSE, "da-shape", folder, "no folder at the Monitoring root: the DA shows in SCOM's "
                                            "Distributed Applications view")

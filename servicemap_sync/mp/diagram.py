"""What the Distributed Application diagram shows: its boxes (components) and arrows.

This is the decision layer between the graph and the XML: which graph nodes become a box,
what each box contains, which connections become arrows, and the human text of each.

Boxes:

* the **server** itself; member: its SCOM computer object;
* each **process of the server** that has a connection or accepts on a port; member: the
  server's computer too, so every process box shows the server's health instead of
  "not monitored" (Service Map processes are no SCOM objects, see the guide §3);
* each **peer machine**, in either direction; member: its computer when Service Map
  monitors it (an agent may report it to SCOM), none when only discovered (``t-…``);
* each **client group** (agentless clients, as Service Map groups them); no member;
* each **peer group** (node kind ``peerGroup``: peers collapsed by a size guard or grouped by
  curation, :mod:`servicemap_sync.graph.guards`); no member; its description lists the peers.

A node's ``renamed`` attribute (curation) replaces its label in the box and arrow texts; IDs
keep coming from the original label, so a rename changes no ID.

Members are found by the best property SCOM has for what Service Map knows of the machine
(:func:`member_of`): its FQDN → ``PrincipalName`` of ``Microsoft.Windows.Computer`` for
Windows, ``Microsoft.Unix.Computer`` for Linux/UNIX, both when the OS family is unknown
(whichever exists joins); no FQDN but a computer (NetBIOS) name → ``NetbiosComputerName`` of
the Windows computer, and ``PrincipalName`` in the DNS domain when Service Map knows one for
that name. UNIX/Linux computers are known to SCOM by ``PrincipalName`` only, so a UNIX box
without an FQDN has no member rule. Each box whose member cannot be (fully) expressed gets a
:class:`BoxWarning` in :attr:`Diagram.warnings`.

Arrows go between boxes, one per (from box, to box, server port): a server process to the
peer machine it calls, a peer machine or client group to the server process it calls.
Connections to several peer processes on one machine and port share the arrow and its label.

**Machine groups.** A group's graph (:func:`servicemap_sync.graph.group.build_group_graph`)
names several servers in ``graph.graph["members"]`` instead of one focus: each member is a
``server`` box holding its SCOM computer, each member's process a box showing *its* member's
computer (so health rolls up computer → box → DA), and arrows between two members' processes
join the two process boxes. With ``graph.graph["detail"] == "server"`` a member's processes are
drawn as its box, as a peer's are. The MP ID is ``graph.graph["mp_id"]``, else
:func:`~servicemap_sync.mp.ids.group_mp_id` of ``graph.graph["group"]``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter

import networkx as nx

from servicemap_sync.mp import ids
from servicemap_sync.model import NodeKey, machine_key, usable_name

__all__ = ["Arrow", "BoxWarning", "Component", "Diagram", "Member", "build_diagram", "member_of", "xml_text"]

_UNIX_FAMILIES = frozenset({"linux", "unix", "aix", "solaris", "hpux", "hp-ux"})
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAKS = re.compile("[\t\n\r]+")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_FQDN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+\.?")
_NETBIOS = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_IPV4 = re.compile(r"[0-9]+(?:\.[0-9]+){3}")
_NETBIOS_LENGTH = 15  # SCOM's NetbiosComputerName is the first 15 characters, upper case
_GROUP = "peerGroup"
_MAX_LISTED = 200


@dataclass(frozen=True, slots=True)
class Member:
    """The SCOM computer a box contains and how to find it.

    ``principal_name`` (an FQDN) is matched against ``PrincipalName`` of each class looked in;
    without one, ``netbios_name`` against the Windows computer's ``NetbiosComputerName`` (and,
    when ``domain`` is known, ``PrincipalName`` must end in ``.domain``). ``windows`` / ``unix``:
    the classes a rule is written for.
    """

    principal_name: str | None
    windows: bool
    unix: bool
    netbios_name: str | None = None
    domain: str | None = None

    @property
    def name(self) -> str:
        """What the member is known by, for messages."""
        return self.principal_name or self.netbios_name or ""


@dataclass(frozen=True, slots=True)
class BoxWarning:
    """A box whose member SCOM cannot find (or can find only partly) from what Service Map knows."""

    component_id: str
    label: str
    machine: str
    reason: str

    @property
    def message(self) -> str:
        return f"box {self.label!r}: {self.reason}"

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class Component:
    """One box: a component-group class of the Distributed Application."""

    id: str
    kind: str
    key: NodeKey
    label: str
    description: str
    member: Member | None


@dataclass(frozen=True, slots=True)
class Arrow:
    """One reference relationship drawn between two boxes; ``port`` is ``":1433"`` or ``""``."""

    id: str
    source: str
    target: str
    port: str
    label: str
    failed: bool


@dataclass(frozen=True, slots=True)
class Diagram:
    """Everything the renderer needs, sorted by ID, text already XML-safe."""

    mp_id: str
    server: str
    service_id: str
    components: tuple[Component, ...]
    arrows: tuple[Arrow, ...]
    warnings: tuple[BoxWarning, ...] = ()
    members: tuple[str, ...] = ()
    """A machine group's diagram: the member servers drawn, by short name, in the group's order
    (``server`` is then the group's name); empty for a server's diagram."""
    missing: tuple[str, ...] = ()
    """A machine group's members not in the data (as the caller named them)."""


def xml_text(text: str) -> str:
    """``text`` without what XML 1.0 cannot carry (controls, U+FFFE/FFFF, lone surrogates), one line.

    Tabs and line breaks become one space; other characters, spaces included, are kept.
    """
    if text.isprintable():  # the usual case; isprintable() is False for all of the above
        return text.strip()
    return _LINE_BREAKS.sub(" ", _NOT_XML.sub("", text)).strip()


def build_diagram(graph: nx.MultiDiGraph, *, mp_id_prefix: str) -> Diagram:
    """Decide the boxes and arrows of one server's graph (see the module docstring).

    Raises:
        RenderError: the prefix is unusable or IDs cannot be made unique.
    """
    server: str = graph.graph["server"]
    focus: NodeKey = graph.graph["focus"]
    nodes: dict[NodeKey, dict] = dict(graph.nodes(data=True))
    group = graph.graph.get("members") is not None
    # the servers drawn: the focus, or a machine group's members found in the data
    locals_ = tuple(m for m in graph.graph["members"] if m in nodes) if group else (focus,)
    local_set, local_names = set(locals_), {m.name for m in locals_}
    whole = group and graph.graph.get("detail") == "server"  # a member's processes drawn as its box
    # the caller may have given the server a distinct ID (two names that clean to one)
    mp = graph.graph.get("mp_id") or (
        ids.group_mp_id(mp_id_prefix, str(graph.graph.get("group") or server)) if group else ids.mp_id(mp_id_prefix, server))
    # The box a node is drawn in: a peer machine's processes are drawn as the machine.
    box = {
        key: attrs["machine"] if attrs["kind"] == "process" and (whole or attrs["machine"].name not in local_names)
        else key
        for key, attrs in nodes.items()
    }

    ports_of: dict[NodeKey, set[int]] = defaultdict(set)
    grouped: dict[tuple[NodeKey, NodeKey, int | None], list[tuple[NodeKey, NodeKey, bool]]] = defaultdict(list)
    for u, neighbours in graph.adjacency():  # the order of graph.edges(), without a view per edge
        for v, keyed in neighbours.items():
            for data in keyed.values():
                if data["kind"] == "acceptor":
                    number = nodes[u]["obj"].port_number
                    if number is not None and box[v] == v:
                        ports_of[v].add(number)
                else:
                    grouped[(box[u], box[v], data["port"])].append((u, v, data["failed_only"]))

    boxes: set[NodeKey] = {*locals_, *ports_of}
    for src, dst, _port in grouped:
        boxes.add(src)
        boxes.add(dst)

    texts = _Texts(nodes, focus, ports_of, locals_ if group else None)
    by_kind: dict[str, dict[NodeKey, str]] = defaultdict(dict)
    for key in boxes:
        by_kind[key.kind][key] = texts.id_name(key)
    names = {key: name for labels in by_kind.values() for key, name in ids.assign_names(labels).items()}
    comp_ids = {key: ids.component_id(mp, key.kind, names[key]) for key in boxes}

    box_members = {key: member_of(nodes[key]) for key in boxes if key.kind == "machine"}
    # every process box shows its server's computer
    def shown(key: NodeKey) -> tuple[Member | None, str | None]:
        return box_members[nodes[key]["machine"]] if key.kind == "process" else box_members.get(key, (None, None))

    components = sorted(
        (
            Component(
                id=comp_ids[key],
                kind="server" if key in local_set else key.kind,
                key=key,
                label=xml_text(texts.box_label(key)),
                description=xml_text(texts.box_description(key)),
                member=shown(key)[0],
            )
            for key in boxes
        ),
        key=attrgetter("id"),
    )

    parts = {key: (key.kind, names[key]) for key in boxes}
    arrows = []
    for (src, dst, port), members in grouped.items():
        if len(members) == 1:  # the usual case
            [(u, v, failed)] = members
            head, tail = texts.node_end(src, u), texts.node_end(dst, v)
        else:
            failed = all(f for _u, _v, f in members)
            head = texts.end_label(src, (u for u, _v, _f in members))
            tail = texts.end_label(dst, (v for _u, v, _f in members))
        port_label = f":{port}" if port is not None else ""
        label = " ".join(filter(None, (head, "→", tail, port_label, "(failed)" if failed else "")))
        arrows.append(Arrow(
            ids.arrow_id(mp, parts[src], parts[dst], port), comp_ids[src], comp_ids[dst], port_label,
            xml_text(label), failed,
        ))
    arrows.sort(key=attrgetter("id"))
    warnings = []
    for component in components:
        member, problem = shown(component.key)
        if problem:
            machine = nodes[component.key]["machine"] if component.kind == "process" else component.key
            warnings.append(BoxWarning(component.id, component.label, texts.node_label(machine), problem))
    return Diagram(
        mp_id=mp,
        server=xml_text(server) or mp,
        service_id=ids.service_id(mp),
        components=tuple(components),
        arrows=tuple(arrows),
        warnings=tuple(warnings),
        members=tuple(texts.short_machine(m) for m in locals_) if group else (),
        missing=tuple(xml_text(str(m)) for m in graph.graph.get("missing", ())) if group else (),
    )


def _group_description(attrs: dict) -> str:
    """A peer group's description: why it exists and its members (the first 200, then a count)."""
    members = [xml_text(m) for m in attrs.get("members", ())]
    listed = ", ".join(members[:_MAX_LISTED])
    more = f", and {len(members) - _MAX_LISTED} more" if len(members) > _MAX_LISTED else ""
    note = xml_text(attrs.get("note") or "Peers drawn as one box")
    return f"{note}; not SCOM objects, no health. {len(members)} member(s): {listed}{more}."


def member_of(machine_attrs: dict) -> tuple[Member | None, str | None]:
    """The computer a machine's box holds, and why it cannot be found (fully), if so.

    None for a machine Service Map only discovered (no agent, so no SCOM computer to expect),
    with no warning. See the module docstring for the properties used.
    """
    if machine_attrs["kind"] != "machine" or not machine_attrs["monitored"]:
        return None, None
    family = machine_attrs["os_family"]
    windows = family == "windows"
    unix = family in _UNIX_FAMILIES
    if not windows and not unix:
        windows = unix = True
    obj = machine_attrs.get("obj")
    names = [getattr(obj, attr, None) for attr in ("fqdn", "computer_name", "display_name")]
    if obj is None:  # a graph built without model objects: the label is all there is
        names = [machine_attrs.get("principal_name")]
    names = [xml_text(name) for name in map(usable_name, names) if name]
    fqdn = next((name.rstrip(".") for name in names if _is_fqdn(name)), None)
    if fqdn:
        return Member(principal_name=fqdn, windows=windows, unix=unix), None
    netbios = next((name for name in names if _NETBIOS.fullmatch(name)), None)
    if netbios is None:
        shown = ", ".join(repr(name) for name in names) or "none"
        return None, (f"no FQDN and no computer name for SCOM to find the computer by (names known: {shown}); "
                      "the box shows no health")
    domain = _domain_of(netbios, getattr(obj, "dns_names", ()) or ())
    netbios = netbios[:_NETBIOS_LENGTH].upper()
    how = f"NetbiosComputerName {netbios}" + (f" in domain {domain}" if domain else "")
    if not windows:
        return None, (f"UNIX/Linux computer without an FQDN (computer name {netbios}): SCOM knows UNIX/Linux "
                      "computers by PrincipalName only; the box shows no health")
    problem = None
    if unix:
        problem = (f"no FQDN: found as a Windows computer by {how}; a UNIX/Linux computer of that name "
                   "cannot be found (SCOM knows those by PrincipalName only)")
    elif domain is None:
        problem = (f"no FQDN: found by {how} alone, which any domain's computer of that name also matches")
    return Member(principal_name=None, windows=True, unix=False, netbios_name=netbios, domain=domain), problem


def _is_fqdn(name: str) -> bool:
    return bool(_FQDN.fullmatch(name)) and not _IPV4.fullmatch(name.rstrip("."))


def _domain_of(netbios: str, dns_names) -> str | None:
    """The DNS domain of ``netbios`` from a DNS name Service Map saw for the machine (``name.domain``)."""
    wanted = netbios.casefold()
    for dns_name in sorted(filter(None, dns_names)):
        dns_name = xml_text(dns_name).rstrip(".")
        host, dot, domain = dns_name.partition(".")
        if dot and host.casefold() == wanted and _is_fqdn(dns_name):
            return domain.lower()
    return None


class _Texts:
    """Human names for boxes and arrow ends, from the graph's node attributes."""

    def __init__(self, nodes: dict[NodeKey, dict], focus: NodeKey, ports_of: dict[NodeKey, set[int]],
                 members: tuple[NodeKey, ...] | None = None) -> None:
        self._nodes = nodes
        self._focus = focus
        self._members = members  # a machine group's member servers; None on a server's diagram
        self._ports_of = ports_of
        self._short: dict[NodeKey, str] = {}
        self._labels: dict[NodeKey, str] = {}
        self._ends: dict[NodeKey, str] = {}

    def short_machine(self, key: NodeKey) -> str:
        """Computer or display name (``sql01``), else the machine label."""
        short = self._short.get(key)
        if short is None and self._nodes[key].get("renamed"):
            short = self._short[key] = self.node_label(key)
        if short is None:
            obj = self._nodes[key]["obj"]
            candidates = (xml_text(name) for name in map(usable_name, (obj.computer_name, obj.display_name)) if name)
            short = next(filter(None, candidates), None) or self.node_label(key)
            self._short[key] = short
        return short

    def node_label(self, key: NodeKey) -> str:
        """The node's label (as curation renamed it), XML-safe, else its Service Map name."""
        label = self._labels.get(key)
        if label is None:
            attrs = self._nodes[key]
            label = self._labels[key] = xml_text(attrs.get("renamed") or attrs["label"]) or key.name
        return label

    def id_name(self, key: NodeKey) -> str:
        """The raw name an ID is cleaned from (kind is implied by the namespace)."""
        attrs = self._nodes[key]
        if key.kind == "clientGroup":
            return self._clients_target(attrs["clients_of"])
        if key.kind == _GROUP:
            return attrs.get("id_name") or attrs["label"]
        return attrs["label"]

    def box_label(self, key: NodeKey) -> str:
        attrs = self._nodes[key]
        if key.kind == "machine":
            return self.node_label(key)
        if key.kind == "clientGroup":
            if attrs.get("renamed"):
                return self.node_label(key)
            return f"Clients of {self._clients_target(attrs['clients_of'])} (agentless)"
        if key.kind == _GROUP:
            return self.node_label(key)
        obj = attrs["obj"]
        label = self.node_label(key)
        details = (xml_text(obj.description or ""), xml_text(obj.product_name or ""))
        detail = next((t for t in details if t and t.casefold() != label.casefold()), "")
        text = f"{label} ({detail})" if detail else label
        text += f" on {self.short_machine(attrs['machine'])}"
        ports = sorted(self._ports_of.get(key, ()))
        return text + (":" + ",".join(map(str, ports)) if ports else "")

    def box_description(self, key: NodeKey) -> str:
        attrs = self._nodes[key]
        ident = f"Service Map {key.kind} {key.name}"
        if self._members is not None:
            if key in self._members:
                return (f"Member server of the group ({ident}); contains its SCOM computer "
                        f"{xml_text(attrs['principal_name'])}.")
            if key.kind == "process":
                owner = self._nodes[attrs["machine"]]
                return (f"Process of the member server {self.short_machine(attrs['machine'])} ({ident}); shows the "
                        f"health of its SCOM computer {xml_text(owner['principal_name'])}.")
        if key == self._focus:
            return f"The server itself ({ident}); contains its SCOM computer {xml_text(attrs['principal_name'])}."
        if key.kind == "machine":
            if attrs["monitored"]:
                return (f"Peer machine monitored by Service Map ({ident}); contains its SCOM computer "
                        f"{xml_text(attrs['principal_name'])} if SCOM manages it.")
            return f"Peer machine only discovered by Service Map ({ident}); not a SCOM object, no health."
        if key.kind == "clientGroup":
            return f"Agentless clients grouped by Service Map ({ident}); not SCOM objects, no health."
        if key.kind == _GROUP:
            return _group_description(attrs)
        server = xml_text(self._nodes[self._focus]["principal_name"])
        return f"Process of the server ({ident}); shows the health of the server's SCOM computer {server}."

    def node_end(self, box: NodeKey, node: NodeKey) -> str:
        """``end_label(box, [node])``, remembered: a busy process is one end of thousands of arrows
        (``box`` is the one ``node`` is drawn in)."""
        label = self._ends.get(node)
        if label is None:
            label = self._ends[node] = self.end_label(box, (node,))
        return label

    def end_label(self, box: NodeKey, nodes: Iterable[NodeKey]) -> str:
        """One end of an arrow: the processes involved on their machine, or the client group."""
        if box.kind in ("clientGroup", _GROUP):
            return self.box_label(box)
        names = sorted({self.node_label(n) for n in nodes if n.kind == "process"})
        machine = box if box.kind == "machine" else self._nodes[box]["machine"]
        where = self.short_machine(machine)
        return f"{', '.join(names)} on {where}" if names else where

    def _clients_target(self, target: NodeKey) -> str:
        if target not in self._nodes:
            owner = machine_key(target.machine)
            return self.short_machine(owner) if owner in self._nodes else target.name
        attrs = self._nodes[target]
        if target.kind == "process":
            return f"{self.node_label(target)} on {self.short_machine(attrs['machine'])}"
        if target.kind == "port":
            return f"{self.short_machine(attrs['machine'])}{xml_text(attrs['label'])}"
        return self.short_machine(target)

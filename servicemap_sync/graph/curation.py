"""Curation: what a person decided about a diagram, applied after the rules on every sync.

A curation file is TOML with four kinds of entries, each an array of tables; every entry may
hold ``server`` (a glob or list of globs on the server's name; default: every server)::

    [[pin]]                              # draw an arrow (and its peer box) the data misses
    server = "web01.contoso.com"
    process = "IIS Worker Process"       # glob on a process of the server; default: the server box
    peer = "payments-gw.contoso.com"     # a box of the map (glob), else a new box by this name
    port = 443                           # optional
    direction = "outbound"               # or "inbound" (the peer calls the server); default outbound
    monitored = false                    # a new box: true if SCOM monitors a computer by that name

    [[ban]]                              # never draw these (any of process, peer, port; all must match)
    peer = "mon01*"                      # every arrow to or from matching peers
    # process = "System"                 # a process of the server (alone: the box and its arrows)
    # port = 445                         # a number or "a-b"; direction = "inbound"/"outbound"

    [[rename]]                           # show a box under another name (its SCOM IDs do not change)
    box = "api.payments.example"         # glob on any box's names
    label = "Payments provider"

    [[group]]                            # draw several peers as one named box that lists them
    name = "Domain controllers"
    peers = ["dc01*", "dc02*"]           # globs on peer boxes (machines, client groups)

Order of application: bans, groups, pins, renames. An entry that applies to a server but
names nothing in its map is reported in the notes (a pin of a process the server does not
have, a ban or group that matches no box, a rename of no box). A malformed file raises
:class:`~servicemap_sync.errors.ConfigError` naming the line (``curation.toml line 12``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field

import networkx as nx

from servicemap_sync.errors import ConfigError
from servicemap_sync.graph.explain import Decision, arrow_label
from servicemap_sync.graph.items import (
    GROUP_KIND, arrow_key, box_key, box_label, box_names, connections, drawn_boxes, glob_match, group_key, is_local,
    local_machines, prune,
)
from servicemap_sync.graph.rules import _globs, _ports, arrow_facts
from servicemap_sync.model import Machine, NodeKey, machine_key

__all__ = ["CURATION_KEYS", "Curation", "Entry", "apply_curation", "load_curation"]

CURATION_KEYS: dict[str, dict[str, bool]] = {
    "pin": {"server": False, "process": False, "peer": True, "port": False, "direction": False, "monitored": False},
    "ban": {"server": False, "process": False, "peer": False, "port": False, "direction": False},
    "rename": {"server": False, "box": True, "label": True},
    "group": {"server": False, "name": True, "peers": True},
}
"""Entry kind → key → required."""

_GLOB_CHARS = re.compile(r"[*?\[]")
_HEADER = re.compile(r"^\s*\[\[\s*(\w+)\s*\]\]\s*(#.*)?$")


@dataclass(frozen=True)
class Entry:
    """One curation entry; ``where`` names it in messages (``curation.toml line 12``)."""

    kind: str
    where: str
    server: tuple[str, ...] | None = None
    process: tuple[str, ...] | None = None
    peer: tuple[str, ...] | None = None
    port: tuple[tuple[int, int], ...] | None = None
    direction: str | None = None
    monitored: bool = False
    label: str = ""

    def applies_to(self, server_names: tuple[str, ...]) -> bool:
        return self.server is None or glob_match(self.server, server_names)


@dataclass(frozen=True)
class Curation:
    """A checked curation file: its entries in the order of application."""

    entries: tuple[Entry, ...] = ()
    source: str = "curation"


def load_curation(content: str | Mapping[str, object] | None, *, source: str = "curation.toml") -> Curation:
    """Check a curation file, given as its text or as the parsed TOML document.

    Raises:
        ConfigError: naming ``source`` and the line (when the text is given) and the key: TOML
            syntax, an unknown entry kind or key, a missing key, a bad glob, port or value.
    """
    if content is None:
        return Curation(source=source)
    lines: dict[str, list[int]] = {}
    if isinstance(content, str):
        try:
            doc = tomllib.loads(content)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML: {exc}") from None
        for number, line in enumerate(content.splitlines(), start=1):
            if m := _HEADER.match(line):
                lines.setdefault(m.group(1), []).append(number)
    elif isinstance(content, Mapping):
        doc = dict(content)
    else:
        raise ConfigError(f"{source}: must be TOML text or a table, not {type(content).__name__}")
    entries: list[Entry] = []
    for kind in doc:
        if kind not in CURATION_KEYS:
            where = _where(source, lines, kind, 0)
            raise ConfigError(f"{where}: {kind}: unknown entry kind; allowed: [[pin]], [[ban]], [[rename]], [[group]]")
    for kind in ("ban", "group", "pin", "rename"):
        tables = doc.get(kind, [])
        if not isinstance(tables, list):
            raise ConfigError(f"{_where(source, lines, kind, 0)}: {kind}: must be an array of tables ([[{kind}]])")
        for index, table in enumerate(tables):
            where = _where(source, lines, kind, index)
            if not isinstance(table, Mapping):
                raise ConfigError(f"{where}: [[{kind}]] must be a table")
            entries.append(_entry(kind, table, where))
    return Curation(tuple(entries), source)


def _where(source: str, lines: dict[str, list[int]], kind: str, index: int) -> str:
    found = lines.get(kind, [])
    if index < len(found):
        return f"{source} line {found[index]}"
    return f"{source} [[{kind}]] {index + 1}"


def _entry(kind: str, table: Mapping[str, object], where: str) -> Entry:
    allowed = CURATION_KEYS[kind]
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}: [[{kind}]] {key}: unknown key; allowed: {', '.join(allowed)}")
    for key, required in allowed.items():
        if required and key not in table:
            raise ConfigError(f"{where}: [[{kind}]] {key}: missing")
    title = f"{where}: [[{kind}]]"
    values: dict[str, object] = {}
    if "server" in table:
        values["server"] = _globs(table["server"], title, "server")
    if "process" in table:
        values["process"] = _globs(table["process"], title, "process")
    if kind == "pin":
        peer = table["peer"]
        if not isinstance(peer, str) or not peer.strip():
            raise ConfigError(f"{title} peer: must be a non-empty string, not {peer!r}")
        values["peer"] = _globs(peer, title, "peer")
        values["label"] = peer.strip()
        if "port" in table:
            port = table["port"]
            if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
                raise ConfigError(f"{title} port: must be one port number 0-65535, not {port!r}")
            values["port"] = ((port, port),)
        if "monitored" in table:
            if not isinstance(table["monitored"], bool):
                raise ConfigError(f"{title} monitored: must be true or false, not {table['monitored']!r}")
            values["monitored"] = table["monitored"]
    elif kind == "ban":
        if "peer" in table:
            values["peer"] = _globs(table["peer"], title, "peer")
        if "port" in table:
            values["port"] = _ports(table["port"], title, "port")
        if not any(k in table for k in ("process", "peer", "port")):
            raise ConfigError(f"{title}: names nothing: give at least one of process, peer, port")
    elif kind == "rename":
        values["peer"] = _globs(table["box"], title, "box")
        values["label"] = _text(table["label"], title, "label")
    else:
        values["label"] = _text(table["name"], title, "name")
        peers = table["peers"]
        values["peer"] = _globs(peers, title, "peers")
    if "direction" in table:
        direction = table["direction"]
        if direction not in ("inbound", "outbound"):
            raise ConfigError(f'{title} direction: must be "inbound" or "outbound", not {direction!r}')
        values["direction"] = direction
    return Entry(kind, where, **values)  # type: ignore[arg-type]


def _text(value: object, title: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip() or not value.strip().isprintable():
        raise ConfigError(f"{title} {key}: must be a non-empty one-line string, not {value!r}")
    return value.strip()


@dataclass
class CurationOutcome:
    """What :func:`apply_curation` did: explanation records, notes, and the pinned items."""

    decisions: list[Decision] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pinned: set[NodeKey] = field(default_factory=set)


def apply_curation(graph: nx.MultiDiGraph, curation: Curation | None) -> CurationOutcome:
    """Apply the entries that concern ``graph``'s server, **in place** (bans, groups, pins, renames)."""
    out = CurationOutcome()
    if curation is None or not curation.entries:
        return out
    focus: NodeKey = graph.graph["focus"]
    server = str(graph.graph.get("server", ""))
    server_names = tuple(n for n in (server.casefold(),) if n) + box_names(graph, focus)
    for entry in curation.entries:
        if entry.applies_to(server_names):
            {"ban": _ban, "group": _group, "pin": _pin, "rename": _rename}[entry.kind](graph, entry, out, server)
    return out


def _peer_boxes(graph: nx.MultiDiGraph, globs: tuple[str, ...]) -> list[NodeKey]:
    return sorted(b for b in drawn_boxes(graph) if not is_local(graph, b) and glob_match(globs, box_names(graph, b)))


def _ban(graph: nx.MultiDiGraph, entry: Entry, out: CurationOutcome, server: str) -> None:
    doomed = []
    for u, v, k, data in connections(graph):
        facts = arrow_facts(graph, u, v, data)
        local = u if facts.direction == "outbound" else v
        if entry.direction is not None and facts.direction != entry.direction:
            continue
        if entry.port is not None and not (facts.port is not None and any(a <= facts.port <= b for a, b in entry.port)):
            continue
        if entry.process is not None and not glob_match(entry.process, box_names(graph, local)):
            continue
        if entry.peer is not None and not glob_match(entry.peer, facts.peer_names + facts.peer_process_names):
            continue
        doomed.append((u, v, k, data.get("port")))
    boxes: list[NodeKey] = []
    if entry.process is not None and entry.peer is None and entry.port is None and entry.direction is None:
        boxes = sorted(n for n in graph if n.kind == "process" and is_local(graph, n)
                       and graph.degree(n) > 0 and glob_match(entry.process, box_names(graph, n)))
    if not doomed and not boxes:
        out.notes.append(f"{entry.where}: [[ban]] names nothing in the map of {server}")
        return
    touched: set[NodeKey] = set()
    for u, v, k, port in doomed:
        out.decisions.append(Decision("arrow", arrow_key(u, v, k), arrow_label(graph, u, v, port), "dropped",
                                      "curation", entry.where, "banned"))
        graph.remove_edge(u, v, k)
        touched.update((u, v))
    for box in boxes:
        out.decisions.append(Decision("box", str(box), box_label(graph, box), "dropped", "curation", entry.where,
                                      "banned"))
        for u, v, k in list(graph.in_edges(box, keys=True)) + list(graph.out_edges(box, keys=True)):
            graph.remove_edge(u, v, k)
            touched.update((u, v))
        touched.add(box)
    prune(graph, touched)


def _group(graph: nx.MultiDiGraph, entry: Entry, out: CurationOutcome, server: str) -> None:
    peers = [b for b in _peer_boxes(graph, entry.peer or ()) if b.kind != GROUP_KIND]
    if not peers:
        out.notes.append(f"{entry.where}: [[group]] \"{entry.label}\" matches no peer in the map of {server}")
        return
    focus = graph.graph["focus"]
    key = group_key(focus, "curated!" + entry.label)
    members = merge_into_group(graph, key, peers, label=entry.label, id_name=entry.label,
                               note=f"Grouped by {entry.where}", decider=entry.where)
    for peer, label in members:
        out.decisions.append(Decision("box", str(peer), label, "merged", "curation", entry.where,
                                      f'in the box "{entry.label}"'))
    out.decisions.append(Decision("box", str(key), entry.label, "kept", "curation", entry.where,
                                  f"a group of {len(members)} peers"))


def merge_into_group(graph: nx.MultiDiGraph, key: NodeKey, peers: list[NodeKey], *, label: str, id_name: str,
                     note: str, decider: str = "",
                     edges: list[tuple[NodeKey, NodeKey, str]] | None = None) -> list[tuple[NodeKey, str]]:
    """Redraw the arrows of peer boxes ``peers`` (only ``edges`` of them, if given) to and from one
    group node ``key``, in place; returns the ``(peer box, label)`` merged, sorted.

    A group node that exists already gets the new members added to its list.
    """
    focus = graph.graph["focus"]
    members = [(p, box_label(graph, p)) for p in peers]
    if key in graph:
        old = graph.nodes[key]
        old["members"] = tuple(sorted(set(old["members"]) | {m for _p, m in members}, key=str.casefold))
    else:
        graph.add_node(key, kind=GROUP_KIND, label=label, id_name=id_name, note=note, decider=decider, machine=focus,
                       members=tuple(sorted({m for _p, m in members}, key=str.casefold)))
    wanted = set(peers)
    selected = edges if edges is not None else [
        (u, v, k) for u, v, k, _d in connections(graph) if box_key(graph, u) in wanted or box_key(graph, v) in wanted]
    touched: set[NodeKey] = set()
    for u, v, k in selected:
        data = dict(graph.edges[u, v, k])
        graph.remove_edge(u, v, k)
        touched.update((u, v))
        nu = key if box_key(graph, u) in wanted else u
        nv = key if box_key(graph, v) in wanted else v
        new_k = k
        while graph.has_edge(nu, nv, new_k):
            new_k = f"{new_k}'"
        graph.add_edge(nu, nv, new_k, **data)
    prune(graph, touched - {key})
    return members


def _pin(graph: nx.MultiDiGraph, entry: Entry, out: CurationOutcome, server: str) -> None:
    focus = graph.graph["focus"]
    if entry.process is not None:
        locals_ = sorted(n for n in graph if n.kind == "process" and is_local(graph, n)
                         and glob_match(entry.process, box_names(graph, n)))
        if not locals_:
            out.notes.append(f"{entry.where}: [[pin]] process matches no process of {server}; not drawn")
            return
    else:  # from the server; on a group's graph, from each member server
        locals_ = list(local_machines(graph)) if graph.graph.get("members") is not None else [focus]
    peers = _peer_boxes(graph, entry.peer or ())
    if not peers:
        if _GLOB_CHARS.search(entry.label):
            out.notes.append(f"{entry.where}: [[pin]] peer {entry.label!r} matches no box of {server} and is a "
                             "pattern, so no box can be made for it; not drawn")
            return
        peers = [_new_peer(graph, entry)]
        out.decisions.append(Decision("box", str(peers[0]), entry.label, "kept", "curation", entry.where,
                                      "pinned (not in the data)"))
    port = entry.port[0][0] if entry.port else None
    inbound = entry.direction == "inbound"
    for local in locals_:
        for peer in peers:
            u, v = (peer, local) if inbound else (local, peer)
            existing = [(a, b, k) for a, b, k, d in connections(graph)
                        if box_key(graph, a) == u and box_key(graph, b) == v and d.get("port") == port]
            if existing:
                for a, b, k in existing:
                    graph.edges[a, b, k]["pinned"] = True
                    out.decisions.append(Decision("arrow", arrow_key(a, b, k), arrow_label(graph, a, b, port), "kept",
                                                  "curation", entry.where, "pinned (also in the data)"))
                continue
            k = f"pin:{entry.where}"
            graph.add_edge(u, v, k, kind="connection", id=k, port=port, ip=None, failure_state="ok",
                           failed_only=False, pinned=True)
            out.pinned.update((u, v))
            out.decisions.append(Decision("arrow", arrow_key(u, v, k), arrow_label(graph, u, v, port), "kept",
                                          "curation", entry.where, "pinned (not in the data)"))


def _new_peer(graph: nx.MultiDiGraph, entry: Entry) -> NodeKey:
    name = entry.label
    key = machine_key("curated!" + name)
    machine = Machine(key, id="", name=key.name, display_name=name,
                      monitoring_state="monitored" if entry.monitored else "discovered")
    graph.add_node(key, kind="machine", label=name, obj=machine, monitored=entry.monitored, os_family=None,
                   principal_name=name)
    return key


def _rename(graph: nx.MultiDiGraph, entry: Entry, out: CurationOutcome, server: str) -> None:
    boxes = sorted(b for b in drawn_boxes(graph) if glob_match(entry.peer or (), box_names(graph, b)))
    if not boxes:
        out.notes.append(f"{entry.where}: [[rename]] box matches no box of {server}")
        return
    for box in boxes:
        before = box_label(graph, box)
        graph.nodes[box]["renamed"] = entry.label
        out.decisions.append(Decision("box", str(box), entry.label, "kept", "curation", entry.where,
                                      f"renamed from {before!r}"))

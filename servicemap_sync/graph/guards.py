"""Size guards: a diagram an operator can read, and that SCOM does not fold into health buckets.

**Layers.** A *layer* is the set of peer boxes of one kind (machines, or client groups) that
talk to one process of the server in one direction on one server port: "the clients of w3wp
:443", "the machines sqlservr calls on :1433". A layer of more than ``max_per_layer`` peers
(default 8) keeps its ``max_per_layer`` busiest peers as their own boxes and draws the rest as
**one box**, "22 other clients of w3wp :443", whose description lists them. *Busiest* is the
number of the peer's connections with the server (all layers), then the label, then the key,
so the choice is deterministic.

**Whole diagram.** A diagram still over ``max_boxes`` boxes (default 60) is cut the same way,
with fewer peers kept per layer (max_per_layer - 1, ... down to 0) until it fits; a note says
so. Processes of the server are never collapsed, so a diagram can stay over the limit (the
note says that too).

Pinned arrows (curation) and peer groups are never collapsed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import networkx as nx

from servicemap_sync.errors import ConfigError
from servicemap_sync.graph.curation import merge_into_group
from servicemap_sync.graph.explain import Decision
from servicemap_sync.graph.items import GROUP_KIND, box_key, box_label, connections, drawn_boxes, group_key, is_local
from servicemap_sync.model import NodeKey

__all__ = ["Guards", "GuardOutcome", "apply_guards"]


@dataclass(frozen=True)
class Guards:
    """``diagram.max_per_layer`` (1..1000, default 8) and ``diagram.max_boxes`` (2..10000, default 60)."""

    max_per_layer: int = 8
    max_boxes: int = 60

    def __post_init__(self) -> None:
        for key, low, high in (("max_per_layer", 1, 1000), ("max_boxes", 2, 10000)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"diagram.{key}: {value!r} is not a whole number from {low} to {high}")


@dataclass
class GuardOutcome:
    decisions: list[Decision] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


Layer = tuple[NodeKey, str, int | None, str]  # (server process or member box, direction, port, peer kind)


def _layers(graph: nx.MultiDiGraph) -> dict[Layer, dict[NodeKey, list[tuple[NodeKey, NodeKey, str]]]]:
    """Layer → peer box → its connection edges in the layer (pinned arrows and groups left out)."""
    layers: dict[Layer, dict[NodeKey, list]] = defaultdict(lambda: defaultdict(list))
    for u, v, k, data in connections(graph):
        if data.get("pinned"):
            continue
        outbound = is_local(graph, u)
        local, peer = (u, v) if outbound else (v, u)
        peer_box = box_key(graph, peer)
        if is_local(graph, peer_box) or peer_box.kind == GROUP_KIND or local.kind != "process":
            continue
        kind = "clientGroup" if peer_box.kind == "clientGroup" else "machine"
        # the local box: the process, or (a group drawn at server detail) its member server
        layers[(box_key(graph, local), "outbound" if outbound else "inbound", data.get("port"), kind)][peer_box].append(
            (u, v, k))
    return layers


def _busyness(graph: nx.MultiDiGraph) -> Counter:
    count: Counter = Counter()
    for u, v, _k, _d in connections(graph):
        for end in (u, v):
            if not is_local(graph, end):
                count[box_key(graph, end)] += 1
    return count


def _collapse(graph: nx.MultiDiGraph, keep: int, reason: str) -> list[Decision]:
    decisions = []
    busy = _busyness(graph)
    focus = graph.graph["focus"]
    for (local, direction, port, kind), peers in sorted(_layers(graph).items(), key=lambda item: str(item[0])):
        if len(peers) <= keep or (reason == "diagram.max_boxes" and len(peers) - keep < 2):
            continue  # within the limit, or (cutting for max_boxes) collapsing would save no box
        ranked = sorted(peers, key=lambda p: (-busy[p], box_label(graph, p).casefold(), p))
        rest = ranked[keep:]
        where = f"{box_label(graph, local)}" + (f" :{port}" if port is not None else "")
        noun = "clients of" if direction == "inbound" else "peers called by"
        if kind == "clientGroup":
            noun = "client groups of" if direction == "inbound" else "client groups called by"
        other = "other " if keep else ""
        label = f"{len(rest)} {other}{noun} {where}"
        id_name = f"{other}{noun} {where}".strip()
        name = f"collapsed!{local.name}!{direction}!{port}!{kind}"
        key = group_key(focus, name)
        edges = [e for p in rest for e in peers[p]]
        members = merge_into_group(graph, key, rest, label=label, id_name=id_name,
                                   note=f"Collapsed by {reason}", decider=reason, edges=edges)
        if graph.has_node(key):
            graph.nodes[key]["label"] = f"{len(graph.nodes[key]['members'])} {other}{noun} {where}"
        for peer, peer_label in members:
            decisions.append(Decision("box", str(peer), peer_label, "merged", "guard", reason,
                                      f'in the box "{graph.nodes[key]["label"]}" (layer of {len(peers)} peers)'))
    return decisions


def apply_guards(graph: nx.MultiDiGraph, guards: Guards) -> tuple[nx.MultiDiGraph, GuardOutcome]:
    """Apply the size guards to ``graph``; returns the guarded graph (a new one if anything
    collapsed, else ``graph``) and the decisions and notes."""
    out = GuardOutcome()
    before = len(drawn_boxes(graph))
    layered = graph.copy()
    out.decisions = _collapse(layered, guards.max_per_layer, "diagram.max_per_layer")
    boxes = len(drawn_boxes(layered))
    if boxes <= guards.max_boxes:
        return (layered if out.decisions else graph), out
    start = boxes
    result, decisions = layered, out.decisions
    for keep in range(guards.max_per_layer - 1, -1, -1):
        trial = graph.copy()
        cut = _collapse(trial, keep, "diagram.max_boxes")
        result, decisions = trial, cut
        boxes = len(drawn_boxes(trial))
        if boxes <= guards.max_boxes:
            break
    out.decisions = decisions
    server = graph.graph.get("server", "")
    if boxes <= guards.max_boxes:
        out.notes.append(f"{server}: {start} boxes is over diagram.max_boxes={guards.max_boxes}: layers cut to "
                         f"{keep} peers each, now {boxes} boxes (was {before} before the guards)")
    else:
        out.notes.append(f"{server}: still {boxes} boxes, over diagram.max_boxes={guards.max_boxes}, with every "
                         "layer collapsed: processes of the server are never collapsed")
    return result, out

"""Shaping a server's graph into the diagram an operator would draw: the one entry point.

Called between :func:`~servicemap_sync.graph.build_graph` and
:func:`~servicemap_sync.mp.render_management_pack`::

    graph = build_graph(server_map)
    shaped = shape(graph, rules=rules, guards=Guards(8, 60), curation=curation,
                   stability=Stability(1, 3), history=stored_history, fresh=False)
    store(shaped.history)                      # JSON, per server
    pack = render_management_pack(shaped.graph, mp_id_prefix=..., version=...)

Steps, in order:

1. **stability** (:mod:`~servicemap_sync.graph.stability`) on the data as it came: items seen
   in fewer than ``appear_after`` syncs are held back, items missing from fewer than
   ``retire_after`` syncs are drawn from the history. Rules and curation then apply to what
   stability retained as much as to the data, so a new rule takes effect at once.
2. **rules** (:mod:`~servicemap_sync.graph.rules`): first match wins, drop or keep.
3. **curation** (:mod:`~servicemap_sync.graph.curation`): bans, groups, pins, renames.
4. **guards** (:mod:`~servicemap_sync.graph.guards`): ``max_per_layer`` and ``max_boxes``.

The input graph is not changed. Everything returned is deterministic for the same inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx

from servicemap_sync.graph.curation import Curation, apply_curation
from servicemap_sync.graph.explain import Decision, arrow_label
from servicemap_sync.graph.guards import Guards, apply_guards
from servicemap_sync.graph.items import arrow_key, box_key, box_label, connections, drawn_boxes, local_machines
from servicemap_sync.graph.rules import Rule, apply_rules
from servicemap_sync.graph.snapshot import apply_items, edge_item, graph_items, node_item
from servicemap_sync.graph.stability import Stability, decide
from servicemap_sync.model import NodeKey

__all__ = ["Shaped", "shape"]


@dataclass(frozen=True)
class Shaped:
    """What :func:`shape` returns.

    ``graph``: the shaped graph, for the renderer. ``explanation``: one
    :class:`~servicemap_sync.graph.explain.Decision` per box and arrow of the map (and of what
    stability retained, and of what curation added), sorted by item and key. ``notes``:
    sentences for the change report (curation lines that name nothing, a diagram cut to
    ``max_boxes``). ``history``: the stability document to store for the server (JSON-ready).
    """

    graph: nx.MultiDiGraph
    explanation: tuple[Decision, ...]
    notes: tuple[str, ...]
    history: dict[str, Any]

    def explanation_records(self) -> list[dict[str, str]]:
        """The explanation as plain dicts (for ``explain --json`` and the state database)."""
        return [d.as_dict() for d in self.explanation]

    def counts(self) -> dict[str, int]:
        """Boxes and arrows kept, dropped and merged: ``{"box kept": 7, "arrow dropped": 12, ...}``."""
        out: dict[str, int] = {}
        for d in self.explanation:
            out[f"{d.item} {d.decision}"] = out.get(f"{d.item} {d.decision}", 0) + 1
        return dict(sorted(out.items()))


def shape(
    graph: nx.MultiDiGraph,
    *,
    rules: Iterable[Rule] = (),
    guards: Guards | None = None,
    curation: Curation | None = None,
    history: Mapping[str, Any] | None = None,
    stability: Stability | None = None,
    fresh: bool = False,
) -> Shaped:
    """Shape one server's graph (see the module docstring).

    Args:
        graph: from :func:`~servicemap_sync.graph.build_graph`; not modified.
        rules: from :func:`~servicemap_sync.graph.rules.load_rules`.
        guards: ``max_per_layer``/``max_boxes``; default :class:`Guards` ``()`` (8, 60).
        curation: from :func:`~servicemap_sync.graph.curation.load_curation`; None: none.
        history: the ``history`` of this server's previous :class:`Shaped`; None: none yet.
        stability: ``appear_after``/``retire_after``; default :class:`Stability` ``()`` (1, 3).
        fresh: ignore ``history`` (``rebuild --fresh``); the returned history starts anew.

    Returns:
        The :class:`Shaped` graph, explanation, notes and history.
    """
    guards = guards if guards is not None else Guards()
    stability = stability if stability is not None else Stability()
    work = graph.copy()
    current = graph_items(work)
    decision = decide(current, history, settings=stability, fresh=fresh)
    apply_items(work, current, decision.draw)
    seen = work.copy()  # the map as stability lets it be drawn, before rules

    outcome = apply_rules(work, rules)
    curated = apply_curation(work, curation)
    work, guarded = apply_guards(work, guards)

    explanation = _explain(graph, seen, work, decision, stability, outcome, curated.decisions, guarded.decisions)
    return Shaped(
        graph=work,
        explanation=explanation,
        notes=tuple(curated.notes + guarded.notes),
        history=decision.history,
    )


def _held(kind: str, key: str, label: str, seen: int, stability: Stability) -> Decision:
    """An item stability does not draw yet: seen in fewer syncs than ``appear_after``."""
    return Decision(kind, key, label, "dropped", "stability", "diagram.appear_after",
                    f"seen in {seen} consecutive sync(s) of the {stability.appear_after} needed")


def _retained(kind: str, key: str, label: str, missed: int, stability: Stability) -> Decision:
    """An item stability keeps drawn though the data no longer has it."""
    return Decision(kind, key, label, "kept", "stability", "diagram.retire_after",
                    f"missing from the data for {missed} sync(s); leaves after {stability.retire_after}")


def _explain(original: nx.MultiDiGraph, seen: nx.MultiDiGraph, final: nx.MultiDiGraph, decision, stability: Stability,
             outcome, curated: list[Decision], guarded: list[Decision]) -> tuple[Decision, ...]:
    explicit: dict[tuple[str, str], Decision] = {}
    for d in curated + guarded:  # later stages win: a group made by curation, then collapsed, says so
        explicit[(d.item, d.key)] = d
    held = decision.held
    retained = decision.retained
    final_edges: set[tuple[NodeKey, NodeKey, str]] = set()
    moved: dict[str, NodeKey] = {}  # connection id -> the group box its arrow now goes to
    for u, v, k, data in connections(final):
        final_edges.add((u, v, k))
        for end in (u, v):
            if end.kind == "peerGroup":
                moved[str(data.get("id", k))] = end
    servers = set(local_machines(final))
    out: dict[tuple[str, str], Decision] = {}

    arrows: dict[tuple[NodeKey, NodeKey, str], tuple[nx.MultiDiGraph, dict]] = {}
    for g in (final, seen, original):
        for u, v, k, data in connections(g):
            if g is final and not data.get("pinned") and "peerGroup" in (u.kind, v.kind):
                continue  # an arrow redrawn to a group: explained under its original ends, as merged
            arrows[(u, v, k)] = (g, data)
    box_arrows: dict[NodeKey, list[Decision]] = {}
    for (u, v, k), (g, data) in sorted(arrows.items(), key=lambda item: (str(item[0][0]), str(item[0][1]), item[0][2])):
        key = arrow_key(u, v, k)
        label = arrow_label(g, u, v, data.get("port"))
        item = edge_item(u, v, k)
        rule = outcome.arrows.get((u, v, k))
        if item in held:
            d = _held("arrow", key, label, held[item], stability)
        elif rule is not None and rule.action == "drop":
            d = Decision("arrow", key, label, "dropped", "rule", rule.title, "matched")
        elif ("arrow", key) in explicit:
            d = explicit[("arrow", key)]
        elif (u, v, k) not in final_edges and str(data.get("id", k)) in moved:
            box = moved[str(data.get("id", k))]
            d = Decision("arrow", key, label, "merged", "guard" if box.name.startswith("collapsed!") else "curation",
                         final.nodes[box].get("decider", ""), f'drawn to the box "{box_label(final, box)}"')
        elif (u, v, k) not in final_edges:
            d = Decision("arrow", key, label, "dropped", "curation", "", "its box was dropped")
        elif item in retained:
            d = _retained("arrow", key, label, retained[item], stability)
        elif rule is not None:
            d = Decision("arrow", key, label, "kept", "rule", rule.title, "matched")
        else:
            d = Decision("arrow", key, label, "kept", "default", "", "no rule matched")
        out[("arrow", key)] = d
        if g is not final or (u, v, k) in final_edges:
            for end in (u, v):
                box_arrows.setdefault(box_key(g, end), []).append(d)

    final_boxes = drawn_boxes(final)
    boxes: dict[NodeKey, nx.MultiDiGraph] = {}
    for g in (original, seen, final):
        for box in drawn_boxes(g):
            boxes.setdefault(box, g)
    for box in sorted(boxes):
        g = final if box in final else boxes[box]
        key, label = str(box), box_label(g, box)
        item = node_item(box)
        ex = explicit.get(("box", key))
        rule = outcome.boxes.get(box)
        if box in final_boxes:
            if ex is not None and ex.decision == "kept":
                d = ex
            elif item in retained:
                d = _retained("box", key, label, retained[item], stability)
            elif rule is not None:
                d = Decision("box", key, label, "kept", "rule", rule.title, "matched (a process that only listens)")
            else:
                n = sum(1 for a in box_arrows.get(box, ()) if a.decision in ("kept", "merged"))
                why = f"{n} arrow(s) drawn" if n else "listens on a port"
                d = Decision("box", key, label, "kept", "default", "", "the server itself" if box in servers
                             else why)
        elif item in held:
            d = _held("box", key, label, held[item], stability)
        elif ex is not None:
            d = ex
        elif rule is not None and rule.action == "drop":
            d = Decision("box", key, label, "dropped", "rule", rule.title, "matched (a process that only listens)")
        else:
            deciders = box_arrows.get(box, [])
            merged = [a for a in deciders if a.decision == "merged"]
            if merged and len(merged) == len([a for a in deciders if a.decision != "dropped"]):
                d = Decision("box", key, label, "merged", merged[0].by, merged[0].name, merged[0].detail)
            else:
                dropped = [a for a in deciders if a.decision == "dropped"]
                bys = list(dict.fromkeys(a.by for a in dropped)) or ["default"]
                names = list(dict.fromkeys(a.name for a in dropped if a.name))
                d = Decision("box", key, label, "dropped", bys[0], ", ".join(names),
                             f"all its {len(dropped)} arrow(s) were dropped")
        out[("box", key)] = d
    for (item, key), d in explicit.items():  # boxes and arrows curation or guards added
        out.setdefault((item, key), d)
    return tuple(sorted(out.values(), key=lambda d: (d.item, d.key)))

"""Stability: the pure decision, and arrows that stay through short absences on a real graph."""

from __future__ import annotations

import json

import pytest

from estate import graph
from servicemap_sync.errors import ConfigError
from servicemap_sync.graph.items import box_label, connections, drawn_boxes
from servicemap_sync.graph.shape import shape
from servicemap_sync.graph.stability import Stability, decide
from servicemap_sync.mp import render_management_pack


def run(seq, settings=Stability()):
    """Feed ``seq`` (sets of keys seen per sync); return the drawn keys per sync."""
    history, drawn = None, []
    for seen in seq:
        result = decide({k: {"v": k} for k in seen}, history, settings=settings)
        history = json.loads(json.dumps(result.history))  # what the state database gives back
        drawn.append(set(result.draw))
    return drawn


def test_missing_once_stays_missing_three_times_leaves() -> None:
    drawn = run([{"a", "b"}, {"a"}, {"a", "b"}, {"a"}, {"a"}, {"a"}, {"a"}])
    assert drawn == [{"a", "b"}, {"a", "b"}, {"a", "b"}, {"a", "b"}, {"a", "b"}, {"a"}, {"a"}]


def test_appear_after_holds_new_items_back_until_seen_in_a_row() -> None:
    s = Stability(appear_after=2, retire_after=3)
    assert run([{"a"}, {"a"}, {"a"}], s) == [set(), {"a"}, {"a"}]
    assert run([{"a"}, set(), {"a"}, {"a"}], s) == [set(), set(), set(), {"a"}]


def test_fresh_ignores_history_and_retained_items_draw_their_stored_data() -> None:
    first = decide({"a": 1, "b": 2}, None)
    second = decide({"a": 1}, first.history)
    assert second.draw == {"a": 1, "b": 2} and second.retained == {"b": 1}
    assert decide({"a": 1}, first.history, fresh=True).draw == {"a": 1}


@pytest.mark.parametrize("history", [None, {}, {"version": 99}, {"version": 1, "items": []},
                                     {"version": 1, "items": {"a": {"seen": -1}}}, "junk"])
def test_bad_history_counts_as_none(history) -> None:
    assert decide({"a": 1}, history).draw == {"a": 1}


@pytest.mark.parametrize("kwargs", [{"appear_after": 0}, {"retire_after": 101}, {"retire_after": 2.5}])
def test_bad_settings_name_the_key(kwargs) -> None:
    with pytest.raises(ConfigError, match="diagram."):
        Stability(**kwargs)


def without(g, peer_label: str):
    g = g.copy()
    doomed = [(u, v, k) for u, v, k, _d in connections(g)
              if peer_label in (box_label(g, g.nodes[u].get("machine", u)), box_label(g, g.nodes[v].get("machine", v)))]
    g.remove_edges_from(doomed)
    for node in [n for n in g if g.degree(n) == 0 and n.kind == "process" and n.machine != g.graph["focus"].name]:
        g.remove_node(node)
    g.remove_nodes_from([n for n in g if n.kind == "machine" and n != g.graph["focus"]
                         and not any(p.machine == n.name for p in g if p.kind == "process")])
    return g


def test_an_arrow_missing_from_one_sync_stays_and_from_three_leaves_on_the_real_graph() -> None:
    full = graph("sql01.contoso.com")
    gone = without(full, "app01.contoso.com")
    assert "app01.contoso.com" not in {box_label(gone, b) for b in drawn_boxes(gone)}

    packs, history = [], None
    for g in (full, gone, gone, gone):
        shaped = shape(g, history=history)
        history = json.loads(json.dumps(shaped.history))
        packs.append(render_management_pack(shaped.graph, mp_id_prefix="S", version="1.0.0.1"))
        if g is gone and len(packs) == 2:
            kept = [d for d in shaped.explanation if d.by == "stability"]
            assert kept and all(d.decision == "kept" and d.name == "diagram.retire_after" for d in kept)
    assert packs[0].xml == packs[1].xml == packs[2].xml  # the pack does not change while app01 is retained
    assert packs[3].xml != packs[2].xml
    assert not any("app01" in label for label in packs[3].components.values())
    assert packs[3].xml == render_management_pack(gone, mp_id_prefix="S", version="1.0.0.1").xml


def test_a_new_rule_applies_to_retained_items_at_once() -> None:
    from servicemap_sync.graph.rules import load_rules

    full = graph("sql01.contoso.com")
    history = shape(full).history
    rules = load_rules([{"name": "no app01", "action": "drop", "peer": "app01*"}])
    shaped = shape(without(full, "app01.contoso.com"), history=history, rules=rules)
    assert not any(box_label(shaped.graph, b).startswith("app01") for b in drawn_boxes(shaped.graph))

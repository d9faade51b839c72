"""A machine group's graph: merged from its members' maps or read from Service Map's group map,
missing members reported, and shaped like a server's graph."""

from __future__ import annotations

import pytest

from group_estate import (
    SCENARIO, SHOP, expected_boxes_and_arrows, fqdn, group_map, group_members, member_map,
)
from servicemap_sync.errors import ConfigError, RenderError
from servicemap_sync.graph import Guards, Stability, build_graph, load_curation, load_rules, shape
from servicemap_sync.graph.group import build_group_graph, group_focus
from servicemap_sync.graph.items import box_key, drawn_boxes, is_local
from servicemap_sync.model import machine_key


def _structure(graph) -> tuple:
    """Nodes and edges with every attribute but the model objects, and the graph's own attributes."""
    nodes = {k: {a: v for a, v in d.items() if a != "obj"} for k, d in graph.nodes(data=True)}
    edges = {(u, v, k): dict(d) for u, v, k, d in graph.edges(keys=True, data=True)}
    attrs = {a: v for a, v in graph.graph.items() if a not in ("start_time", "end_time")}
    return nodes, edges, attrs


def _boxes_and_arrows(graph) -> tuple[set, set]:
    boxes = {(b.kind, b.name) for b in drawn_boxes(graph)}
    arrows = {((box_key(graph, u).kind, box_key(graph, u).name), (box_key(graph, v).kind, box_key(graph, v).name),
               d.get("port"))
              for u, v, d in graph.edges(data=True) if d["kind"] == "connection"}
    return boxes, arrows


@pytest.mark.parametrize("name", [SHOP, "Orders API"])
@pytest.mark.parametrize("detail", ["process", "server"])
def test_merged_from_members_equals_the_group_map(name: str, detail: str) -> None:
    members = group_members(name)
    merged = build_group_graph(name, [member_map(m) for m in members], detail=detail)
    from_service = build_group_graph(name, group_map(name, members), detail=detail)
    assert _structure(merged) == _structure(from_service)
    assert list(merged.nodes) == sorted(merged.nodes)  # the same sorted order build_graph keeps


@pytest.mark.parametrize("detail", ["process", "server"])
def test_the_group_graph_draws_what_the_members_maps_imply(detail: str) -> None:
    members = group_members(SHOP)
    graph = build_group_graph(SHOP, [member_map(m) for m in members], detail=detail)
    expected = expected_boxes_and_arrows([SCENARIO.maps[m] for m in members], {m.lower() for m in members},
                                         detail=detail)
    assert _boxes_and_arrows(graph) == expected
    assert graph.graph["members"] == tuple(machine_key(m) for m in members)
    assert graph.graph["missing"] == () and graph.graph["detail"] == detail
    assert graph.graph["group"] == graph.graph["server"] == SHOP and graph.graph["focus"] == group_focus(SHOP)
    assert graph.graph["focus"] not in graph


def test_each_edge_once_and_members_local() -> None:
    members = group_members(SHOP)
    graph = build_group_graph(SHOP, [member_map(m) for m in members] * 2)  # a map given twice counts once
    single = [build_graph(member_map(m)) for m in members]
    assert set(graph.edges(keys=True)) == set().union(*(set(g.edges(keys=True)) for g in single))
    assert graph.number_of_edges() == len(set(graph.edges(keys=True)))
    for m in members:
        assert is_local(graph, machine_key(m))
    assert not is_local(graph, machine_key("m-24139af7-92aa-599e-8d8c-c0350843f707"))  # dc01, a peer
    # web01 -> app01 :8443 joins two member processes, each its own box
    between = [(u, v) for u, v, d in graph.edges(data=True)
               if d["kind"] == "connection" and is_local(graph, u) and is_local(graph, v)]
    assert between and all(box_key(graph, u) == u and box_key(graph, v) == v for u, v in between)


def test_a_missing_member_is_reported_and_the_others_drawn() -> None:
    members = group_members(SHOP)
    gone = members[1]  # web02
    found = [m for m in members if m != gone]
    graph = build_group_graph(SHOP, [member_map(m) for m in found], missing=[fqdn(gone)])
    assert graph.graph["missing"] == (fqdn(gone),)
    assert graph.graph["members"] == tuple(machine_key(m) for m in found)
    assert machine_key(gone) not in graph
    expected = expected_boxes_and_arrows([SCENARIO.maps[m] for m in found], {m.lower() for m in found})
    assert _boxes_and_arrows(graph) == expected
    # the same from Service Map's group map, where the member had no data in the window
    from_service = build_group_graph(SHOP, group_map(SHOP, members, served=found))
    assert from_service.graph["missing"] == (gone,)
    assert _boxes_and_arrows(from_service) == expected


def test_bad_detail_and_no_member() -> None:
    with pytest.raises(ConfigError, match="detail"):
        build_group_graph(SHOP, [member_map(group_members(SHOP)[0])], detail="box")  # type: ignore[arg-type]
    with pytest.raises(RenderError, match="none of its members"):
        build_group_graph(SHOP, [], missing=["web01"])


def test_self_links_only_at_process_detail() -> None:
    members = group_members(SHOP)
    maps = [member_map(m) for m in members]

    def self_links(graph) -> int:
        return sum(1 for u, v, d in graph.edges(data=True)
                   if d["kind"] == "connection" and u.kind == v.kind == "process" and u.machine == v.machine)

    assert self_links(build_group_graph(SHOP, maps)) == 0
    with_self = sum(self_links(build_graph(m, include_self_links=True)) for m in maps)
    assert self_links(build_group_graph(SHOP, maps, include_self_links=True)) == with_self
    assert self_links(build_group_graph(SHOP, maps, detail="server", include_self_links=True)) == 0


def test_shaped_like_a_server_graph() -> None:
    """Rules, curation, guards and stability apply to a group's graph; members are never dropped
    or collapsed, and arrows between members never collapsed."""
    members = group_members(SHOP)
    graph = build_group_graph(SHOP, [member_map(m) for m in members])
    rules = load_rules([{"name": "monitoring agents", "action": "drop", "preset": "monitoring-agents"},
                        {"name": "directory services", "action": "drop", "preset": "infrastructure",
                         "direction": "outbound"}])
    shaped = shape(graph, rules=rules, guards=Guards(max_per_layer=1, max_boxes=60))
    boxes = drawn_boxes(shaped.graph)
    assert {machine_key(m) for m in members} <= boxes
    assert machine_key("m-2ae169ae-59c9-5d3c-8b33-22ccac86b40b") not in boxes  # mon01, the monitoring server
    assert machine_key("m-24139af7-92aa-599e-8d8c-c0350843f707") not in boxes  # dc01, directory services
    kept = {(box_key(shaped.graph, u), box_key(shaped.graph, v)) for u, v, d in shaped.graph.edges(data=True)
            if d["kind"] == "connection" and is_local(shaped.graph, u) and is_local(shaped.graph, v)}
    before = {(box_key(graph, u), box_key(graph, v)) for u, v, d in graph.edges(data=True)
              if d["kind"] == "connection" and is_local(graph, u) and is_local(graph, v)}
    assert kept == before
    decisions = {d.key: d for d in shaped.explanation}
    for m in members:
        assert decisions[str(machine_key(m))].decision == "kept"
        assert decisions[str(machine_key(m))].detail == "the server itself"

    # stability: a second sync with the history draws the same; a new peer waits appear_after syncs
    again = shape(graph, rules=rules, history=shaped.history)
    assert _structure(again.graph) == _structure(shape(graph, rules=rules).graph)
    held = shape(graph, stability=Stability(appear_after=2, retire_after=3), history=None)
    assert drawn_boxes(held.graph) == {machine_key(m) for m in members}  # members drawn at once, peers wait
    # curation: ban a peer, rename a member, group two peers; a rule scoped by the group's name
    curation = load_curation('[[ban]]\npeer = "api.payments.example"\n\n'
                             '[[rename]]\nbox = "web01*"\nlabel = "Front door"\n\n'
                             '[[group]]\nname = "Build and files"\npeers = ["build01*", "file01*"]\n')
    curated = shape(graph, curation=curation)
    labels = {curated.graph.nodes[b].get("renamed") or curated.graph.nodes[b].get("label")
              for b in drawn_boxes(curated.graph)}
    assert "Front door" in labels and "Build and files" in labels and "api.payments.example" not in labels
    scoped = load_rules([{"name": "not here", "action": "drop", "server": "other*", "port": 8443},
                         {"name": "here", "action": "drop", "server": "contoso web*", "port": 1433}])
    ports = {d.get("port") for _u, _v, d in shape(graph, rules=scoped).graph.edges(data=True)}
    assert 8443 in ports and 1433 not in ports


def test_server_detail_shapes_and_collapses_per_member() -> None:
    members = group_members(SHOP)
    graph = build_group_graph(SHOP, [member_map(m) for m in members], detail="server")
    shaped = shape(graph, guards=Guards(max_per_layer=1, max_boxes=60))
    boxes = drawn_boxes(shaped.graph)
    assert {machine_key(m) for m in members} <= boxes
    assert not any(b.kind == "process" for b in boxes)
    assert any(b.kind == "peerGroup" for b in boxes)  # a member's callers collapsed into one box

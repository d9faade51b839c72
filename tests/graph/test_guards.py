"""Size guards: a layer of 30 clients, and a diagram over max_boxes."""

from __future__ import annotations

import dataclasses

import pytest

from estate import server_map
from servicemap_sync.errors import ConfigError
from servicemap_sync.graph import build_graph
from servicemap_sync.graph.guards import Guards
from servicemap_sync.graph.items import GROUP_KIND, box_label, drawn_boxes
from servicemap_sync.graph.shape import shape
from servicemap_sync.model import Connection, Machine, NodeKey, PortRef, Process, machine_key
from servicemap_sync.mp import render_management_pack
from servicemap_sync.mp.validate import validate_bytes

WEB = "web01.contoso.com"


def busy_web(clients: int = 29):
    """web01 with ``clients`` more monitored machines calling IIS on :443 (where build01 calls it
    already: 29 make a layer of 30); client i makes i % 5 + 1 connections."""
    base = server_map(WEB)
    w3wp = next(p for p in base.processes if p.display_name == "IIS Worker Process" and p.key.machine == base.focus.name)
    machines, processes, connections = [], [], []
    for i in range(clients):
        name = f"m-client{i:02d}"
        m = Machine(machine_key(name), f"id-{name}", name, f"client{i:02d}", "monitored",
                    computer_name=f"client{i:02d}", fqdn=f"client{i:02d}.contoso.com", os_family="windows")
        machines.append(m)
        for j in range(i % 5 + 1):
            p = Process(NodeKey("process", name, f"p-browser{j}"), f"id-{name}-{j}", f"p-browser{j}", f"browser{j}")
            processes.append(p)
            connections.append(Connection(f"c-{name}-{j}", p.key, w3wp.key,
                                          PortRef(NodeKey("port", base.focus.name, "b-0a00010b_443"), "10.0.1.11", 443)))
    return build_graph(dataclasses.replace(
        base, machines=base.machines + tuple(machines), processes=base.processes + tuple(processes),
        connections=base.connections + tuple(connections)))


def groups(g) -> list:
    return [k for k in g if k.kind == GROUP_KIND]


def test_a_layer_of_30_clients_becomes_8_boxes_and_one_collapsed_box() -> None:
    g = busy_web(29)
    shaped = shape(g)
    layer = {b for b in drawn_boxes(shaped.graph) if box_label(shaped.graph, b).startswith("client")}
    assert len(layer) == 8
    # the busiest: 5 connections each (i % 5 == 4), then 4 (i % 5 == 3), by name
    assert sorted(box_label(shaped.graph, b) for b in layer) == sorted(
        ["client04.contoso.com", "client09.contoso.com", "client14.contoso.com", "client19.contoso.com",
         "client24.contoso.com", "client03.contoso.com", "client08.contoso.com", "client13.contoso.com"])
    [group] = groups(shaped.graph)
    attrs = shaped.graph.nodes[group]
    assert attrs["label"] == "22 other clients of IIS Worker Process :443"
    assert len(attrs["members"]) == 22 and {"client00.contoso.com", "build01.contoso.com"} <= set(attrs["members"])
    merged = [d for d in shaped.explanation if d.item == "box" and d.decision == "merged"]
    assert len(merged) == 22 and {d.name for d in merged} == {"diagram.max_per_layer"}

    pack = render_management_pack(shaped.graph, mp_id_prefix="ServiceMapSync", version="1.0.0.1")
    assert validate_bytes(pack.xml, filename=pack.filename) == []
    [(cid, label)] = [(c, lbl) for c, lbl in pack.components.items() if ".Group." in c]
    assert label == "22 other clients of IIS Worker Process :443"
    assert b"22 member(s): build01.contoso.com, client00.contoso.com, client01.contoso.com" in pack.xml
    assert sum(1 for c in pack.components if ".Machine.client" in c) == 8


def test_the_collapsed_box_keeps_its_id_when_the_count_changes() -> None:
    ids = []
    for n in (30, 31):
        pack = render_management_pack(shape(busy_web(n)).graph, mp_id_prefix="S", version="1.0.0.1")
        ids.append([c for c in pack.components if ".Group." in c])
    assert ids[0] == ids[1]


def test_a_layer_at_the_limit_is_left_alone() -> None:
    g = busy_web(7)  # plus build01 on :443: 8 peers
    assert groups(shape(g).graph) == []
    assert len(groups(shape(busy_web(8)).graph)) == 1


def test_max_boxes_cuts_layers_further_with_a_note() -> None:
    g = busy_web(30)
    shaped = shape(g, guards=Guards(max_per_layer=8, max_boxes=12))
    assert len(drawn_boxes(shaped.graph)) <= 12
    assert len(shaped.notes) == 1 and "diagram.max_boxes=12" in shaped.notes[0]
    assert {d.name for d in shaped.explanation if d.decision == "merged"} == {"diagram.max_boxes"}
    pack = render_management_pack(shaped.graph, mp_id_prefix="S", version="1.0.0.1")
    assert validate_bytes(pack.xml, filename=pack.filename) == []


def test_max_boxes_that_cannot_be_met_says_so() -> None:
    shaped = shape(busy_web(30), guards=Guards(max_per_layer=8, max_boxes=2))
    assert "still" in shaped.notes[0] and "never collapsed" in shaped.notes[0]


@pytest.mark.parametrize("kwargs, key", [({"max_per_layer": 0}, "max_per_layer"), ({"max_boxes": 1}, "max_boxes"),
                                         ({"max_per_layer": True}, "max_per_layer"), ({"max_boxes": "60"}, "max_boxes")])
def test_bad_guards_name_the_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=f"diagram.{key}"):
        Guards(**kwargs)

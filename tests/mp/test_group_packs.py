"""A machine group's Distributed Application pack: exactly the boxes and arrows the members' maps
imply (worked out from the sample JSON), valid, deterministic, upgrade-safe, a missing member
drawn around and named."""

from __future__ import annotations

import pytest
from lxml import etree

from group_estate import (
    SCENARIO, SHOP, expected_boxes_and_arrows, fqdn, group_map, group_members, member_map, without_connection,
)
from servicemap_sync.graph import build_graph, shape
from servicemap_sync.graph.group import build_group_graph
from servicemap_sync.mp import render_management_pack
from servicemap_sync.mp.diagram import build_diagram
from servicemap_sync.mp.ids import group_mp_id, mp_id
from servicemap_sync.mp.retire import RETIRED_MARK
from servicemap_sync.mp.upgrade import check_upgrade
from servicemap_sync.mp.validate import validate_bytes

PREFIX = "Contoso.SvcMap"
MP_ID = "Contoso.SvcMap.Group.contoso_web_shop"


def _drawn(diagram) -> tuple[set, set]:
    """The diagram's boxes ``(kind, name)`` and arrows ``(from box, to box, port)``, by Service Map identity."""
    by_id = {c.id: (c.key.kind, c.key.name) for c in diagram.components}
    arrows = {(by_id[a.source], by_id[a.target], int(a.port[1:]) if a.port else None) for a in diagram.arrows}
    return set(by_id.values()), arrows


def _render(graph, version="1.0.0.0", previous=None):
    return render_management_pack(graph, mp_id_prefix=PREFIX, version=version, previous=previous)


@pytest.mark.parametrize("detail", ["process", "server"])
def test_group_pack_has_the_boxes_and_arrows_of_its_members_maps(detail: str) -> None:
    members = group_members(SHOP)
    assert len(members) == 4
    graph = build_group_graph(SHOP, [member_map(m) for m in members], detail=detail)
    expected = expected_boxes_and_arrows([SCENARIO.maps[m] for m in members], {m.lower() for m in members},
                                         detail=detail)
    diagram = build_diagram(graph, mp_id_prefix=PREFIX)
    assert _drawn(diagram) == expected
    rendered = _render(graph)
    assert rendered.mp_id == MP_ID and rendered.filename == f"{MP_ID}.xml"
    assert validate_bytes(rendered.xml, filename=rendered.filename) == []
    assert set(rendered.components) == {c.id for c in diagram.components}
    assert rendered.arrows == frozenset((a.source, a.target, a.port) for a in diagram.arrows)
    # the same from Service Map's group map
    from_service = build_diagram(build_group_graph(SHOP, group_map(SHOP, members), detail=detail),
                                 mp_id_prefix=PREFIX)
    assert _drawn(from_service) == expected

    # one server box per member, each holding its computer; each process box shows its member's computer
    servers = {c.key.name: c for c in diagram.components if c.kind == "server"}
    assert set(servers) == {m.lower() for m in members}
    for c in diagram.components:
        if c.kind == "server":
            assert c.member.principal_name == fqdn(next(m for m in members if m.lower() == c.key.name))
        elif c.kind == "process":
            assert c.member == servers[c.key.machine].member
    assert diagram.members == ("WEB01", "web02", "APP01", "SQL01") and diagram.missing == ()
    root = etree.fromstring(rendered.xml)
    names = {d.get("ElementID"): d.findtext("Name") for d in root.iter("DisplayString")}
    assert names[MP_ID] == f"Service Map group: {SHOP}"
    # health: the DA rolls up its boxes, each member box its computer
    monitors = {m.get("ID") for m in root.iter("DependencyMonitor")}
    assert f"{MP_ID}.Service.ComponentRollup" in monitors
    for c in servers.values():
        assert f"{c.id}.WindowsRollup" in monitors or f"{c.id}.UnixRollup" in monitors


def test_group_pack_is_deterministic_and_distinct_from_server_packs() -> None:
    members = group_members(SHOP)
    maps = [member_map(m) for m in members]
    first = _render(shape(build_group_graph(SHOP, maps)).graph)
    again = _render(shape(build_group_graph(SHOP, list(maps))).graph)
    assert first.xml == again.xml
    assert group_mp_id(PREFIX, SHOP) == MP_ID == group_mp_id(PREFIX, "contoso web shop ")
    servers = {mp_id(PREFIX, fqdn(m)).lower() for m in SCENARIO.machines}
    assert MP_ID.lower() not in servers
    assert group_mp_id(PREFIX, "web01.contoso.com") == "Contoso.SvcMap.Group.web01_contoso_com"
    # the members' own packs are untouched by the group's: still their per-server IDs and boxes
    single = render_management_pack(build_graph(maps[0]), mp_id_prefix=PREFIX, version="1.0.0.0")
    assert single.mp_id == mp_id(PREFIX, fqdn(members[0]))


def test_upgrade_when_a_member_connection_disappears() -> None:
    members = group_members(SHOP)
    web01, app01 = members[0], members[2]
    v1 = _render(build_group_graph(SHOP, [member_map(m) for m in members]), "1.0.0.0")

    def gone(connection) -> bool:  # web01 -> api.payments.example :443, and web01 -> app01 :8443
        port = (connection["properties"].get("serverPort") or {}).get("properties", {}).get("portNumber")
        return port in (443, 8443) and connection["properties"]["source"]["kind"] == "ref:process" \
            and connection["properties"]["source"]["properties"]["machine"]["name"] == web01
    changed = {m: without_connection(SCENARIO.maps[m], gone) for m in members}
    assert changed[web01] != SCENARIO.maps[web01] and changed[app01] != SCENARIO.maps[app01]
    graph = build_group_graph(SHOP, [member_map(m, changed[m]) for m in members])
    v2 = _render(graph, "1.0.0.1", previous=v1.xml)  # refuses to render what would not upgrade

    assert validate_bytes(v2.xml, filename=v2.filename) == []
    assert check_upgrade(etree.fromstring(v1.xml), etree.fromstring(v2.xml)) == []
    expected = expected_boxes_and_arrows(list(changed.values()), {m.lower() for m in members})
    assert _drawn(build_diagram(graph, mp_id_prefix=PREFIX)) == expected
    lost_arrows = v1.arrows - v2.arrows
    assert {a[2] for a in lost_arrows} == {":443", ":8443"}
    payments = [c for c, label in v1.components.items() if label == "api.payments.example"]
    assert payments and set(payments) <= v2.retired
    root = etree.fromstring(v2.xml)
    names = {d.get("ElementID"): d.findtext("Name") for d in root.iter("DisplayString")}
    assert all(names[c].endswith(RETIRED_MARK) for c in payments)
    relationships = {r.get("ID") for r in root.iter("RelationshipType")}
    old_arrows = {r.get("ID") for r in etree.fromstring(v1.xml).iter("RelationshipType")}
    assert old_arrows <= relationships  # every arrow type kept, the lost ones retired
    # and back again: the arrows come back under their IDs
    v3 = _render(build_group_graph(SHOP, [member_map(m) for m in members]), "1.0.0.2", previous=v2.xml)
    assert v3.arrows == v1.arrows and v3.retired == frozenset()


@pytest.mark.parametrize("detail", ["process", "server"])
def test_a_missing_member_leaves_a_valid_pack_and_is_named(detail: str) -> None:
    members = group_members(SHOP)
    gone = members[1]
    found = [m for m in members if m != gone]
    full = _render(build_group_graph(SHOP, [member_map(m) for m in members], detail=detail))
    graph = build_group_graph(SHOP, [member_map(m) for m in found], detail=detail, missing=[fqdn(gone)])
    assert graph.graph["missing"] == (fqdn(gone),)
    rendered = _render(graph, "1.0.0.1", previous=full.xml)
    assert validate_bytes(rendered.xml, filename=rendered.filename) == []
    assert check_upgrade(etree.fromstring(full.xml), etree.fromstring(rendered.xml)) == []
    diagram = build_diagram(graph, mp_id_prefix=PREFIX)
    assert diagram.missing == (fqdn(gone),) and "web02" not in diagram.members
    assert _drawn(diagram) == expected_boxes_and_arrows([SCENARIO.maps[m] for m in found],
                                                        {m.lower() for m in found}, detail=detail)
    root = etree.fromstring(rendered.xml)
    description = next(d.findtext("Description") for d in root.iter("DisplayString") if d.get("ElementID") == MP_ID)
    assert f"Not in the data: {fqdn(gone)}." in description
    # from Service Map's group map, the member without data in the window
    from_service = build_group_graph(SHOP, group_map(SHOP, members, served=found), detail=detail)
    assert from_service.graph["missing"] == (gone,)
    assert validate_bytes(_render(from_service).xml, filename=f"{MP_ID}.xml") == []

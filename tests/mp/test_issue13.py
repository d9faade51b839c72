"""Issue 13 in the mp layer: references no higher than needed, health in all four aspects,
boxes that find members without an FQDN, and packs of today that upgrade those of before.

``fixtures/pre_issue13`` holds every sample pack as the code before this issue rendered it
(see its README); the sample maps rendered today must be upgrades of them.
"""

from __future__ import annotations

import pathlib
import sys
from datetime import datetime, timezone

import pytest
from lxml import etree

from servicemap_sync.errors import RenderError, ValidationError
from servicemap_sync.graph import build_graph
from servicemap_sync.model import Connection, Machine, NodeKey, PortRef, Process, ServerMap, machine_key
from servicemap_sync.mp import releases
from servicemap_sync.mp.mp_index import parse_version
from servicemap_sync.mp.render import ASPECTS, HealthRollup, render_management_pack
from servicemap_sync.mp.validate import check_upgrade, validate_bytes

sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))
from scenario_lookup import machine_named  # noqa: E402

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "pre_issue13"
PREFIX = "Contoso.SvcMap"
WINDOWS = "Windows!Microsoft.Windows.Computer"
UNIX = "Unix!Microsoft.Unix.Computer"


def machine(name: str, display: str, *, computer: str | None = None, fqdn: str | None = None,
            os_family: str | None = "windows", dns_names: tuple[str, ...] = ()) -> Machine:
    return Machine(machine_key(name), f"id/{name}", name, display, "monitored", computer_name=computer, fqdn=fqdn,
                   os_family=os_family, dns_names=dns_names)


def process(host: Machine, name: str) -> Process:
    return Process(NodeKey("process", host.name, name), f"id/{name}", name, name)


def calls(focus: Machine, *peers: Machine) -> ServerMap:
    """``focus``'s process calls one process on each peer, port 1433 + i."""
    own = process(focus, "p-app")
    theirs = [process(peer, f"p-{peer.name}") for peer in peers]
    connections = tuple(
        Connection(f"c/{i}", own.key, proc.key, PortRef(NodeKey("port", peer.name, f"b-10.0.0.9_{1433 + i}"),
                                                         "10.0.0.9", 1433 + i), "ok")
        for i, (peer, proc) in enumerate(zip(peers, theirs)))
    return ServerMap(server=focus.fqdn or focus.display_name, focus=focus.key,
                     start_time=datetime(2024, 5, 1, 10, tzinfo=timezone.utc),
                     end_time=datetime(2024, 5, 1, 11, tzinfo=timezone.utc),
                     machines=(focus, *peers), processes=(own, *theirs), ports=(), client_groups=(),
                     connections=connections, acceptors=())


WEB = machine("m-web", "web01", computer="WEB01", fqdn="web01.contoso.com")
SQL = machine("m-sql", "sql01", computer="SQL01", fqdn="sql01.contoso.com")
PG = machine("m-pg", "pg01", computer="pg01", fqdn="pg01.contoso.com", os_family="linux")


def render(smap: ServerMap, **kwargs):
    kwargs.setdefault("version", "1.0.0.1")
    return render_management_pack(build_graph(smap), mp_id_prefix=PREFIX, **kwargs)


def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def references(root: etree._Element) -> dict[str, str]:
    return {r.findtext("ID"): r.findtext("Version") for r in root.iter("Reference")}


def member_rules(root: etree._Element, box: str) -> list[etree._Element]:
    discovery = next((d for d in root.iter("Discovery") if d.get("Target") == box), None)
    return [] if discovery is None else [r for r in discovery.iter("MembershipRule") if r.find("Expression") is not None]


def box_of(rendered, label: str) -> str:
    return next(cid for cid, text in rendered.components.items() if text == label)


# --- the release table ----------------------------------------------------------------------


def test_the_table_covers_every_library_and_release_and_never_goes_down() -> None:
    assert releases.RELEASES == ("2012R2", "2016", "2019", "2022", "2025")
    assert set(releases.LIBRARIES) == set(releases.MINIMUM)
    for library, row in releases.LIBRARIES.items():
        assert tuple(row) == releases.RELEASES, library
        versions = [parse_version(row[r]) for r in releases.RELEASES]
        assert None not in versions and versions == sorted(versions), library
        assert versions[0] >= parse_version(releases.MINIMUM[library])
    assert releases.normalize_release("2012 R2") == releases.normalize_release(None) == "2012R2"
    with pytest.raises(ValueError, match="2012R2, 2016, 2019, 2022, 2025"):
        releases.normalize_release("2007")


def test_references_are_the_lowest_that_have_every_element_used() -> None:
    rendered = render(calls(WEB, SQL, PG))
    assert rendered.scom_version == "2012R2"
    assert references(parse(rendered.xml)) == releases.MINIMUM


def test_scom_version_raises_the_references_and_the_validator_knows_the_table() -> None:
    rendered = render(calls(WEB, SQL, PG), scom_version="2019")
    found = references(parse(rendered.xml))
    assert found["Microsoft.SystemCenter.Library"] == "10.19.10050.0"
    assert found == {library: releases.reference_version(library, "2019") for library in found}
    assert rendered.scom_version == "2019"
    assert validate_bytes(rendered.xml, filename=rendered.filename, scom_version="2019") == []
    assert validate_bytes(rendered.xml, filename=rendered.filename, scom_version="2022") == []
    # the same pack for a management group that must include SCOM 2016 (or 2012 R2): refused
    for release in ("2016", None):
        problems = validate_bytes(rendered.xml, filename=rendered.filename, scom_version=release)
        assert {p.rule for p in problems} == {"reference-release"}
        assert {p.scope for p in problems} == {"scom"}
        assert any("Microsoft.SystemCenter.ServiceDesigner.Library" in p.message for p in problems)
    with pytest.raises(RenderError, match="not one of"):
        render(calls(WEB, SQL), scom_version="1807")


# --- Microsoft.Unix.Library only with a UNIX member -------------------------------------------


def test_windows_only_pack_does_not_reference_the_unix_library() -> None:
    rendered = render(calls(WEB, SQL))
    root = parse(rendered.xml)
    assert releases.UNIX_LIBRARY not in references(root)
    assert "Unix!" not in rendered.xml.decode()
    assert not any(r.get("ID").endswith("ComponentContainsUnixComputer") for r in root.iter("RelationshipType"))
    assert validate_bytes(rendered.xml, filename=rendered.filename) == []


def test_validator_refuses_a_unix_reference_without_a_unix_member() -> None:
    rendered = render(calls(WEB, SQL))
    root = parse(rendered.xml)
    refs = root.find("Manifest/References")
    refs.append(etree.fromstring('<Reference Alias="Unix"><ID>Microsoft.Unix.Library</ID><Version>7.4.4515.0'
                                 '</Version><PublicKeyToken>31bf3856ad364e35</PublicKeyToken></Reference>'))
    problems = validate_bytes(etree.tostring(root), filename=rendered.filename)
    assert {p.rule for p in problems} >= {"unix-reference"}
    (problem,) = [p for p in problems if p.rule == "unix-reference"]
    assert problem.scope == "house" and "Microsoft.Unix.Computer" in problem.message
    # a pack with a UNIX member may reference it
    assert validate_bytes(render(calls(WEB, PG)).xml, filename=rendered.filename) == []


def test_a_pack_that_had_the_unix_containment_keeps_it_retired_with_its_reference() -> None:
    old = (FIXTURES / "Contoso.SvcMap.web01.contoso.com.xml").read_bytes()
    rendered = render(calls(WEB, SQL), previous=old)
    root = parse(rendered.xml)
    assert releases.UNIX_LIBRARY in references(root)
    names = {d.get("ElementID"): d.findtext("Name") for d in root.iter("DisplayString")}
    assert names[f"{rendered.mp_id}.ComponentContainsUnixComputer"].endswith("(retired)")
    assert validate_bytes(rendered.xml, filename=rendered.filename) == []
    assert check_upgrade(parse(old), root) == []


# --- health in four aspects -------------------------------------------------------------------


def rollups(root: etree._Element) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for monitor in root.iter("DependencyMonitor"):
        found.setdefault((monitor.get("Target"), monitor.get("RelationshipType")), set()).add(
            monitor.get("MemberMonitor"))
    return found


FOUR = {monitor for _part, monitor, _category in ASPECTS.values()}


def test_percentage_rollups_per_layer() -> None:
    rendered = render(calls(WEB, SQL, PG), da_rollup=HealthRollup("Percentage", 60), box_rollup=HealthRollup("BestOf"))
    root = parse(rendered.xml)
    service = f"{rendered.mp_id}.Service"
    for monitor in root.iter("DependencyMonitor"):
        if monitor.get("Target") == service:
            assert [c.tag for c in monitor] == ["Category", "Algorithm", "AlgorithmParameter", "MemberUnAvailable"]
            assert (monitor.findtext("Algorithm"), monitor.findtext("AlgorithmParameter")) == ("Percentage", "60")
        else:
            assert monitor.findtext("Algorithm") == "BestOf" and monitor.find("AlgorithmParameter") is None
    assert rollups(root)[(service, f"{rendered.mp_id}.ServiceContainsComponent")] == FOUR
    assert validate_bytes(rendered.xml, filename=rendered.filename) == []


@pytest.mark.parametrize("algorithm, percentage", [("Percentage", None), ("Percentage", 0), ("Percentage", 101),
                                                   ("WorstOf", 50), ("Average", None), ("Percentage", True)])
def test_bad_rollups_are_refused(algorithm, percentage) -> None:
    with pytest.raises(RenderError):
        HealthRollup(algorithm, percentage)


def test_validator_wants_all_four_aspects() -> None:
    rendered = render(calls(WEB, SQL))
    root = parse(rendered.xml)
    monitors = root.find("Monitoring/Monitors")
    for monitor in list(monitors):
        if monitor.get("MemberMonitor") == "Health!System.Health.SecurityState":
            monitors.remove(monitor)
            for string in root.iter("DisplayString"):
                if string.get("ElementID") == monitor.get("ID"):
                    string.getparent().remove(string)
    problems = validate_bytes(etree.tostring(root), filename=rendered.filename)
    assert problems and {(p.rule, p.scope) for p in problems} == {("da-shape", "house")}
    assert all("Security" in p.message for p in problems if p.rule == "da-shape")


# --- membership without an FQDN ---------------------------------------------------------------


def expression(rule: etree._Element) -> list[tuple[str, str, str]]:
    """(property, operator, value or pattern) of each condition of a member rule."""
    out = []
    for condition in rule.iter("SimpleExpression", "RegExExpression"):
        prop = condition.findtext("ValueExpression/Property")
        value = condition.findtext("ValueExpression/Value") or condition.findtext("Pattern")
        out.append((prop.split("/")[-1].rstrip("$"), condition.findtext("Operator"), value))
    return out


def test_netbios_name_with_its_domain() -> None:
    nbt = machine("m-nbt", "legacy01", computer="legacy01", dns_names=("legacy01.corp.contoso.com",))
    rendered = render(calls(WEB, nbt))
    root = parse(rendered.xml)
    [rule] = member_rules(root, box_of(rendered, "legacy01"))
    assert WINDOWS in rule.findtext("MonitoringClass")
    assert expression(rule) == [("NetbiosComputerName", "Equal", "LEGACY01"),
                                ("PrincipalName", "MatchesWildcard", "*.corp.contoso.com")]
    assert rendered.warnings == ()
    assert validate_bytes(rendered.xml, filename=rendered.filename) == []


def test_netbios_name_alone_is_used_and_warned_about() -> None:
    nbt = machine("m-nbt", "legacy01", computer="legacy01")
    rendered = render(calls(WEB, nbt))
    box = box_of(rendered, "legacy01")
    [rule] = member_rules(parse(rendered.xml), box)
    assert expression(rule) == [("NetbiosComputerName", "Equal", "LEGACY01")]
    [warning] = rendered.warnings
    assert (warning.component_id, warning.machine) == (box, "legacy01")
    assert "any domain" in warning.reason and warning.message.startswith("box 'legacy01': ")


def test_boxes_whose_member_cannot_be_expressed_are_warned_about() -> None:
    unix = machine("m-lx", "lx01", computer="lx01", os_family="linux")
    shown = machine("m-fin", "Finance File Server")  # a display name only
    rendered = render(calls(WEB, unix, shown))
    root = parse(rendered.xml)
    assert member_rules(root, box_of(rendered, "lx01")) == []
    assert member_rules(root, box_of(rendered, "Finance File Server")) == []
    reasons = {w.label: w.reason for w in rendered.warnings}
    assert set(reasons) == {"lx01", "Finance File Server"}
    assert "PrincipalName only" in reasons["lx01"] and "no FQDN and no computer name" in reasons["Finance File Server"]
    assert releases.UNIX_LIBRARY not in references(root)  # nothing looks for a UNIX computer
    assert validate_bytes(rendered.xml, filename=rendered.filename) == []


def test_a_server_without_fqdn_warns_for_its_process_boxes_too() -> None:
    focus = machine("m-solo", "solo01", computer="solo01")
    rendered = render(calls(focus, SQL))
    assert sorted(w.label for w in rendered.warnings) == sorted(
        label for label in rendered.components.values() if "solo01" in label)


# --- every sample pack ------------------------------------------------------------------------


def _sample_servers():
    from servicemap_sync.emulator import load_scenario

    scenario = load_scenario()
    return scenario, [(server, machine_named(scenario, server)) for server in scenario.servers_group]


SCENARIO, SERVERS = _sample_servers()


@pytest.mark.parametrize("server, focus", SERVERS, ids=[s for s, _ in SERVERS])
def test_sample_pack_has_four_aspects_at_both_layers_and_upgrades_the_pre_issue_pack(server, focus) -> None:
    from servicemap_sync.sources.servicemap.parse import parse_map_response

    body = {"startTime": "2026-11-23T10:00:00Z", "endTime": "2026-11-23T11:00:00Z", "map": SCENARIO.maps[focus]}
    graph = build_graph(parse_map_response(body, server=server, focus_machine=focus))
    fresh = render_management_pack(graph, mp_id_prefix=PREFIX, version="1.0.0.1")
    old = (FIXTURES / fresh.filename).read_bytes()
    upgraded = render_management_pack(graph, mp_id_prefix=PREFIX, version="1.0.0.1", previous=old)
    assert upgraded.xml == fresh.xml  # the same map: nothing retired, nothing carried
    assert validate_bytes(fresh.xml, filename=fresh.filename) == []
    root = parse(fresh.xml)
    assert check_upgrade(parse(old), root) == []
    found = rollups(root)
    service = f"{fresh.mp_id}.Service"
    assert found[(service, f"{fresh.mp_id}.ServiceContainsComponent")] == FOUR
    boxes = {target for target, _rel in found if target != service}
    assert boxes and all(aspects == FOUR for (target, _rel), aspects in found.items())
    # the old availability monitors keep their IDs
    old_ids = {m.get("ID") for m in parse(old).iter("DependencyMonitor")}
    assert old_ids <= {m.get("ID") for m in root.iter("DependencyMonitor")}
    assert render_management_pack(graph, mp_id_prefix=PREFIX, version="1.0.0.1").xml == fresh.xml


def test_a_pack_that_fails_validation_for_its_release_is_not_rendered(monkeypatch) -> None:
    monkeypatch.setitem(releases.LIBRARIES["System.Library"], "2016", "7.0.0.0")
    monkeypatch.setitem(releases.MINIMUM, "System.Library", "7.5.8501.0")
    # the renderer never writes below the minimum, so a table cell below it is refused at validation
    with pytest.raises(ValidationError, match="reference-release|System.Library"):
        render(calls(WEB, SQL), scom_version="2016")

"""render_management_pack on literal maps: boxes, arrows, membership, names, determinism.

Expected boxes and arrows are written from the fixture's data (who talks to whom on which
port), never taken from the renderer's output.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from lxml import etree

from servicemap_sync.errors import RenderError, ValidationError
from servicemap_sync.graph import build_graph
from servicemap_sync.model import (
    Acceptor, ClientGroup, Connection, Machine, NodeKey, Port, PortRef, Process, ServerMap, machine_key,
)
from servicemap_sync.mp import render as render_module
from servicemap_sync.mp.render import render_management_pack
from servicemap_sync.mp.validate import Problem, validate_bytes

PREFIX = "ServiceMapSync"
MP_ID = "ServiceMapSync.web01.contoso.com"


# --- a small vocabulary for literal maps -------------------------------------------------

def machine(name: str, display: str, *, computer: str | None = None, fqdn: str | None = None,
            os_family: str | None = "windows", monitored: bool = True) -> Machine:
    return Machine(machine_key(name), f"id/{name}", name, display, "monitored" if monitored else "discovered",
                   computer_name=computer, fqdn=fqdn, os_family=os_family)


def process(host: Machine, name: str, label: str, **details: str) -> Process:
    return Process(NodeKey("process", host.name, name), f"id/{name}", name, label, **details)


def port(host: Machine, number: int, ip: str = "10.0.0.1") -> Port:
    name = f"b-{ip}_{number}"
    return Port(NodeKey("port", host.name, name), f"id/{name}", name, f":{number}", ip, number)


def link(source: Process | ClientGroup, target: Process, number: int, state: str = "ok", ip: str = "10.0.0.9") -> Connection:
    ref = PortRef(NodeKey("port", target.key.machine, f"b-{ip}_{number}"), ip, number)
    return Connection(f"c/{source.name}/{target.name}/{number}", source.key, target.key, ref, state)


def server_map(focus: Machine, machines: tuple[Machine, ...], processes: tuple[Process, ...],
               connections: tuple[Connection, ...], ports: tuple[Port, ...] = (),
               acceptors: tuple[Acceptor, ...] = (), client_groups: tuple[ClientGroup, ...] = ()) -> ServerMap:
    return ServerMap(server=focus.fqdn or focus.display_name, focus=focus.key,
                     start_time=datetime(2024, 5, 1, 10, tzinfo=timezone.utc),
                     end_time=datetime(2024, 5, 1, 11, tzinfo=timezone.utc),
                     machines=machines, processes=processes, ports=ports, client_groups=client_groups,
                     connections=connections, acceptors=acceptors)


WEB = machine("m-web", "web01", computer="web01", fqdn="web01.contoso.com")
SQL = machine("m-sql", "sql01", computer="sql01", fqdn="sql01.contoso.com", os_family="linux")
APP = machine("m-app", "app01", os_family=None)
PARTNER = machine("t-0a0a0a0a", "partner.example", monitored=False, os_family=None)
W3WP = process(WEB, "p-w3wp", "w3wp", description="IIS Worker Process")
IISADMIN = process(WEB, "p-admin", "iisadmin")
IDLE = process(WEB, "p-idle", "healthsvc")
SQLSERVR = process(SQL, "p-sql", "sqlservr", product_name="Microsoft SQL Server")
SQLAGENT = process(SQL, "p-agent", "sqlagent")
JAVA = process(APP, "p-java", "java")
PARTNER_443 = process(PARTNER, "ts-partner", "Port 443")
P80, P443 = port(WEB, 80), port(WEB, 443)
CLIENTS = ClientGroup(NodeKey("clientGroup", WEB.name, "m!m-web!p!p-w3wp"), "id/cg", "m!m-web!p!p-w3wp", "", W3WP.key)


def web_map(*, without: tuple[Process | ClientGroup, ...] = ()) -> ServerMap:
    """web01 calls SQL on sql01 (two processes, one port) and a partner (always failing);
    java on app01 and agentless clients call w3wp; w3wp talks to iisadmin locally."""
    links = (
        link(W3WP, SQLSERVR, 1433), link(W3WP, SQLAGENT, 1433), link(W3WP, PARTNER_443, 443, "failed"),
        link(JAVA, W3WP, 443, "mixed"), link(CLIENTS, W3WP, 80), link(W3WP, IISADMIN, 8172),
    )
    gone = {n.key for n in without}
    return server_map(WEB, (WEB, SQL, APP, PARTNER), (W3WP, IISADMIN, IDLE, SQLSERVR, SQLAGENT, JAVA, PARTNER_443),
                      tuple(c for c in links if c.source not in gone and c.destination not in gone),
                      ports=(P80, P443),
                      acceptors=(Acceptor("a80", P80.key, W3WP.key), Acceptor("a443", P443.key, W3WP.key)),
                      client_groups=(CLIENTS,))


def render(smap: ServerMap, version: str = "1.0.0.1", previous: bytes | None = None):
    return render_management_pack(build_graph(smap), mp_id_prefix=PREFIX, version=version, previous=previous)


# --- reading the output back --------------------------------------------------------------

def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def names(root: etree._Element) -> dict[str, str]:
    return {ds.get("ElementID"): ds.findtext("Name") for ds in root.iter("DisplayString")}


def element_ids(root: etree._Element) -> list[str]:
    sections = ("TypeDefinitions/EntityTypes/ClassTypes", "TypeDefinitions/EntityTypes/RelationshipTypes",
                "Monitoring/Discoveries", "Monitoring/Monitors")
    return [el.get("ID") for path in sections for el in root.find(path)]


def token(text: str | None) -> str:
    found = re.fullmatch(r'\$MPElement\[Name="([^"]+)"\]\$', text or "")
    assert found, text
    return found.group(1)


def rules_of(root: etree._Element, target: str) -> list[etree._Element]:
    return [rule for d in root.iterfind("Monitoring/Discoveries/Discovery") if d.get("Target") == target
            for rule in d.iter("MembershipRule")]


def members(root: etree._Element, target: str) -> set[tuple[str, str]]:
    """(computer class, principal name) the box's GroupPopulator puts in it."""
    return {(token(r.findtext("MonitoringClass")), r.findtext(".//Value"))
            for r in rules_of(root, target) if r.find("Expression") is not None}


def by_label(rendered) -> dict[str, str]:
    return {label: cid for cid, label in rendered.components.items()}


# --- boxes and arrows ---------------------------------------------------------------------

W3WP_BOX = "w3wp (IIS Worker Process) on web01:80,443"
CLIENTS_BOX = "Clients of w3wp on web01 (agentless)"


def test_boxes_are_the_server_its_talking_processes_peers_and_client_groups() -> None:
    rendered = render(web_map())
    assert set(rendered.components.values()) == {
        "web01.contoso.com", W3WP_BOX, "sql01.contoso.com", "app01", "partner.example", CLIENTS_BOX}
    assert rendered.retired == frozenset()
    assert rendered.mp_id == MP_ID and rendered.filename == MP_ID + ".xml"


def test_arrows_follow_the_connections_with_their_ports() -> None:
    rendered = render(web_map())
    label_of = rendered.components
    drawn = {(label_of[a], label_of[b], port_label) for a, b, port_label in rendered.arrows}
    assert drawn == {
        (W3WP_BOX, "sql01.contoso.com", ":1433"),
        (W3WP_BOX, "partner.example", ":443"),
        ("app01", W3WP_BOX, ":443"),
        (CLIENTS_BOX, W3WP_BOX, ":80"),
    }


def test_arrow_names_carry_processes_machines_port_and_failure() -> None:
    root = parse(render(web_map()).xml)
    arrow_names = {names(root)[r.get("ID")] for r in root.iterfind(".//RelationshipType")
                   if r.get("Base") == "System!System.Reference"}
    assert arrow_names == {
        "w3wp on web01 → sqlagent, sqlservr on sql01 :1433",
        "w3wp on web01 → Port 443 on partner.example :443 (failed)",
        "java on app01 → w3wp on web01 :443",
        "Clients of w3wp on web01 (agentless) → w3wp on web01 :80",
    }


def test_arrow_instances_come_from_the_source_box_discovery() -> None:
    rendered = render(web_map())
    root = parse(rendered.xml)
    rels = {r.get("ID"): (r.find("Source").get("Type"), r.find("Target").get("Type"))
            for r in root.iterfind(".//RelationshipType") if r.get("Base") == "System!System.Reference"}
    instantiated = {(d.get("Target"), token(r.findtext("MonitoringClass")), token(r.findtext("RelationshipClass")))
                    for d in root.iterfind("Monitoring/Discoveries/Discovery") for r in d.iter("MembershipRule")
                    if token(r.findtext("RelationshipClass")) in rels}
    assert {(src, dst, rel) for rel, (src, dst) in rels.items()} == instantiated
    assert {(src, dst) for src, dst in rels.values()} == {(a, b) for a, b, _p in rendered.arrows}


def test_self_links_only_with_the_flag() -> None:
    plain = render(web_map())
    assert not any("iisadmin" in label for label in plain.components.values())
    graph = build_graph(web_map(), include_self_links=True)
    flagged = render_management_pack(graph, mp_id_prefix=PREFIX, version="1.0.0.1")
    admin = [cid for cid, label in flagged.components.items() if label.startswith("iisadmin")]
    assert len(admin) == 1
    assert (by_label(flagged)[W3WP_BOX], admin[0], ":8172") in flagged.arrows


def test_connection_without_a_server_port_draws_an_unlabelled_arrow() -> None:
    unknown = Connection("c/no-port", W3WP.key, SQLSERVR.key, None)
    rendered = render(server_map(WEB, (WEB, SQL), (W3WP, SQLSERVR), (unknown,)))
    box = by_label(rendered)
    assert rendered.arrows == {(box["w3wp (IIS Worker Process) on web01"], box["sql01.contoso.com"], "")}
    root = parse(rendered.xml)
    (arrow,) = [r for r in root.iter("RelationshipType") if r.get("Base") == "System!System.Reference"]
    assert arrow.get("ID").endswith(".PAny")
    assert names(root)[arrow.get("ID")] == "w3wp on web01 → sqlservr on sql01"


# --- membership and health ----------------------------------------------------------------

def test_members_are_found_by_principal_name() -> None:
    rendered = render(web_map())
    root = parse(rendered.xml)
    box = by_label(rendered)
    windows, unix = "Windows!Microsoft.Windows.Computer", "Unix!Microsoft.Unix.Computer"
    assert members(root, box["web01.contoso.com"]) == {(windows, "web01.contoso.com")}
    assert members(root, box[W3WP_BOX]) == {(windows, "web01.contoso.com")}
    assert members(root, box["sql01.contoso.com"]) == {(unix, "sql01.contoso.com")}
    # no FQDN, OS unknown: the Windows computer by NetBIOS name; a UNIX one cannot be found, and it says so
    assert members(root, box["app01"]) == {(windows, "APP01")}
    assert [(w.component_id, w.machine) for w in rendered.warnings] == [(box["app01"], "app01")]
    assert "PrincipalName only" in rendered.warnings[0].reason
    assert members(root, box["partner.example"]) == set()
    assert rules_of(root, box["partner.example"]) == []
    assert members(root, box[CLIENTS_BOX]) == set()
    assert "GUID" not in rendered.xml.decode() and "IncludeList" not in rendered.xml.decode()


def test_every_box_is_in_the_da_and_rolls_health_up() -> None:
    rendered = render(web_map())
    root = parse(rendered.xml)
    service = MP_ID + ".Service"
    in_da = {token(r.findtext("MonitoringClass")) for r in rules_of(root, service)}
    assert in_da == set(rendered.components)
    monitors = {(m.get("Target"), m.get("RelationshipType"), m.get("MemberMonitor"))
                for m in root.iter("DependencyMonitor")}
    aspects = [f"Health!System.Health.{aspect}State" for aspect in ("Availability", "Configuration",
                                                                    "Performance", "Security")]
    for aspect in aspects:
        assert (service, MP_ID + ".ServiceContainsComponent", aspect) in monitors
    for box, (computer, _name) in ((b, m) for b in rendered.components for m in members(root, b)):
        relationship = MP_ID + (".ComponentContainsWindowsComputer" if computer.startswith("Windows")
                                else ".ComponentContainsUnixComputer")
        for aspect in aspects:
            assert (box, relationship, aspect) in monitors
    for monitor in root.iter("DependencyMonitor"):
        assert [c.tag for c in monitor] == ["Category", "Algorithm", "MemberUnAvailable"]
        assert (monitor.findtext("Algorithm"), monitor.findtext("MemberUnAvailable")) == ("WorstOf", "Error")
        aspect = monitor.get("MemberMonitor")
        assert aspect in aspects and monitor.get("ParentMonitorID") == aspect
        assert monitor.findtext("Category") == aspect.split(".")[-1].replace("State", "Health")


def test_da_and_boxes_are_singletons_on_the_designer_classes() -> None:
    root = parse(render(web_map()).xml)
    classes = {c.get("ID"): c for c in root.iter("ClassType")}
    service = classes.pop(MP_ID + ".Service")
    assert (service.get("Base"), service.get("Singleton"), service.get("Abstract")) == (
        "SD!Microsoft.SystemCenter.ServiceDesigner.GenericService", "true", "false")
    assert {(c.get("Base"), c.get("Singleton"), c.get("Accessibility")) for c in classes.values()} == {
        ("SD!Microsoft.SystemCenter.ServiceDesigner.ServiceComponentGroup", "true", "Public")}


def test_no_folder_or_view_and_only_used_references() -> None:
    root = parse(render(web_map()).xml)
    assert root.find("Presentation") is None and not list(root.iter("Folder")) and not list(root.iter("View"))
    declared = {r.get("Alias"): (r.findtext("ID"), r.findtext("Version"), r.findtext("PublicKeyToken"))
                for r in root.iterfind("Manifest/References/Reference")}
    assert declared == {
        "System": ("System.Library", "7.5.8501.0", "31bf3856ad364e35"),
        "Windows": ("Microsoft.Windows.Library", "7.5.8501.0", "31bf3856ad364e35"),
        "SC": ("Microsoft.SystemCenter.Library", "7.0.8433.0", "31bf3856ad364e35"),
        "Health": ("System.Health.Library", "7.0.8433.0", "31bf3856ad364e35"),
        "SD": ("Microsoft.SystemCenter.ServiceDesigner.Library", "7.0.8433.0", "31bf3856ad364e35"),
        "Unix": ("Microsoft.Unix.Library", "7.4.4515.0", "31bf3856ad364e35"),
    }
    text = etree.tostring(root).decode()
    assert {alias for alias in declared if f"{alias}!" in text} == set(declared)


# --- IDs, names, validity -----------------------------------------------------------------

def test_ids_are_valid_unique_and_short() -> None:
    root = parse(render(web_map()).xml)
    found = element_ids(root)
    assert len({i.lower() for i in found}) == len(found)
    for element_id in found + [MP_ID]:
        assert len(element_id) < 256
        assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", part) for part in element_id.split(".")), element_id
        assert element_id.startswith(MP_ID)


def test_every_element_has_a_human_display_name() -> None:
    root = parse(render(web_map()).xml)
    shown = names(root)
    assert set(element_ids(root)) | {MP_ID} == set(shown)
    assert shown[MP_ID] == "Service Map: web01.contoso.com"
    assert shown[MP_ID + ".Service"] == "web01.contoso.com (Service Map)"


def test_output_passes_the_validator() -> None:
    rendered = render(web_map())
    assert validate_bytes(rendered.xml, filename=rendered.filename) == []


def test_document_order_follows_the_guide() -> None:
    root = parse(render(web_map()).xml)
    assert [c.tag for c in root] == ["Manifest", "TypeDefinitions", "Monitoring", "LanguagePacks"]
    assert [c.tag for c in root.find("Manifest")] == ["Identity", "Name", "References"]
    for discovery in root.iter("Discovery"):
        assert [c.tag for c in discovery] == ["Category", "DiscoveryTypes", "DataSource"]
    for section in ("ClassTypes", "RelationshipTypes", "Discoveries", "Monitors"):
        found = [el.get("ID") for el in root.find(f".//{section}")]
        assert found == sorted(found)
    strings = [ds.get("ElementID") for ds in root.iter("DisplayString")]
    assert strings == sorted(strings)


def test_xml_is_pretty_printed_utf8_with_declaration() -> None:
    xml = render(web_map()).xml
    assert xml.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<ManagementPack ')
    assert b"\n    <Identity>" in xml
    assert "→".encode() in xml


# --- determinism --------------------------------------------------------------------------

def test_same_input_same_bytes_and_hash_ignores_the_version() -> None:
    one, two = render(web_map()), render(web_map())
    assert one.xml == two.xml and one.content_hash == two.content_hash
    without_version = re.sub(rb"<Version>1\.0\.0\.1</Version>", b"", one.xml, count=1)
    assert one.content_hash == hashlib.sha256(without_version).hexdigest()
    later = render(web_map(), version="1.0.0.2")
    assert later.xml != one.xml
    assert (one.version, later.version) == ("1.0.0.1", "1.0.0.2")
    assert etree.fromstring(later.xml).findtext("Manifest/Identity/Version") == "1.0.0.2"
    assert later.content_hash == one.content_hash
    assert render(web_map(without=(JAVA,))).content_hash != one.content_hash


def test_bytes_do_not_depend_on_the_hash_seed() -> None:
    script = (
        "import hashlib, sys; sys.path.insert(0, sys.argv[1]); import test_render as t; "
        "print(hashlib.sha256(t.render(t.web_map()).xml).hexdigest())"
    )
    here = str(Path(__file__).parent)
    digests = set()
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", script, here], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert digests == {hashlib.sha256(render(web_map()).xml).hexdigest()}


# --- errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["1.0.0", "1.0.0.x", "1.0.0.12345678901", "", "1.0.0.\u0661"])
def test_bad_version_is_refused(version: str) -> None:
    with pytest.raises(RenderError, match="version"):
        render(web_map(), version=version)


def test_bad_prefix_is_refused() -> None:
    with pytest.raises(RenderError, match="mp_id_prefix"):
        render_management_pack(build_graph(web_map()), mp_id_prefix="Service-Map", version="1.0.0.1")


def test_validation_problems_raise_naming_the_mp_and_element(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = Problem("scom", "order", "ManagementPack/Monitoring", "Rules must come before Monitors")
    monkeypatch.setattr(render_module, "validate_document", lambda root, **kw: [problem])
    with pytest.raises(ValidationError) as caught:
        render(web_map())
    assert caught.value.problems == (problem,)
    assert MP_ID in str(caught.value) and "ManagementPack/Monitoring" in str(caught.value)


# --- templates ----------------------------------------------------------------------------

def test_templates_are_parsed_once_and_leave_no_placeholders(monkeypatch: pytest.MonkeyPatch) -> None:
    from servicemap_sync.mp import templates

    loads: list[str] = []
    real_load = templates.load_template
    monkeypatch.setattr(templates, "load_template", lambda name: loads.append(name) or real_load(name))
    templates._skeleton_template.cache_clear()
    templates.prototypes.cache_clear()
    try:
        first, second = render(web_map()), render(web_map(without=(JAVA,)))
    finally:
        templates._skeleton_template.cache_clear()
        templates.prototypes.cache_clear()
    assert sorted(loads) == ["distributed_application.xml", "elements.xml"]
    for rendered in (first, second):
        assert b"${" not in rendered.xml and b'slot="' not in rendered.xml


def test_a_filler_makes_one_filled_copy_per_row_across_batches() -> None:
    from servicemap_sync.mp.templates import prototypes

    filler = prototypes()["display"].filler(("name", "id"))
    many = list(filler.make((f"name <{i}>", f"E{i}") for i in range(600)))  # batches of 64, the last partial
    few = list(filler.make([("x & y", "X")]))  # fewer rows than the filler has made before
    assert [(e.tag, e.get("ElementID"), e.findtext("Name")) for e in many] == [
        ("DisplayString", f"E{i}", f"name <{i}>") for i in range(600)]
    assert [(e.get("ElementID"), e.findtext("Name")) for e in few] == [("X", "x & y")]
    assert len({id(e) for e in many + few}) == 601


@pytest.mark.parametrize("slots", [("id",), ("id", "name", "description"), ("id", "id")])
def test_a_filler_takes_exactly_the_prototype_slots(slots: tuple[str, ...]) -> None:
    from servicemap_sync.mp.templates import prototypes

    with pytest.raises(ValueError, match="slots"):
        prototypes()["display"].filler(slots)


@pytest.mark.parametrize("order", [("a", "c", "e", "g"), ("c", "a", "g", "e")])
def test_sections_are_sorted_by_id_with_the_known_elements_merged_in(order: tuple[str, ...]) -> None:
    section = etree.Element("ClassTypes")
    for key in ("f", "b"):  # present, in no particular order
        etree.SubElement(section, "ClassType", ID=key)
    made = (etree.Element("ClassType", ID=key) for key in order)
    render_module._fill(section, "ID", list(order), made, [etree.Element("ClassType", ID="d")])
    assert [el.get("ID") for el in section] == ["a", "b", "c", "d", "e", "f", "g"]

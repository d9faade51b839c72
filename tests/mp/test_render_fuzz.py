"""Fuzzing the renderer with hostile names: whatever Service Map calls things, the MP imports.

Names are drawn from all of Unicode except lone surrogates (a Python ``str`` holding one cannot
be encoded to UTF-8, so no response could carry it), with the characters XML cannot carry
(C0 controls, U+FFFE, U+FFFF), markup, ``???``, empty and very long names and case variants
mixed in often. Each example builds model objects → ``build_graph`` → ``render_management_pack``
and checks the result against rules written here, not taken from the renderer:

* the XML passes validation (SCOM's rules and ours) with no problem;
* every element ID is a valid SCOM ID, and unique even ignoring case;
* each box's display string keeps its human name, minus what XML cannot carry;
* the same data renders to the same bytes, whatever order the response listed it in.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from servicemap_sync.graph import build_graph
from servicemap_sync.model import Acceptor, ClientGroup, Connection, Machine, NodeKey, Port, PortRef, Process, ServerMap
from servicemap_sync.mp.diagram import build_diagram
from servicemap_sync.mp.render import RenderedMP, render_management_pack
from servicemap_sync.mp.validate import validate_bytes

PREFIX = "ServiceMapSync"
VERSION = "1.0.0.1"
WINDOW = (datetime(2024, 5, 1, 10, tzinfo=timezone.utc), datetime(2024, 5, 1, 11, tzinfo=timezone.utc))
ID_PART = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
LOCAL_IDS = {"Source", "Target", "DataSource", "ProbeAction", "ConditionDetection", "WriteAction"}
"""Tags whose ID names a part of its parent (a relationship end, a module), not an MP element."""

HOSTILE = ["", " ", "???", " ??? ", "<&>\"'", "]]>", "&amp;", "\ufffe", "\uffff", "a\ufffeb\uffffc", "\x00",
           "\x01\x02\x1f", "ctl\x0bname", "two\nlines", "\t", "Java", "java", "JAVA", "сервер", "服务器",
           "😀 emoji", "../../etc/x", "C:\\Windows\\x.exe", "a" * 300, "ÄÖÜ" * 100, "\u00a0", "\u2028"]
CHARS = st.one_of(st.characters(exclude_categories=["Cs"]), st.sampled_from("\x00\x01\x0b\x1f\x7f\ufffe\uffff<>&\"']\n\t"))
NAMES = st.one_of(st.sampled_from(HOSTILE), st.text(CHARS, max_size=30), st.text(CHARS, min_size=200, max_size=400))
OPTIONAL = st.one_of(st.none(), NAMES)
PORTS = st.one_of(st.none(), st.integers(0, 65535))


def _machine(name: str, display: str, computer: str | None, fqdn: str | None, *, monitored: bool,
             os_family: str | None) -> Machine:
    return Machine(NodeKey("machine", name, name), f"id/{name}", name, display,
                   "monitored" if monitored else "discovered", computer_name=computer, fqdn=fqdn, os_family=os_family)


def _process(host: Machine, name: str, display: str, executable: str | None = None) -> Process:
    return Process(NodeKey("process", host.name, name), f"id/{host.name}/{name}", name, display,
                   executable_name=executable)


@st.composite
def server_maps(draw) -> ServerMap:
    """One server's map: hostile names everywhere, and every focus process on at least one arrow."""
    focus = _machine("m-focus", draw(NAMES), draw(OPTIONAL), draw(OPTIONAL), monitored=True,
                     os_family=draw(st.sampled_from(["windows", "linux", None, "\x00"])))
    peers = [
        _machine(f"m-peer{i}", draw(NAMES), draw(OPTIONAL), draw(OPTIONAL), monitored=draw(st.booleans()),
                 os_family=draw(st.sampled_from(["windows", "linux", None])))
        for i in range(draw(st.integers(0, 3)))
    ]
    own = [_process(focus, f"p-{i}", draw(NAMES), draw(OPTIONAL)) for i in range(draw(st.integers(1, 6)))]
    remote = [_process(peer, f"p-{peer.name}-{j}", draw(NAMES)) for peer in peers for j in range(draw(st.integers(1, 2)))]
    groups, connections, ports, acceptors = [], [], [], []
    for i, proc in enumerate(own):
        number = draw(PORTS)
        if remote:
            target = remote[i % len(remote)]
            ref = PortRef(NodeKey("port", target.key.machine, f"b-10.0.0.9_{number}"), "10.0.0.9", number)
            connections.append(Connection(f"c-out-{i}", proc.key, target.key, ref,
                                          draw(st.sampled_from(["ok", "failed", "mixed"]))))
        if not remote or draw(st.booleans()):
            name = f"m!m-focus!p!p-{i}"
            group = ClientGroup(NodeKey("clientGroup", focus.name, name), f"id/{name}", name, draw(NAMES), proc.key)
            groups.append(group)
            connections.append(Connection(f"c-in-{i}", group.key, proc.key, None))
        if number is not None and draw(st.booleans()):
            port_name = f"b-10.0.0.1_{number}"
            port = Port(NodeKey("port", focus.name, port_name), f"id/{port_name}", port_name, draw(NAMES),
                        "10.0.0.1", number)
            if port not in ports:
                ports.append(port)
                acceptors.append(Acceptor(f"a-{i}", port.key, proc.key))
    return ServerMap(server=draw(NAMES), focus=focus.key, start_time=WINDOW[0], end_time=WINDOW[1],
                     machines=(focus, *peers), processes=(*own, *remote), ports=tuple(ports),
                     client_groups=tuple(groups), connections=tuple(connections), acceptors=tuple(acceptors))


def _render(smap: ServerMap) -> RenderedMP:
    return render_management_pack(build_graph(smap), mp_id_prefix=PREFIX, version=VERSION)


def _reversed(smap: ServerMap) -> ServerMap:
    """The same data listed in the opposite order, as another response might."""
    return ServerMap(server=smap.server, focus=smap.focus, start_time=smap.start_time, end_time=smap.end_time,
                     **{field: tuple(reversed(getattr(smap, field))) for field in
                        ("machines", "processes", "ports", "client_groups", "connections", "acceptors")})


def _visible(text: str) -> str:
    """The characters a display string must keep: printable ones, without spacing (which may be
    collapsed). Everything XML cannot carry is non-printable, so nothing here is lost legitimately."""
    return "".join(c for c in text if c.isprintable() and not c.isspace())


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(server_maps())
def test_any_names_render_a_valid_mp_with_valid_unique_ids(smap: ServerMap) -> None:
    rendered = _render(smap)

    assert isinstance(rendered, RenderedMP)
    assert validate_bytes(rendered.xml, filename=rendered.filename) == []
    root = etree.fromstring(rendered.xml)
    ids = [el.get("ID") for el in root.iter() if el.get("ID") is not None and el.tag not in LOCAL_IDS]
    ids.append(root.findtext("Manifest/Identity/ID"))
    assert rendered.filename == f"{rendered.mp_id}.xml"
    assert len({i.lower() for i in ids}) == len(ids)
    for element_id in ids:
        assert len(element_id) < 256 and all(ID_PART.fullmatch(p) for p in element_id.split(".")), element_id
    assert set(rendered.components) <= set(ids)
    for source, target, _port in rendered.arrows:
        assert source in rendered.components and target in rendered.components


@FUZZ
@given(server_maps())
def test_display_strings_keep_the_human_names(smap: ServerMap) -> None:
    graph = build_graph(smap)
    rendered = render_management_pack(graph, mp_id_prefix=PREFIX, version=VERSION)

    root = etree.fromstring(rendered.xml)
    shown = {ds.get("ElementID"): _visible(ds.findtext("Name") or "") for ds in root.iter("DisplayString")}
    boxes = {c.key: c.id for c in build_diagram(graph, mp_id_prefix=PREFIX).components}
    # the boxes come from the code under test: check they cover the server and its drawn processes
    own_processes = {key for key in graph.nodes if key.kind == "process" and key.machine == smap.focus.machine}
    assert {smap.focus} | own_processes <= boxes.keys()
    human = {p.key: p.label for p in smap.processes if p.key.machine == smap.focus.machine}
    human.update({m.key: m.label for m in smap.machines})
    for key, component in boxes.items():
        if key in human:
            assert _visible(human[key]) in shown[component], (human[key], shown[component])
    assert _visible(smap.server) in shown[rendered.mp_id]


@FUZZ
@given(server_maps())
def test_the_same_data_renders_the_same_bytes_in_any_order(smap: ServerMap) -> None:
    first = _render(smap)

    assert _render(smap).xml == first.xml
    assert _render(_reversed(smap)).xml == first.xml


@pytest.mark.parametrize("server", ["\ufffe", "\x00", "\x01\x1f", "\uffff\t"])
def test_a_server_name_with_nothing_xml_can_carry_still_renders(server: str) -> None:
    """The configured name is the one text the renderer gets from outside Service Map; when
    nothing of it survives XML cleaning, the MP must still render (named by something else)."""
    focus = _machine("m-web", "web01", "web01", "web01.contoso.com", monitored=True, os_family="windows")
    w3wp = _process(focus, "p-w3wp", "w3wp")
    group = ClientGroup(NodeKey("clientGroup", focus.name, "m!m-web!p!p-w3wp"), "id/cg", "m!m-web!p!p-w3wp", "",
                        w3wp.key)
    smap = ServerMap(server="web01", focus=focus.key, start_time=WINDOW[0], end_time=WINDOW[1], machines=(focus,),
                     processes=(w3wp,), client_groups=(group,),
                     connections=(Connection("c", group.key, w3wp.key, None),))

    rendered = _render(replace(smap, server=server))

    assert validate_bytes(rendered.xml, filename=rendered.filename) == []

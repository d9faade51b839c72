"""Hostile names: valid unique IDs, human names intact in display strings, lxml escaping."""

from __future__ import annotations

import re

from lxml import etree

from servicemap_sync.mp.validate import validate_bytes
from test_render import element_ids, link, machine, names, parse, process, render, server_map

WEB = machine("m-web", "web01", computer="web01", fqdn="web01.contoso.com")
SQL = machine("m-sql", "数据库01", computer="数据库01", fqdn="数据库01.example", os_family="linux")
NAMELESS = machine("t-0b0b0b0b", "???", monitored=False, os_family=None)
TARGET = process(SQL, "p-sql", "sqlservr")
NOWHERE = process(NAMELESS, "ts-x", "???")
LONG = "l" * 299 + "!"

# (resource name, display name as Service Map sends it, expected process label in the box name)
HOSTILE = [
    ("p-markup", "<&>\"'", "<&>\"'"),
    ("p-cyrillic", "сервер", "сервер"),
    ("p-chinese", "服务器", "服务器"),
    ("p-long", LONG, LONG),
    ("p-upper", "Java", "Java"),
    ("p-lower", "java", "java"),
    ("p-unknown", "???", "p-unknown"),
    ("p-empty", "", "p-empty"),
    ("p-control", "ctl\x01na\x7fme\x0b\ufffe", "ctlname"),
    ("p-lines", "two\nlines", "two lines"),
]
PROCESSES = [process(WEB, name, display) for name, display, _label in HOSTILE]


def hostile_render():
    smap = server_map(WEB, (WEB, SQL, NAMELESS), (*PROCESSES, TARGET, NOWHERE),
                      tuple(link(p, TARGET, 1433) for p in PROCESSES) + (link(PROCESSES[0], NOWHERE, 9),))
    return render(smap)


def test_hostile_names_render_a_valid_mp() -> None:
    rendered = hostile_render()
    assert validate_bytes(rendered.xml, filename=rendered.filename) == []
    found = element_ids(parse(rendered.xml))
    assert len({i.lower() for i in found}) == len(found)
    for element_id in found:
        assert len(element_id) < 256
        assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", part) for part in element_id.split(".")), element_id


def test_every_hostile_process_gets_its_own_box_with_its_name() -> None:
    rendered = hostile_render()
    expected = {f"{label} on web01" for _name, _display, label in HOSTILE}
    assert expected <= set(rendered.components.values())
    assert len(rendered.components) == len(HOSTILE) + 3  # + the server, 数据库01 and the nameless peer


def test_case_only_difference_gives_two_ids() -> None:
    rendered = hostile_render()
    upper = [cid for cid, label in rendered.components.items() if label == "Java on web01"]
    lower = [cid for cid, label in rendered.components.items() if label == "java on web01"]
    assert len(upper) == len(lower) == 1 and upper[0].lower() != lower[0].lower()


def test_names_survive_a_round_trip_through_lxml() -> None:
    rendered = hostile_render()
    shown = names(parse(rendered.xml))
    for cid, label in rendered.components.items():
        assert shown[cid] == label
    assert "<&>\"' on web01 → sqlservr on 数据库01 :1433" in shown.values()
    # "???" is no name: the nameless peer and its process show their Service Map names.
    assert "<&>\"' on web01 → ts-x on t-0b0b0b0b :9" in shown.values()


def test_markup_is_escaped_by_lxml_not_written_raw() -> None:
    xml = hostile_render().xml
    assert b"&lt;&amp;&gt;\"'" in xml
    assert b"<&>" not in xml
    assert "сервер".encode() in xml and "服务器".encode() in xml


def test_characters_xml_cannot_carry_are_dropped() -> None:
    text = hostile_render().xml.decode("utf-8")
    for bad in ("\x01", "\x7f", "\x0b", "\ufffe"):
        assert bad not in text
    etree.fromstring(hostile_render().xml)  # strict parser: would reject them


def test_hostile_server_name() -> None:
    host = machine("m-x", "wéb<01>", computer="wéb<01>")
    rendered = render(server_map(host, (host,), (), ()))
    assert rendered.mp_id == "ServiceMapSync.w_b_01_"
    shown = names(parse(rendered.xml))
    assert shown[rendered.mp_id] == "Service Map: wéb<01>"
    assert shown[rendered.mp_id + ".Service"] == "wéb<01> (Service Map)"
    assert validate_bytes(rendered.xml, filename=rendered.filename) == []

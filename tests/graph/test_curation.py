"""Curation: pin, ban, rename and group show in the rendered, valid management pack."""

from __future__ import annotations

import pytest

from estate import graph
from servicemap_sync.errors import ConfigError
from servicemap_sync.graph.curation import load_curation
from servicemap_sync.graph.shape import shape
from servicemap_sync.mp import render_management_pack
from servicemap_sync.mp.validate import validate_bytes

CURATION = '''
# hand-made corrections
[[pin]]
server = "web01*"
process = "IIS Worker Process"
peer = "payments-gw.contoso.com"
port = 443

[[ban]]
peer = "mon01*"

[[rename]]
box = "api.payments.example"
label = "Payments provider"

[[group]]
name = "Domain controllers"
peers = ["dc01*", "dc02*"]

[[ban]]
server = "web01.contoso.com"
peer = "nothing-here"

[[pin]]
server = "sql01*"
peer = "never-used"
'''


def render(g):
    pack = render_management_pack(g, mp_id_prefix="ServiceMapSync", version="1.0.0.1")
    assert validate_bytes(pack.xml, filename=pack.filename) == []
    return pack


def test_pin_ban_rename_and_group_show_in_the_management_pack() -> None:
    before = render(graph("web01.contoso.com"))
    shaped = shape(graph("web01.contoso.com"), curation=load_curation(CURATION))
    pack = render(shaped.graph)
    labels = set(pack.components.values())
    # pin
    assert "payments-gw.contoso.com" in labels
    assert any(a[0].endswith("Process.iis_worker_process") and a[1].endswith("payments_gw_contoso_com")
               and a[2] == ":443" for a in pack.arrows)
    # ban
    assert any("mon01" in lbl for lbl in before.components.values())
    assert not any("mon01" in lbl for lbl in labels)
    # rename: the label changes, the ID does not
    [payments] = [c for c, lbl in before.components.items() if lbl == "api.payments.example"]
    assert pack.components[payments] == "Payments provider"
    assert "Payments provider :443" in pack.xml.decode()
    # group
    assert not any(lbl == "dc01.contoso.com" for lbl in labels)
    [group] = [c for c in pack.components if ".Group." in c]
    assert pack.components[group] == "Domain controllers"
    assert "Grouped by curation.toml line 16; not SCOM objects, no health. 1 member(s): dc01.contoso.com." in pack.xml.decode()
    # the line that names nothing is reported; the sql01 pin does not concern web01
    assert shaped.notes == ("curation.toml line 20: [[ban]] names nothing in the map of web01.contoso.com",)
    by_line = {d.name for d in shaped.explanation if d.by == "curation"}
    assert by_line == {"curation.toml line 3", "curation.toml line 9", "curation.toml line 12", "curation.toml line 16"}


def test_curation_survives_every_sync_and_is_deterministic() -> None:
    curation = load_curation(CURATION)
    first = shape(graph("web01.contoso.com"), curation=curation)
    second = shape(graph("web01.contoso.com"), curation=curation, history=first.history)
    assert render(first.graph).xml == render(second.graph).xml
    assert first.explanation == second.explanation


def test_pin_for_another_server_names_nothing_there() -> None:
    shaped = shape(graph("sql01.contoso.com"), curation=load_curation('[[pin]]\nprocess = "nope*"\npeer = "x"\n'))
    assert shaped.notes == ("curation.toml line 1: [[pin]] process matches no process of sql01.contoso.com; not drawn",)


def test_ban_of_a_process_drops_its_box() -> None:
    shaped = shape(graph("app01.contoso.com"), curation=load_curation('[[ban]]\nprocess = "System"\n'))
    assert not any(lbl.startswith("System ") for lbl in render(shaped.graph).components.values())
    [box] = [d for d in shaped.explanation if d.item == "box" and d.label == "System"]
    assert (box.decision, box.by, box.name) == ("dropped", "curation", "curation.toml line 1")


def test_parsed_dict_is_accepted_and_named_by_position() -> None:
    assert load_curation({"ban": [{"peer": "x"}]}).entries[0].where == "curation.toml [[ban]] 1"
    with pytest.raises(ConfigError, match=r"c.toml \[\[ban\]\] 2: \[\[ban\]\] oops: unknown key"):
        load_curation({"ban": [{"peer": "x"}, {"port": "1-2", "oops": 1}]}, source="c.toml")


@pytest.mark.parametrize("text, words", [
    ("[[pin]\npeer = 'x'", ["not valid TOML", "line 1"]),
    ("\n\n[[pin]]\nport = 1\n", ["line 3", "peer: missing"]),
    ("[[ban]]\npeer = 'x'\n\n[[ban]]\nport = 'a-b'\n", ["line 4", "port"]),
    ("[[ban]]\nserver = 'web*'\n", ["line 1", "names nothing"]),
    ("[[rename]]\nbox = 'x'\nlabel = ''\n", ["line 1", "label"]),
    ("[[group]]\nname = 'g'\npeers = []\n", ["line 1", "peers", "empty"]),
    ("[[group]]\nname = 'g'\npeers = ['dc[1']\n", ["line 1", "bad glob"]),
    ("[[pin]]\npeer = 'x'\ndirection = 'up'\n", ["line 1", "direction"]),
    ("[[pin]]\npeer = 'x'\nport = 70000\n", ["line 1", "port"]),
    ("[[hide]]\npeer = 'x'\n", ["line 1", "hide", "unknown entry kind"]),
    ("pin = 3\n", ["pin", "array of tables"]),
])
def test_malformed_files_name_the_line(text: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_curation(text)
    for word in words:
        assert word in str(caught.value), str(caught.value)


def test_arrows_merged_into_a_curated_group_are_credited_to_curation_whatever_its_name() -> None:
    """A group named like a guard's collapsed box is still the curation file's doing."""
    curation = load_curation("[[group]]\nname = 'Collapsed by hand'\npeers = ['dc01*', 'mon01*']\n",
                             source="curation.toml")
    shaped = shape(graph("web01.contoso.com"), curation=curation)
    merged = [d for d in shaped.explanation if d.item == "arrow" and d.decision == "merged"]
    assert merged and {d.by for d in merged} == {"curation"}

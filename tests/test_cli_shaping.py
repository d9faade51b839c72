"""Shaping the diagram through the real CLI against the emulator: rules and explain, presets,
stability across syncs, curation that survives --force, and bad input stopping the start.

The shaping library itself (every rule key, the presets' exact lists, guards on a layer of 30
clients, Hypothesis over rule sets and curation files) is tested in ``tests/graph/``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from cli_harness import config_file, invoke
from lxml import etree
from scenario_lookup import machine_named

from servicemap_sync.mp.validate import validate_file

WEB01 = "ServiceMapSync.web01.contoso.com.xml"
SQL01 = "ServiceMapSync.sql01.contoso.com.xml"


def with_diagram(config: Path, text: str) -> Path:
    config.write_text(config.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")
    return config


def display_names(pack: Path) -> set[str]:
    root = etree.parse(str(pack)).getroot()
    return {e.text or "" for e in root.iter("Name") if e.getparent().tag == "DisplayString"}


def arrows(pack: Path) -> set[str]:
    """The arrows the published pack draws, as the state recorded them (a pack keeps the types
    of arrows that left, retired, so the XML alone does not tell)."""
    from servicemap_sync.publish import StateStore

    with StateStore(pack.parent / "state.db") as state:
        (row,) = [row for row in state.all() if row.mp_id == pack.stem]
        return set(row.connections)


def version(pack: Path) -> str:
    return etree.parse(str(pack)).getroot().findtext("Manifest/Identity/Version")


def test_a_rule_drops_what_it_names_and_explain_says_which(sample_emu, tmp_path) -> None:
    config = with_diagram(config_file(sample_emu, tmp_path, servers=["web01.contoso.com"]),
                          '[[rules]]\nname = "exporters"\naction = "drop"\nport = [9100, 9182]\n')
    run = invoke(config, sample_emu, "sync")
    assert run.exit_code == 0, run.output
    assert not any("windows_exporter" in name for name in display_names(tmp_path / "out" / WEB01))

    explained = invoke(config, sample_emu, "explain", "web01", "--json")
    assert explained.exit_code == 0, explained.output
    decisions = json.loads(explained.stdout)
    dropped = [d for d in decisions if d["decision"] == "dropped"]
    assert dropped and all(d["by"] == "rule" and "exporters" in d["name"] for d in dropped)
    assert any(d["item"] == "arrow" and ":9182" in d["label"] for d in dropped)
    assert {d["decision"] for d in decisions} >= {"kept", "dropped"}
    text = invoke(config, sample_emu, "explain", "web01")
    assert "dropped" in text.stdout and 'rule 1 "exporters"' in text.stdout


def test_the_infrastructure_preset_drops_the_domain_controller_traffic(sample_emu, tmp_path) -> None:
    config = with_diagram(config_file(sample_emu, tmp_path, servers=["web01.contoso.com"]),
                          '[[rules]]\nname = "ad"\naction = "drop"\npreset = "infrastructure"\n'
                          'direction = "outbound"\n')
    assert invoke(config, sample_emu, "sync").exit_code == 0
    decisions = json.loads(invoke(config, sample_emu, "explain", "web01", "--json").stdout)
    to_dc = [d for d in decisions if d["item"] == "arrow" and "dc01" in d["label"]]
    assert to_dc and all(d["decision"] == "dropped" for d in to_dc)
    assert not any("dc01" in name for name in display_names(tmp_path / "out" / WEB01))


def test_an_arrow_missing_once_stays_and_leaves_after_three_syncs(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path, servers=["sql01"])
    pack = tmp_path / "out" / SQL01
    assert invoke(config, sample_emu, "sync").exit_code == 0
    first = pack.read_bytes()
    arrows_before = arrows(pack)
    sql = machine_named(sample_emu.scenario, "sql01")
    changed = copy.deepcopy(sample_emu.scenario.maps[sql])
    changed["edges"]["connections"] = changed["edges"]["connections"][1:]
    sample_emu.set_map(sql, changed)

    assert invoke(config, sample_emu, "sync").exit_code == 0  # missing once: nothing to publish
    assert pack.read_bytes() == first and version(pack) == "1.0.0.0"
    assert invoke(config, sample_emu, "rebuild", "sql01").exit_code == 0  # missing twice: rebuild keeps it drawn
    assert version(pack) == "1.0.0.1" and arrows(pack) == arrows_before
    assert invoke(config, sample_emu, "sync").exit_code == 0  # missing three times: it leaves
    assert version(pack) == "1.0.0.2" and arrows(pack) < arrows_before
    report = json.loads(sorted((tmp_path / "out" / "reports").glob("changes-*.json"),
                               key=lambda p: int(p.stem.split("-")[1]))[-1].read_text())
    assert report["servers"][0]["connections_removed"]


CURATION = """\
[[pin]]
server = "web01*"
process = "IIS Worker Process"
peer = "payments-gw.contoso.com"
port = 443
direction = "outbound"

[[ban]]
peer = "build01*"

[[rename]]
box = "api.payments.example"
label = "Payments provider"

[[group]]
name = "Directory and monitoring"
peers = ["dc01*", "mon01*"]
"""


def test_curation_pins_bans_renames_and_groups_and_survives_force(sample_emu, tmp_path) -> None:
    (tmp_path / "curation.toml").write_text(CURATION, encoding="utf-8")
    config = with_diagram(config_file(sample_emu, tmp_path, servers=["web01.contoso.com"]),
                          '[diagram]\ncuration_file = "curation.toml"\n')
    pack = tmp_path / "out" / WEB01
    for args in (("sync",), ("sync", "--force")):
        run = invoke(config, sample_emu, *args)
        assert run.exit_code == 0, run.output
        names = display_names(pack)
        assert any("payments-gw.contoso.com" in n for n in names)  # pinned
        assert not any("build01" in n for n in names)  # banned
        assert "Payments provider" in names and not any("api.payments.example" == n for n in names)  # renamed
        assert any("Directory and monitoring" in n for n in names)  # grouped
        assert not any(n.startswith("dc01") or n.startswith("mon01") for n in names)
        assert validate_file(pack) == []


def test_a_rule_that_can_never_match_stops_the_start_naming_it(sample_emu, tmp_path) -> None:
    config = with_diagram(config_file(sample_emu, tmp_path),
                          '[[rules]]\nname = "broken"\naction = "drop"\nport = "9-1"\n')
    run = invoke(config, sample_emu, "sync")
    assert run.exit_code == 2 and '"broken"' in run.stderr and "port" in run.stderr
    assert sample_emu.requests == []
    (tmp_path / "curation.toml").write_text("[[ban]]\nport = 'a-b'\n", encoding="utf-8")
    config = with_diagram(config_file(sample_emu, tmp_path), '[diagram]\ncuration_file = "curation.toml"\n')
    run = invoke(config, sample_emu, "sync")
    assert run.exit_code == 2 and "curation.toml line 1: [[ban]]: port" in run.stderr


def test_a_layer_of_30_clients_becomes_8_boxes_and_one_collapsed_box(sample_emu, tmp_path) -> None:
    """web01's IIS :443 gets 29 more monitored callers (build01 is the 30th): the 8 busiest keep
    their boxes, the other 22 are one box that lists them."""
    web01 = machine_named(sample_emu.scenario, "web01.contoso.com")
    build01 = machine_named(sample_emu.scenario, "build01.contoso.com")
    the_map = copy.deepcopy(sample_emu.scenario.maps[web01])
    (caller,) = [c for c in the_map["edges"]["connections"] if build01 in json.dumps(c["properties"]["source"])]
    machine = next(n for n in the_map["nodes"]["machines"] if n["name"] == build01)
    process_name = caller["properties"]["source"]["name"]
    process = next(n for n in the_map["nodes"]["processes"] if n["name"] == process_name)
    for i in range(29):
        clone = f"m-c11e0000-0000-4000-8000-{i:012d}"

        def renamed(node: dict) -> dict:
            return json.loads(json.dumps(node).replace(build01, clone).replace("build01", f"client{i:02d}")
                              .replace("BUILD01", f"CLIENT{i:02d}"))

        the_map["nodes"]["machines"].append(renamed(machine))
        the_map["nodes"]["processes"].append(renamed(process))
        the_map["edges"]["connections"].append(renamed(caller))
    sample_emu.set_map(web01, the_map)
    config = config_file(sample_emu, tmp_path, servers=["web01.contoso.com"])
    assert invoke(config, sample_emu, "sync").exit_code == 0
    names = display_names(tmp_path / "out" / WEB01)
    assert "22 other clients of IIS Worker Process :443" in names
    clients = {n for n in names if n.startswith(("client", "build01")) and n.endswith(".contoso.com")}
    assert len(clients) == 8
    explained = json.loads(invoke(config, sample_emu, "explain", "web01", "--json").stdout)
    merged = [d for d in explained if d["item"] == "box" and d["decision"] == "merged"]
    assert len(merged) == 22 and {d["name"] for d in merged} == {"diagram.max_per_layer"}
    assert validate_file(tmp_path / "out" / WEB01) == []

"""Machine-group DAs through the real CLI against the emulator: a Service Map group, a group of
the configuration (with every source), a member that goes missing, and rebuild --group."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from cli_harness import config_file, invoke, toml_value
from group_estate import SCENARIO, SHOP, expected_boxes_and_arrows, fqdn, group_members

from servicemap_sync.emulator.snapshots import write_snapshots
from servicemap_sync.mp.validate import validate_file
from servicemap_sync.publish import StateStore

SHOP_PACK = "ServiceMapSync.Group.contoso_web_shop.xml"


def with_groups(config, text: str):
    config.write_text(config.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")
    return config


def drawn(out, group: str) -> tuple[int, int]:
    """Boxes and arrows of the group's published pack, as the state recorded them."""
    with StateStore(out / "state.db") as state:
        row = state.get(f"group:{group}")
        return len(row.components), len(row.connections)


def expected(members: list[str]) -> tuple[int, int]:
    boxes, arrows = expected_boxes_and_arrows([SCENARIO.maps[m] for m in members], {m.lower() for m in members})
    return len(boxes), len(arrows)


def test_a_service_map_group_gets_the_da_its_members_maps_imply(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path, servers=["web01.contoso.com"], groups=[SHOP])
    out = tmp_path / "out"
    run = invoke(config, sample_emu, "sync")
    assert run.exit_code == 0, run.output
    assert validate_file(out / SHOP_PACK) == []
    assert drawn(out, SHOP) == expected(group_members(SHOP))
    assert sum(1 for r in sample_emu.requests if r.operation == "generateMap") == 2  # the server, and one for the group
    assert "group:Contoso Web Shop" in invoke(config, None, "servers").stdout

    again = invoke(config, sample_emu, "sync")
    assert again.exit_code == 0 and "0 synced, 2 unchanged" in again.stdout
    rebuilt = invoke(config, sample_emu, "rebuild", "--group", SHOP)
    assert rebuilt.exit_code == 0 and b"<Version>1.0.0.1</Version>" in (out / SHOP_PACK).read_bytes()


@pytest.mark.parametrize("kind", ["servicemap", "vminsights", "netstat"])
def test_a_configured_group_works_with_every_source(sample_emu, tmp_path, kind) -> None:
    members = group_members(SHOP)
    config = config_file(sample_emu, tmp_path, servers=[], groups=["Web shop"])
    text = f'[[groups]]\nname = "Web shop"\nservers = {toml_value([fqdn(m) for m in members])}\n' \
           f'\n[source]\nkind = "{kind}"\n'
    if kind == "netstat":
        snapshots = tmp_path / "snapshots"
        write_snapshots(snapshots, datetime.now(timezone.utc) - timedelta(minutes=10))
        text += f'snapshot_dir = "{snapshots}"\nhosts_file = "{snapshots / "hosts"}"\n'
    run = invoke(with_groups(config, text), sample_emu, "sync")
    assert run.exit_code == 0, run.output
    pack = tmp_path / "out" / "ServiceMapSync.Group.web_shop.xml"
    assert validate_file(pack) == []
    boxes, arrows = drawn(tmp_path / "out", "Web shop")
    if kind == "servicemap":
        assert (boxes, arrows) == expected(members)
    elif kind == "vminsights":  # one client group per accepting process: web02's two are one (README)
        assert (boxes + 1, arrows) == expected(members)


def test_a_member_that_goes_missing_leaves_a_valid_pack_and_a_named_failure(sample_emu, tmp_path) -> None:
    members = group_members(SHOP)
    names = [fqdn(m) for m in members]
    config = with_groups(config_file(sample_emu, tmp_path, servers=[], groups=["Web shop"]),
                         f'[[groups]]\nname = "Web shop"\nservers = {toml_value(names)}\n')
    assert invoke(config, sample_emu, "sync").exit_code == 0
    sample_emu.set_machines([m for m in SCENARIO.machines.values() if m["name"] != members[-1]])

    run = invoke(config, sample_emu, "sync")

    assert run.exit_code == 1, run.output
    assert names[-1] in run.failures() and "member of group 'Web shop'" in run.failures()[names[-1]]
    pack = tmp_path / "out" / "ServiceMapSync.Group.web_shop.xml"
    assert validate_file(pack) == [] and names[-1] in pack.read_text()  # named in the description

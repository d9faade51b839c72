"""The source is a setting: each of the three sources through the real CLI against the emulator.

``sync`` with the Service Map API, the VM insights tables (the emulator's Log Analytics query
API) and netstat/ss snapshot files publishes a valid pack for every server of the sample
Servers Group, with the same exit codes, change-only publishing and failure isolation. Whether
the diagrams are the same is checked graph by graph in ``tests/sources/{vminsights,netstat}/``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cli_harness import config_file, invoke
from scenario_lookup import drawn_name

from servicemap_sync.emulator import Fault
from servicemap_sync.emulator.snapshots import write_snapshots
from servicemap_sync.mp.validate import validate_file

SOURCES = ("servicemap", "vminsights", "netstat")


def with_source(config: Path, kind: str, snapshots: Path) -> Path:
    """Add ``[source]`` for ``kind`` to ``config``; netstat reads snapshots taken in the last minutes."""
    text = config.read_text(encoding="utf-8") + f'\n[source]\nkind = "{kind}"\n'
    if kind == "netstat":
        write_snapshots(snapshots, datetime.now(timezone.utc) - timedelta(minutes=10))
        text += f'snapshot_dir = "{snapshots}"\nhosts_file = "{snapshots / "hosts"}"\n'
    config.write_text(text, encoding="utf-8")
    return config


def expected_packs(emu) -> list[str]:
    return sorted(f"ServiceMapSync.{drawn_name(emu.scenario, s)}.xml" for s in emu.scenario.servers_group)


@pytest.mark.parametrize("kind", SOURCES)
def test_every_source_publishes_a_valid_pack_per_server_and_then_nothing(sample_emu, tmp_path, kind) -> None:
    config = with_source(config_file(sample_emu, tmp_path), kind, tmp_path / "snapshots")
    out = tmp_path / "out"

    first = invoke(config, sample_emu, "sync")

    assert first.exit_code == 0, first.output
    assert sorted(p.name for p in out.glob("*.xml")) == expected_packs(sample_emu)
    assert all(validate_file(p) == [] for p in out.glob("*.xml"))
    second = invoke(config, sample_emu, "sync")
    assert second.exit_code == 0 and f"0 synced, {len(expected_packs(sample_emu))} unchanged" in second.stdout
    listed = invoke(config, None, "servers")
    rows = [line for line in listed.stdout.splitlines() if ".contoso.com " in line and "ServiceMapSync." in line]
    assert len(rows) == len(expected_packs(sample_emu)) and all(f" {kind} " in row for row in rows)


def test_the_source_flag_overrides_the_configuration(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path, servers=["web01.contoso.com", "sql01"])
    run = invoke(config, sample_emu, "sync", "--source", "vminsights")
    assert run.exit_code == 0, run.output
    operations = {r.operation for r in sample_emu.requests}
    assert "query" in operations and "generateMap" not in operations


def test_vminsights_batches_the_group_into_a_few_queries(sample_emu, tmp_path) -> None:
    config = with_source(config_file(sample_emu, tmp_path), "vminsights", tmp_path)
    assert invoke(config, sample_emu, "sync").exit_code == 0
    queries = [r for r in sample_emu.requests if r.operation == "query"]
    assert 1 < len(queries) <= 4 < len(sample_emu.scenario.servers_group)


def test_a_partial_query_answer_fails_only_the_servers_it_was_for(sample_emu, tmp_path) -> None:
    """sql01's map does not hold pg01 (dc01's, app02's and mon01's do, and would fail with it)."""
    pg01 = "m-2266fd69-3b92-5985-bf37-0944e3db3f5a"
    config = with_source(config_file(sample_emu, tmp_path, servers=["pg01.contoso.com", "sql01.contoso.com"]),
                         "vminsights", tmp_path)
    sample_emu.add_fault(Fault(kind="partial", operation="query", machine=pg01))
    run = invoke(config, sample_emu, "sync")
    assert run.exit_code == 1, run.output
    assert set(run.failures()) == {"pg01.contoso.com"} and "partial" in run.failures()["pg01.contoso.com"]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.xml")) == ["ServiceMapSync.sql01.contoso.com.xml"]


@pytest.mark.parametrize("damage", [b"", b"\x00\x01garbage\xff" * 40, b"state,host\n"])
def test_a_broken_snapshot_fails_its_server_only_and_names_the_file(sample_emu, tmp_path, damage) -> None:
    snapshots = tmp_path / "snapshots"
    config = with_source(config_file(sample_emu, tmp_path, servers=["app01", "mon01.contoso.com"]), "netstat",
                         snapshots)
    broken = sorted(snapshots.glob("app01.contoso.com__*.csv"))[-1]
    broken.write_bytes(damage)
    run = invoke(config, sample_emu, "sync")
    assert run.exit_code == 1, run.output
    assert set(run.failures()) == {"app01.contoso.com"} and broken.name in run.failures()["app01.contoso.com"]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.xml")) == ["ServiceMapSync.mon01.contoso.com.xml"]
    assert not list((tmp_path / "out").rglob(".*.tmp"))


def test_netstat_needs_a_snapshot_folder_and_no_azure_account(tmp_path) -> None:
    config = tmp_path / "servicemap-sync.toml"
    config.write_text('[sync]\nservers = ["web01.contoso.com"]\n[source]\nkind = "netstat"\n', encoding="utf-8")
    refused = invoke(config, None, "sync")
    assert refused.exit_code == 2 and "source.snapshot_dir" in refused.stderr
    write_snapshots(tmp_path / "snaps", datetime.now(timezone.utc) - timedelta(minutes=5))
    config.write_text(config.read_text() + 'snapshot_dir = "snaps"\nhosts_file = "snaps/hosts"\n', encoding="utf-8")
    run = invoke(config, None, "sync")
    assert run.exit_code == 0, run.output
    assert validate_file(tmp_path / "out" / "ServiceMapSync.web01.contoso.com.xml") == []

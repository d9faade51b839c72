"""The library under the CLI: SyncService used on its own, against the emulator."""

from __future__ import annotations

import json

from servicemap_sync.emulator import Fault
from servicemap_sync.service import FAILED, PUBLISHED, UNCHANGED, SyncService


def test_a_sync_summary_counts_servers_and_the_requests_the_emulator_saw(sample_emu, make_settings) -> None:
    settings = make_settings(sample_emu)
    group = set(sample_emu.scenario.servers_group)

    first = SyncService(settings).sync()

    assert {r.server for r in first.results} == group
    assert (first.count(PUBLISHED), first.written, first.exit_code) == (len(group), len(group), 0)
    through_transport = [r for r in sample_emu.requests if r.operation in ("machines", "generateMap")]
    assert first.requests == len(through_transport) and first.throttled == 0
    report = json.loads(first.report_paths[0].read_text(encoding="utf-8"))
    assert {s["server"] for s in report["servers"]} == group
    assert all(s["status"] == PUBLISHED and s["components_added"] for s in report["servers"])
    assert all(r.change is None for r in first.results)  # the report took them; the summary stays small

    sample_emu.add_fault(Fault(kind="status", status=429, retry_after=0, operation="generateMap", count=1))
    second = SyncService(settings).sync()

    assert (second.count(UNCHANGED), second.written, second.count(FAILED)) == (len(group), 0, 0)
    assert second.throttled == 1
    assert json.loads(second.report_paths[0].read_text(encoding="utf-8"))["counts"][UNCHANGED] == len(group)

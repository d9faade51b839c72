"""The library under the CLI: SyncService used on its own, against the emulator."""

from __future__ import annotations

import json

from scenario_lookup import drawn_name

from servicemap_sync.emulator import Fault
from servicemap_sync.service import FAILED, PUBLISHED, UNCHANGED, SyncService


def test_a_sync_summary_counts_servers_and_the_requests_the_emulator_saw(sample_emu, make_settings) -> None:
    settings = make_settings(sample_emu)
    group = {drawn_name(sample_emu.scenario, s) for s in sample_emu.scenario.servers_group}

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
    # nothing changed: no change report, one line in the run log
    assert second.report_paths == ()
    run_log = (settings.output_directory / "reports" / "runs.log").read_text(encoding="utf-8").splitlines()
    assert len(run_log) == 2 and f"0 published, {len(group)} unchanged, 0 failed, 0 removed" in run_log[1]
    assert run_log[0].endswith(first.report_paths[1].name)

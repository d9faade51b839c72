"""What a new administrator trips over in the first hour, each through the real CLI against the emulator.

One test (or a few) per defect found in the first-hour trial: a second pack for one machine,
rebuild outside the group, packs of departed servers left in the import folder, network
failures reported as refused sign-ins, Ctrl-C without a report, plain-text fatal errors under
JSON logs, export overwriting published packs, emulator tracebacks, Windows-saved files, checks
that came too late, reports that named internal IDs, and the smaller ones.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path

import certifi
import pytest
from cli_harness import PYTHON_CLI, config_file, invoke, subprocess_env
from scenario_lookup import drawn_name

from servicemap_sync.cli import cli
from servicemap_sync.emulator import Fault
from servicemap_sync.mp.validate import validate_file
from servicemap_sync.publish import StateStore

WAIT = 60.0


def xml_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.xml"))


# -- 1. identity is the machine, not the typed name ---------------------------------------------

def test_every_spelling_of_a_machine_gives_one_pack_under_its_fqdn(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path, servers=["web01.contoso.com", "WEB01", "sql01"])
    out = tmp_path / "out"
    first = invoke(config, sample_emu, "sync")
    assert first.exit_code == 0, first.output
    assert xml_names(out) == ["ServiceMapSync.sql01.contoso.com.xml", "ServiceMapSync.web01.contoso.com.xml"]
    assert "2 synced" in first.stdout  # web01 and WEB01 are one server

    rebuilt = invoke(config, sample_emu, "rebuild", "web01")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert xml_names(out) == ["ServiceMapSync.sql01.contoso.com.xml", "ServiceMapSync.web01.contoso.com.xml"]
    assert b"<Version>1.0.0.1</Version>" in (out / "ServiceMapSync.web01.contoso.com.xml").read_bytes()

    review = tmp_path / "review"
    exported = invoke(config, sample_emu, "export", "--server", "SQL01.CONTOSO.COM", "--out", str(review))
    assert exported.exit_code == 0, exported.output
    assert xml_names(review) == ["ServiceMapSync.sql01.contoso.com.xml"]


def test_a_pack_published_under_a_short_name_keeps_its_id_when_the_group_spells_it_in_full(sample_emu, tmp_path):
    """The MP ID is kept in the state: a machine first published as ``app01`` stays ``…app01``."""
    config = config_file(sample_emu, tmp_path, servers=["app01"])
    out = tmp_path / "out"
    with StateStore(out / "state.db") as state:  # what an earlier version recorded
        state.record_published("app01", machine="m-91DBAE02-E4E9-5B60-BEA7-61168D8C9837", os_family="windows",
                               mp_id="ServiceMapSync.app01", version="1.0.0.3", content_hash="old", components=(),
                               connections=(), at=__import__("datetime").datetime.now().astimezone())
    config_file(sample_emu, tmp_path, servers=["app01.contoso.com"])
    run = invoke(config, sample_emu, "sync")
    assert run.exit_code == 0, run.output
    assert xml_names(out) == ["ServiceMapSync.app01.xml"]
    assert b"<Version>1.0.0.4</Version>" in (out / "ServiceMapSync.app01.xml").read_bytes()


# -- 2. rebuild stays inside the Servers Group ---------------------------------------------------

def test_rebuild_of_a_server_outside_the_group_is_refused_and_publishes_nothing(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path, servers=["web01.contoso.com"])
    run = invoke(config, sample_emu, "rebuild", "build01.contoso.com")
    assert run.exit_code == 2, run.output
    assert "not in the Servers Group" in run.stderr and "sync.servers" in run.stderr
    assert "export --server build01.contoso.com" in run.stderr
    assert xml_names(tmp_path / "out") == []


# -- 3. a server that leaves the group takes its pack with it ------------------------------------

def test_a_departed_server_is_moved_aside_reported_scripted_and_listed_until_acknowledged(sample_emu, tmp_path):
    config = config_file(sample_emu, tmp_path, servers=["web01.contoso.com", "pg01.contoso.com", "sql01"])
    out = tmp_path / "out"
    assert invoke(config, sample_emu, "sync").exit_code == 0
    config_file(sample_emu, tmp_path, servers=["web01.contoso.com", "sql01"])

    run = invoke(config, sample_emu, "sync")

    assert run.exit_code == 0, run.output
    assert "REMOVED pg01.contoso.com" in run.stdout
    assert xml_names(out) == ["ServiceMapSync.sql01.contoso.com.xml", "ServiceMapSync.web01.contoso.com.xml"]
    moved = out / "removed" / "ServiceMapSync.pg01.contoso.com.xml"
    assert moved.is_file() and validate_file(moved) == []
    report = json.loads(sorted((out / "reports").glob("changes-*.json"))[-1].read_text())
    assert [(s["server"], s["status"]) for s in report["servers"] if s["status"] == "removed"] == [
        ("pg01.contoso.com", "removed")]
    script = (out / "reports" / f"remove-{report['run_id']}.ps1").read_text()
    assert "Get-SCOMManagementPack -Name 'ServiceMapSync.pg01.contoso.com' | Remove-SCOMManagementPack" in script

    listed = invoke(config, None, "servers")
    assert "pg01.contoso.com" in listed.stdout and "removed" in listed.stdout
    assert invoke(config, None, "servers", "--acknowledge-removed").exit_code == 0
    assert "pg01" not in invoke(config, None, "servers").stdout
    assert "REMOVED" not in invoke(config, sample_emu, "sync").stdout  # removed once, not every run


def test_a_member_that_matches_nothing_this_hour_is_not_removed(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path, servers=["web01.contoso.com", "pg01.contoso.com"])
    out = tmp_path / "out"
    assert invoke(config, sample_emu, "sync").exit_code == 0
    machines = [m for m in sample_emu.scenario.machines.values()
                if m["properties"].get("fullyQualifiedDomainName") != "pg01.contoso.com"]
    sample_emu.set_machines(machines)  # its agent stopped reporting
    run = invoke(config, sample_emu, "sync")
    assert run.exit_code == 1 and "REMOVED" not in run.stdout
    assert (out / "ServiceMapSync.pg01.contoso.com.xml").is_file()


# -- 4. say what actually failed -----------------------------------------------------------------

def test_an_untrusted_certificate_is_named_as_tls_with_the_url_and_the_ca_setting(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path, servers=["web01.contoso.com"])
    run = invoke(config, sample_emu, "sync", env={"REQUESTS_CA_BUNDLE": certifi.where()})
    assert run.exit_code == 2
    assert "TLS failure reaching " + sample_emu.url in run.stderr and "REQUESTS_CA_BUNDLE" in run.stderr
    assert "refused the sign-in" not in run.stderr


def test_a_refused_connection_is_named_as_such(sample_emu, tmp_path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"https://127.0.0.1:{probe.getsockname()[1]}"
    config = config_file(sample_emu, tmp_path, servers=["web01.contoso.com"])
    config.write_text(config.read_text().replace(f'authority_host = "{sample_emu.url}"',
                                                 f'authority_host = "{closed}"'))
    run = invoke(config, sample_emu, "sync")
    assert run.exit_code == 2
    assert f"connection failure reaching {closed}" in run.stderr and "HTTPS_PROXY" in run.stderr


def test_a_refused_secret_names_where_the_secret_came_from(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path, servers=["web01.contoso.com"])
    run = invoke(config, sample_emu, "sync", env={"AZURE_CLIENT_SECRET": "not-the-secret"})
    assert run.exit_code == 2
    assert "refused the sign-in" in run.stderr and "the AZURE_CLIENT_SECRET environment variable" in run.stderr
    assert "not-the-secret" not in run.output


# -- 5. no holes in the audit trail ---------------------------------------------------------------

def test_ctrl_c_mid_sync_reports_what_was_finished_and_exits_130(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path, concurrency=1)
    out = tmp_path / "out"
    # one server at a time, in group order; pg01 (the sixth) is slow, so Ctrl-C finds it in hand
    sample_emu.add_fault(Fault(kind="delay", seconds=3, operation="generateMap",
                               machine="m-2266fd69-3b92-5985-bf37-0944e3db3f5a"))
    child = subprocess.Popen([*PYTHON_CLI, "--config", str(config), "sync"], env=subprocess_env(sample_emu),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + WAIT
    while len(xml_names(out)) < 5:
        assert time.monotonic() < deadline and child.poll() is None, "the first five packs were not published"
        time.sleep(0.01)
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=WAIT)

    assert child.returncode == 130, stderr
    assert "interrupted" in stdout and "interrupted" in stderr
    published = xml_names(out)
    report = json.loads(sorted((out / "reports").glob("changes-*.json"))[-1].read_text())
    assert report["interrupted"] is True
    reported = {s["server"] for s in report["servers"] if s["status"] == "published"}
    assert {f"ServiceMapSync.{name}.xml" for name in reported} == set(published)
    assert 5 <= len(published) < len(sample_emu.scenario.servers_group)  # pg01 finished, the rest never started
    with StateStore(out / "state.db") as state:
        assert state.runs(1)[0].exit_code == 130


# -- 6. --log-format json means every line ---------------------------------------------------------

def test_fatal_and_usage_errors_are_json_records_under_json_logs(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path, servers=["web01.contoso.com"])
    config.write_text(config.read_text().replace("[sync]", "[sync]\ntime_window_minutes = 90"))
    for args, code in ((["sync"], 2), (["sync", "--no-such-flag"], 2)):
        child = subprocess.run([*PYTHON_CLI, "--log-format", "json", "--config", str(config), *args],
                               env=subprocess_env(sample_emu), capture_output=True, text=True, timeout=WAIT)
        assert child.returncode == code, child.stderr
        records = [json.loads(line) for line in child.stderr.splitlines()]  # every line is JSON
        assert records and records[-1]["level"] == "error" and records[-1]["exit_code"] == code


# -- 7. export publishes nothing ----------------------------------------------------------------

def test_export_refuses_the_output_folder_and_shows_the_version_sync_would_publish(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path, servers=["web01.contoso.com"])
    out = tmp_path / "out"
    assert invoke(config, sample_emu, "sync").exit_code == 0
    published = (out / "ServiceMapSync.web01.contoso.com.xml").read_bytes()

    into_out = invoke(config, sample_emu, "export", "--out", str(out))
    assert into_out.exit_code == 2 and "output folder" in into_out.stderr
    assert (out / "ServiceMapSync.web01.contoso.com.xml").read_bytes() == published

    review = tmp_path / "review"
    exported = invoke(config, sample_emu, "export", "--out", str(review))
    assert exported.exit_code == 0 and "(version 1.0.0.0)" in exported.stdout
    assert (review / "ServiceMapSync.web01.contoso.com.xml").read_bytes() == published


# -- 8. the emulator fails like a tool ---------------------------------------------------------------

def test_the_emulator_reports_bad_ports_data_and_faults_in_one_line(tmp_path) -> None:
    from click.testing import CliRunner

    runner = CliRunner()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        in_use = runner.invoke(cli, ["emulator", "--port", str(port), "--state-dir", str(tmp_path / "e")])
    assert in_use.exit_code == 2 and f"--port {port} is in use" in in_use.output
    assert "Traceback" not in in_use.output
    out_of_range = runner.invoke(cli, ["emulator", "--port", "70000"])
    assert out_of_range.exit_code == 2 and "70000" in out_of_range.output
    (tmp_path / "empty").mkdir()
    no_scenario = runner.invoke(cli, ["emulator", "--data", str(tmp_path / "empty"), "--state-dir", str(tmp_path)])
    assert no_scenario.exit_code == 2 and "scenario.json" in no_scenario.output
    assert len(no_scenario.output.strip().splitlines()) == 1
    bad_fault = runner.invoke(cli, ["emulator", "--fault", "status,status=often"])
    assert bad_fault.exit_code == 2 and "--fault" in bad_fault.output


def test_emulator_fault_specs_become_the_faults_the_tests_use() -> None:
    from servicemap_sync.demo import parse_fault

    assert parse_fault("status,status=429,retry_after=5,operation=generateMap,count=3") == Fault(
        kind="status", status=429, retry_after=5, operation="generateMap", count=3)
    assert parse_fault("delay,seconds=0.5") == Fault(kind="delay", seconds=0.5)


# -- 9. configuration files from Windows --------------------------------------------------------------

@pytest.mark.parametrize("encode, code, fragment", [
    (lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"), 0, "IntervalSeconds"),
    (lambda text: text.encode("utf-16"), 2, "save it as UTF-8"),
])
def test_configuration_saved_by_windows_tools(sample_emu, tmp_path, encode, code, fragment) -> None:
    config = config_file(sample_emu, tmp_path)
    config.write_bytes(encode(config.read_text(encoding="utf-8")))
    run = invoke(config, sample_emu, "overrides")
    assert run.exit_code == code and fragment in run.output
    assert "codec" not in run.output


def test_a_folder_given_as_config_says_so(tmp_path) -> None:
    run = invoke(tmp_path, None, "overrides")
    assert run.exit_code == 2 and "is a folder, not a file" in run.stderr


# -- 10. check at start what can be checked at start ----------------------------------------------------

def test_ids_that_are_not_guids_stop_the_start_before_any_request(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path)
    config.write_text(config.read_text().replace(sample_emu.subscription_id, "prod-subscription"))
    run = invoke(config, sample_emu, "sync")
    assert run.exit_code == 2 and "azure.subscription_id = 'prod-subscription' is not a GUID" in run.stderr
    assert sample_emu.requests == []


def test_an_empty_group_warns_and_a_disabled_sync_does_nothing(sample_emu, tmp_path) -> None:
    empty = invoke(config_file(sample_emu, tmp_path, servers=[]), sample_emu, "sync")
    assert empty.exit_code == 0 and "Servers Group is empty" in empty.stderr
    before = len(sample_emu.requests)
    disabled = invoke(config_file(sample_emu, tmp_path), sample_emu, "sync", "--disabled")
    assert disabled.exit_code == 0 and "Enabled is false (command-line flag)" in disabled.stderr
    assert len(sample_emu.requests) == before and xml_names(tmp_path / "out") == []


@pytest.mark.parametrize("command, flag", [("rebuild", "--interval-seconds"), ("export", "--enabled"),
                                           ("sync", "--interval-seconds")])
def test_commands_offer_only_the_flags_they_use(sample_emu, tmp_path, command, flag) -> None:
    run = invoke(config_file(sample_emu, tmp_path), sample_emu, command, flag, "5")
    assert run.exit_code == 2 and "No such option" in run.output


# -- 11. reports people can read and keep -----------------------------------------------------------

def test_reports_name_boxes_as_the_pack_shows_them_and_quiet_runs_write_none(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path, servers=["web01.contoso.com"])
    out = tmp_path / "out"
    assert invoke(config, sample_emu, "sync").exit_code == 0
    report = json.loads((out / "reports" / "changes-1.json").read_text())
    (entry,) = report["servers"]
    assert entry["components_added"] and entry["connections_added"]
    assert not any("ServiceMapSync." in name for name in entry["components_added"] + entry["connections_added"])
    assert all(" -> " in arrow for arrow in entry["connections_added"])

    assert invoke(config, sample_emu, "sync").exit_code == 0
    assert sorted(p.name for p in (out / "reports").iterdir()) == ["changes-1.json", "changes-1.txt", "runs.log"]
    assert "0 published, 1 unchanged" in (out / "reports" / "runs.log").read_text().splitlines()[-1]


# -- 12. the smaller ones --------------------------------------------------------------------------------

def test_servers_shows_fqdn_pack_and_both_times_and_creates_no_state(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path, servers=["WEB01", "web01.contoso.com", "sql01"])
    state_db = tmp_path / "out" / "state.db"
    before = invoke(config, None, "servers")
    assert before.exit_code == 0 and "never synced" in before.stdout and not state_db.exists()

    assert invoke(config, sample_emu, "sync").exit_code == 0
    listed = invoke(config, None, "servers")
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["SERVER", "FQDN", "SOURCE", "MP", "ID", "VERSION", "LAST", "SUCCESS", "LAST",
                              "ATTEMPT", "STATUS"]
    web = [r for r in rows if r.startswith("web01.contoso.com ")]
    assert len(web) == 1 and "ServiceMapSync.web01.contoso.com" in web[0] and "servicemap" in web[0]
    assert "web01.contoso.com: also listed as WEB01" in listed.stdout
    assert str(tmp_path / "out" / "ServiceMapSync.sql01.contoso.com.xml") in listed.stdout


def test_without_a_terminal_each_server_is_printed_once(sample_emu, tmp_path) -> None:
    run = invoke(config_file(sample_emu, tmp_path), sample_emu, "sync")
    assert run.exit_code == 0
    for server in sample_emu.scenario.servers_group:
        name = drawn_name(sample_emu.scenario, server)
        assert run.output.count(f"ServiceMapSync.{name}.xml") == 1, name


def test_a_global_option_after_the_command_gets_a_hint(sample_emu, tmp_path) -> None:
    from click.testing import CliRunner

    run = CliRunner().invoke(cli, ["sync", "--config", str(config_file(sample_emu, tmp_path))])
    assert run.exit_code == 2 and "--config is a global option: put it before the command" in run.output


# -- names that clean to one management-pack ID (issue 13, item 3) ---------------------------------

def test_two_names_that_clean_to_one_id_both_publish_with_ids_that_never_move(sample_emu, tmp_path) -> None:
    import copy

    machines = copy.deepcopy(list(sample_emu.scenario.machines.values()))
    renamed = {"sql01.contoso.com": "db-01.contoso.com", "pg01.contoso.com": "db_01.contoso.com"}
    for machine in machines:
        fqdn = machine["properties"].get("fullyQualifiedDomainName")
        if fqdn in renamed:
            machine["properties"]["fullyQualifiedDomainName"] = renamed[fqdn]
    sample_emu.set_machines(machines)
    config = config_file(sample_emu, tmp_path, servers=["db_01.contoso.com", "db-01.contoso.com"])
    out = tmp_path / "out"

    first = invoke(config, sample_emu, "sync")
    assert first.exit_code == 0, first.output
    names = xml_names(out)
    assert len(names) == 2 and "ServiceMapSync.db_01.contoso.com.xml" in names
    (suffixed,) = [n for n in names if n != "ServiceMapSync.db_01.contoso.com.xml"]
    assert suffixed.startswith("ServiceMapSync.db_01.contoso.com_") and all(validate_file(out / n) == [] for n in names)

    config_file(sample_emu, tmp_path, servers=["db-01.contoso.com", "db_01.contoso.com"])  # reordered
    again = invoke(config, sample_emu, "sync", "--force")
    assert again.exit_code == 0 and xml_names(out) == names
    assert "carries a suffix" in invoke(config, None, "servers").stdout


def test_a_machine_without_fqdn_is_found_by_netbios_name_and_servers_warns(sample_emu, tmp_path) -> None:
    """Issue 13, item 4: the box uses NetbiosComputerName, and servers says what SCOM cannot do."""
    import copy

    from scenario_lookup import machine_named

    sql = machine_named(sample_emu.scenario, "sql01")
    machines = copy.deepcopy(list(sample_emu.scenario.machines.values()))
    for machine in machines:
        if machine["name"] == sql:  # no FQDN and no DNS name: the domain is not known either
            machine["properties"].update(fullyQualifiedDomainName=None, networking={"dnsNames": []})
    sample_emu.set_machines(machines)
    served = copy.deepcopy(sample_emu.scenario.maps[sql])
    for node in served["nodes"]["machines"]:
        if node["name"] == sql:
            node["properties"].update(fullyQualifiedDomainName=None, networking={"dnsNames": []})
    sample_emu.set_map(sql, served)
    config = config_file(sample_emu, tmp_path, servers=["SQL01"])
    assert invoke(config, sample_emu, "sync").exit_code == 0
    (pack,) = (tmp_path / "out").glob("*.xml")
    assert validate_file(pack) == [] and "NetbiosComputerName" in pack.read_text()
    listed = invoke(config, None, "servers").stdout
    assert "warning:" in listed and "SQL01" in listed

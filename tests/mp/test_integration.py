"""The integration management pack: valid, deterministic, values where they belong and escaped,
and its PowerShell status script consistent with the monitors (run under pwsh where installed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from servicemap_sync.errors import RenderError
from servicemap_sync.mp.integration import PROPERTIES, SCRIPT_NAME, integration_mp_id, render_integration_pack
from servicemap_sync.mp.validate import check_upgrade, validate_bytes

PREFIX = "ServiceMapSync"
MP = f"{PREFIX}.Integration"
HOST = "sync01.contoso.com"
SHARE = r"\\files01\servicemap-sync\out\status.json"
PWSH = shutil.which("pwsh")


def render(**changes) -> bytes:
    args = {"mp_id_prefix": PREFIX, "host": HOST, "status_path": SHARE, "interval_seconds": 3600,
            "version": "1.0.0.0"} | changes
    return render_integration_pack(**args)


def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))


def script_of(root: etree._Element) -> str:
    bodies = root.xpath("//ProbeAction[ScriptName=$name]/ScriptBody/text()", name=SCRIPT_NAME)
    assert len(bodies) == 1
    return bodies[0]


def monitors(root: etree._Element) -> dict[str, etree._Element]:
    return {m.get("ID").rsplit(".", 2)[-2]: m for m in root.iterfind("Monitoring/Monitors/UnitMonitor")}


# --- the pack ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("scom_version", [None, "2019", "2025"])
def test_validates_with_house_rules(scom_version):
    xml = render(scom_version=scom_version)
    assert validate_bytes(xml, filename=f"{MP}.xml", house_rules=True, scom_version=scom_version) == []
    assert xml.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n')
    root = parse(xml)
    assert root.findtext("Manifest/Identity/ID") == MP == integration_mp_id(PREFIX)
    assert root.findtext("Manifest/Identity/Version") == "1.0.0.0"


def test_lowest_references_by_default():
    root = parse(render())
    refs = {r.findtext("ID"): r.findtext("Version") for r in root.iterfind("Manifest/References/Reference")}
    assert refs == {"System.Library": "7.5.8501.0", "Microsoft.Windows.Library": "7.5.8501.0",
                    "System.Health.Library": "7.0.8433.0"}


def test_deterministic():
    """The same arguments give the same bytes in another interpreter, with another hash seed."""
    import os
    import sys

    args = {"mp_id_prefix": PREFIX, "host": HOST, "status_path": SHARE, "interval_seconds": 3600, "version": "1.0.0.0"}
    code = ("import sys; from servicemap_sync.mp import render_integration_pack as r; "
            f"sys.stdout.buffer.write(r(**{args!r}))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "4242"}).stdout
    assert other == render()
    assert render(host="other.contoso.com") != render()


def test_an_upgrade_of_itself():
    old, new = parse(render(version="1.0.0.1")), parse(render(version="1.0.0.2", host="sync02.contoso.com",
                                                             interval_seconds=900))
    assert check_upgrade(old, new) == []


def test_host_class_and_discovery():
    root = parse(render(host="Sync01.Contoso.com"))
    host_class = root.find(f"TypeDefinitions/EntityTypes/ClassTypes/ClassType[@ID='{MP}.Host']")
    assert host_class.get("Base") == "Windows!Microsoft.Windows.LocalApplication"
    assert (host_class.get("Hosted"), host_class.get("Singleton"), host_class.get("Abstract")) == ("true", "false", "false")
    discovery = root.find(f"Monitoring/Discoveries/Discovery[@ID='{MP}.Host.Discovery']")
    assert discovery.get("Target") == "Windows!Microsoft.Windows.Computer"
    assert discovery.find("DiscoveryTypes/DiscoveryClass").get("TypeID") == f"{MP}.Host"
    assert discovery.findtext("DataSource/ComputerName") == \
        '$Target/Property[Type="Windows!Microsoft.Windows.Computer"]/PrincipalName$'
    pattern = discovery.findtext("DataSource/HostPattern")
    assert pattern == r"^(?i:Sync01\.Contoso\.com)$"
    # the .NET pattern means the same in Python's re for these constructs: the host, any case, nothing else
    assert re.fullmatch(pattern, "sync01.contoso.com") and re.fullmatch(pattern, "SYNC01.CONTOSO.COM")
    assert not re.fullmatch(pattern, "sync01xcontoso.com") and not re.fullmatch(pattern, "sync01.contoso.com.evil")


def test_status_path_and_interval_in_both_monitors():
    root = parse(render(interval_seconds=900))
    found = monitors(root)
    assert set(found) == {"LastRun", "Servers"}
    for monitor in found.values():
        assert monitor.get("Target") == f"{MP}.Host"
        assert monitor.findtext("Configuration/StatusPath") == SHARE
        assert monitor.findtext("Configuration/SyncIntervalSeconds") == "900"
    # one data source configuration for both: SCOM runs the script once per interval (cookdown)
    config = [tuple((c.tag, c.text) for c in m.find("Configuration") if c.tag != "PropertyName") for m in found.values()]
    assert config[0] == config[1]
    assert root.xpath("//ProbeAction/Parameters/Parameter/Value/text()") == \
        ["$Config/StatusPath$", "$Config/SyncIntervalSeconds$"]


def test_alert_severities():
    found = monitors(parse(render()))
    last_run, servers = found["LastRun"], found["Servers"]
    assert last_run.findtext("AlertSettings/AlertSeverity") == "Error"
    assert {s.get("MonitorTypeStateID"): s.get("HealthState") for s in last_run.iter("OperationalState")} == \
        {"Good": "Success", "Bad": "Error"}
    assert servers.findtext("AlertSettings/AlertSeverity") == "Warning"
    assert {s.get("MonitorTypeStateID"): s.get("HealthState") for s in servers.iter("OperationalState")} == \
        {"Good": "Success", "Bad": "Warning"}


@pytest.mark.parametrize("host, path", [
    ('web<01>&"x\'.contoso.com', r"\\files01\share & <co>\status.json"),
    ("]]>.contoso.com", "D:\\out]]>\\status.json"),
    ("Ünïcode.contoso.com", "C:\\sync\\ステータス.json"),
])
def test_markup_in_host_and_path_is_escaped(host, path):
    xml = render(host=host, status_path=path)
    assert validate_bytes(xml, filename=f"{MP}.xml") == []
    root = parse(xml)
    for monitor in monitors(root).values():
        assert monitor.findtext("Configuration/StatusPath") == path
    assert host in root.find(f"LanguagePacks/LanguagePack/DisplayStrings/DisplayString[@ElementID='{MP}']").findtext(
        "Description")
    pattern = root.findtext("Monitoring/Discoveries/Discovery/DataSource/HostPattern")
    assert re.fullmatch(pattern, host.upper())
    # nothing the caller gave became markup: no new elements, the script is untouched
    assert len(list(root.iter())) == len(list(parse(render()).iter()))
    assert script_of(root) == script_of(parse(render()))


@pytest.mark.parametrize("changes, message", [
    ({"mp_id_prefix": "Service-Map"}, "mp_id_prefix"),
    ({"host": " "}, "host"),
    ({"status_path": ""}, "status_path"),
    ({"status_path": "a\nb"}, "control character"),
    ({"interval_seconds": 0}, "interval_seconds"),
    ({"interval_seconds": True}, "interval_seconds"),
    ({"version": "1.0"}, "version"),
    ({"scom_version": "2007"}, "2007"),
])
def test_bad_arguments(changes, message):
    with pytest.raises(RenderError, match=message):
        render(**changes)


# --- the script and the monitors cannot drift apart -------------------------------------------------


def test_script_sets_every_property_the_monitors_and_alerts_read():
    root = parse(render())
    script = script_of(root)
    set_in_script = set(re.findall(r"\$bag\.AddValue\('([A-Za-z]+)'", script))
    assert set_in_script == set(PROPERTIES)
    read = {m.findtext("Configuration/PropertyName") for m in monitors(root).values()}
    read |= {re.fullmatch(r"\$Data/Context/Property\[@Name='([A-Za-z]+)'\]\$", p.text).group(1)
             for p in root.iterfind("Monitoring/Monitors/UnitMonitor/AlertSettings/AlertParameters/*")}
    assert read <= set_in_script
    # the values the monitor type's filters compare with are the values the script sets
    compared = set(root.xpath("//UnitMonitorType//ConditionDetection//Value/text()"))
    assert compared == {"Good", "Bad"}
    for state in compared:
        assert f"'{state}'" in script
    # the parameters the probe passes are the script's own
    passed = root.xpath("//ProbeAction/Parameters/Parameter/Name/text()")
    declared = re.search(r"param\(([^)]*)\)", script).group(1)
    assert re.findall(r"\$([A-Za-z]+)", declared) == passed


def test_script_is_small_and_returns_the_bag():
    script = script_of(parse(render()))
    assert len(script.strip().splitlines()) <= 50
    assert "New-Object -ComObject 'MOM.ScriptAPI'" in script and script.rstrip().endswith("$bag")


# --- the script under pwsh --------------------------------------------------------------------------

#: MOM.ScriptAPI stands in as a function shadowing New-Object (functions win over cmdlets);
#: the bag's values are printed as JSON.
_HARNESS = r"""
param([string]$Script, [string]$StatusPath, [int]$SyncIntervalSeconds)
function New-Object {
    param([string]$ComObject)
    $api = [pscustomobject]@{}
    $api | Add-Member ScriptMethod CreatePropertyBag {
        $bag = [pscustomobject]@{ Values = [ordered]@{} }
        $bag | Add-Member ScriptMethod AddValue { param($Name, $Value) $this.Values[$Name] = $Value }
        $bag
    }
    $api
}
$out = & $Script -StatusPath $StatusPath -SyncIntervalSeconds $SyncIntervalSeconds
$out.Values | ConvertTo-Json -Compress
"""


def _stamp(delta: timedelta) -> str:
    return (datetime.now(timezone.utc) - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(finished: str | None, servers: list[dict]) -> dict:
    return {"last_run": {"id": 7, "command": "run", "started_at": finished, "finished_at": finished,
                         "exit_code": 1 if any(s["status"] == "failed" for s in servers) else 0},
            "interval_seconds": 3600, "servers": servers}


def _server(name: str, status: str = "ok", reason: str | None = None) -> dict:
    return {"server": name, "status": status, "reason": reason, "last_success": None, "last_attempt": None,
            "mp_id": f"{PREFIX}.{name}", "version": "1.0.0.1", "source": "servicemap"}


def _health(root: etree._Element, bag: dict) -> str:
    """What SCOM would show: each monitor's state from its PropertyName and OperationalStates, the worst."""
    rank = {"Success": 0, "Warning": 1, "Error": 2}
    worst = "Success"
    for monitor in monitors(root).values():
        value = bag.get(monitor.findtext("Configuration/PropertyName"))
        for state in monitor.iter("OperationalState"):
            if state.get("MonitorTypeStateID") == value and rank[state.get("HealthState")] > rank[worst]:
                worst = state.get("HealthState")
    return {"Success": "Healthy", "Warning": "Warning", "Error": "Critical"}[worst]


CASES = {
    "all ok": (_status(_stamp(timedelta(minutes=5)), [_server("web01.contoso.com"), _server("sql01.contoso.com"),
                                                       _server("new01", "never synced"), _server("old01", "removed")]),
               "Healthy", []),
    "a failed server": (_status(_stamp(timedelta(minutes=5)),
                                [_server("web01.contoso.com"),
                                 _server("sql01.contoso.com", "failed", "map request timed out after 300 s")]),
                        "Warning", ["sql01.contoso.com: map request timed out after 300 s"]),
    "stale": (_status(_stamp(timedelta(hours=3)), [_server("web01.contoso.com")]), "Critical",
              ["no run has finished for two intervals"]),
    "never finished": (_status(None, []), "Critical", ["no run of servicemap-sync has finished"]),
    "unreadable": (None, "Critical", ["cannot read the status file"]),
}


@pytest.mark.skipif(PWSH is None, reason="pwsh (PowerShell 7) is not installed: the status script is not run here; "
                                         "its property names are still checked against the monitors")
@pytest.mark.parametrize("case", sorted(CASES))
def test_script_under_pwsh(case, tmp_path: Path):
    document, expected, texts = CASES[case]
    root = parse(render())
    script = tmp_path / SCRIPT_NAME
    script.write_text(script_of(root), encoding="utf-8")
    harness = tmp_path / "harness.ps1"
    harness.write_text(_HARNESS, encoding="utf-8")
    status = tmp_path / "status.json"
    if document is not None:
        status.write_text(json.dumps(document, indent=2), encoding="utf-8")
    done = subprocess.run([PWSH, "-NoProfile", "-NonInteractive", "-File", str(harness), "-Script", str(script),
                           "-StatusPath", str(status), "-SyncIntervalSeconds", "3600"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    bag = json.loads(done.stdout)
    assert set(bag) == set(PROPERTIES)
    assert _health(root, bag) == expected
    alert = bag["RunDetail"] if expected == "Critical" else bag["FailedServers"]
    for text in texts:
        assert text in alert
    if case == "unreadable":
        assert str(status) in bag["RunDetail"] and bag["ServersState"] == "Unknown"
    if case == "a failed server":
        assert bag["FailedCount"] == 1 and "web01" not in bag["FailedServers"]


@pytest.mark.parametrize("old, new, rule", [
    (b"<Category>AvailabilityHealth</Category>", b"<Categori>AvailabilityHealth</Categori>", "unknown-element"),
    (b"<Category>AvailabilityHealth</Category>", b"", "missing-element"),
    (b"<OperationalStates>", b"<Category>Custom</Category><OperationalStates>", "order"),
    (b' ParentMonitorID="Health!System.Health.AvailabilityState"', b"", "required-attr"),
])
def test_validator_checks_the_unit_monitors(old, new, rule):
    xml = render()
    assert old in xml
    rules = {p.rule for p in validate_bytes(xml.replace(old, new, 1), filename=f"{MP}.xml")}
    assert rule in rules, rules

"""Several workspaces in one configuration, through the real CLI against two emulators.

Each emulator is one workspace with its own tenant, service principal, endpoints and CA; the
configuration lists both as ``[[azure.workspaces]]`` with a credential each, and the CA bundle
holds both CAs (what a site with two clouds or tenants does).
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from cli_harness import invoke, toml_value
from scenario_lookup import drawn_name

from servicemap_sync.emulator import Emulator, synthetic_scenario
from servicemap_sync.mp.validate import validate_file


@pytest.fixture
def second_emu():
    with Emulator(synthetic_scenario(servers=3, connections_per_server=5, seed=3)) as emu:
        yield emu


def workspace_entry(emu, secret_file: Path) -> str:
    values = {"subscription_id": emu.subscription_id, "resource_group": emu.resource_group,
              "workspace_name": emu.workspace_name, "tenant_id": emu.tenant_id, "client_id": emu.client_id,
              "authority_host": emu.url, "resource_manager_url": emu.url, "client_secret_file": str(secret_file)}
    return "[[azure.workspaces]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items())


def two_workspace_config(tmp_path: Path, first, second, servers: list[str]) -> tuple[Path, dict[str, str]]:
    entries = []
    for number, emu in enumerate((first, second), 1):
        secret = tmp_path / f"secret-{number}"
        secret.write_text(emu.client_secret, encoding="utf-8")
        entries.append(workspace_entry(emu, secret))
    config = tmp_path / "servicemap-sync.toml"
    config.write_text("[azure]\n\n" + "\n".join(entries) + f"\n[sync]\nservers = {toml_value(servers)}\n"
                      f'\n[output]\ndirectory = "out"\nstate_path = "out/state.db"\n', encoding="utf-8")
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_bytes(first.ca_path.read_bytes() + second.ca_path.read_bytes())
    return config, {"REQUESTS_CA_BUNDLE": str(bundle)}


def test_every_server_of_both_workspaces_is_published(sample_emu, second_emu, tmp_path) -> None:
    servers = [*sample_emu.scenario.servers_group, *second_emu.scenario.servers_group]
    config, env = two_workspace_config(tmp_path, sample_emu, second_emu, servers)

    run = invoke(config, None, "sync", env=env)

    assert run.exit_code == 0, run.output
    expected = {f"ServiceMapSync.{drawn_name(sample_emu.scenario, s)}.xml" for s in sample_emu.scenario.servers_group}
    expected |= {f"ServiceMapSync.{s}.xml" for s in second_emu.scenario.servers_group}
    published = {p.name for p in (tmp_path / "out").glob("*.xml")}
    assert published == expected and all(validate_file(tmp_path / "out" / n) == [] for n in published)
    assert any(r.operation == "generateMap" for r in sample_emu.requests)
    assert any(r.operation == "generateMap" for r in second_emu.requests)


def test_a_name_both_workspaces_know_is_ambiguous_and_names_both(sample_emu, second_emu, tmp_path) -> None:
    machines = copy.deepcopy(list(second_emu.scenario.machines.values()))
    machines[0]["properties"]["fullyQualifiedDomainName"] = "web01.contoso.com"
    second_emu.set_machines(machines)
    config, env = two_workspace_config(tmp_path, sample_emu, second_emu, ["web01.contoso.com", "sql01"])

    run = invoke(config, None, "sync", env=env)

    assert run.exit_code == 1, run.output
    reason = run.failures()["web01.contoso.com"]
    assert f"in workspace {sample_emu.workspace_name}" in reason and f"in workspace {second_emu.workspace_name}" in reason
    assert [p.name for p in (tmp_path / "out").glob("*.xml")] == ["ServiceMapSync.sql01.contoso.com.xml"]

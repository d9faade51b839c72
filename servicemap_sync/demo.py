"""The demo and the stand-alone emulator: the product end to end with no Azure account.

``demo`` starts the emulator in this process, signs in to it with the real azure-identity
credential over HTTPS, and runs a real sync of the bundled sample estate. ``emulator`` serves
the same endpoints for as long as you like and writes a ready-to-use configuration, so you can
point the other commands at it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from .config import Settings, settings_from_dict
from .service import Progress, RunSummary, SyncService


def emulator_settings_dict(emu, *, output: Path, servers: list[str]) -> dict:
    """A configuration (as parsed TOML) that points every endpoint at ``emu``."""
    return {
        "azure": {
            "tenant_id": emu.tenant_id, "client_id": emu.client_id, "subscription_id": emu.subscription_id,
            "resource_group": emu.resource_group, "workspace_name": emu.workspace_name,
            "authority_host": emu.url, "resource_manager_url": emu.url,
        },
        "sync": {"servers": servers},
        "output": {"directory": str(output), "state_path": str(output / "state.db")},
    }


def emulator_settings(emu, *, output: Path, servers: list[str], sync: dict | None = None) -> Settings:
    """Settings for a run against ``emu``: its CA is trusted and its secret used, without touching os.environ."""
    raw = emulator_settings_dict(emu, output=output, servers=servers)
    raw["sync"].update(sync or {})
    env = {"AZURE_CLIENT_SECRET": emu.client_secret, "REQUESTS_CA_BUNDLE": str(emu.ca_path)}
    return settings_from_dict(raw, base=output.parent, env=env, flags={})


def run_demo(out: Path, *, progress: Progress | None = None) -> RunSummary:
    """Sync the bundled sample estate through an in-process emulator into ``out``."""
    from .emulator import Emulator, load_scenario

    scenario = load_scenario()
    out = out.resolve()
    with Emulator(scenario) as emu:
        settings = emulator_settings(emu, output=out, servers=list(scenario.servers_group))
        return SyncService(settings).sync(progress=progress)


def serve_emulator(data: Path | None, *, port: int, state_dir: Path, echo: Callable[[str], None]) -> None:
    """Serve the emulator until interrupted, after writing a configuration and secret file for it."""
    from .emulator import load_scenario, serve_forever

    scenario = load_scenario(data) if data else load_scenario()
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)

    def ready(emu) -> None:
        secret_file = state_dir / "client-secret.txt"
        secret_file.write_text(emu.client_secret, encoding="utf-8")
        os.chmod(secret_file, stat.S_IRUSR | stat.S_IWUSR)
        config = state_dir / "servicemap-sync.toml"
        config.write_text(_toml(emu, scenario, secret_file), encoding="utf-8")
        echo(f"emulator listening on {emu.url}")
        echo(f"  Entra ID authority: {emu.url}/{emu.tenant_id}")
        echo(f"  ARM / Service Map:  {emu.url}")
        echo(f"  CA bundle:          {emu.ca_path}")
        echo(f"  configuration:      {config}")
        echo(f"try: REQUESTS_CA_BUNDLE={emu.ca_path} servicemap-sync --config {config} sync")

    serve_forever(scenario, port=port, on_ready=ready, ca_dir=state_dir)


def _toml(emu, scenario, secret_file: Path) -> str:
    import json

    def q(value: str) -> str:
        return json.dumps(value)

    servers = ", ".join(q(s) for s in scenario.servers_group)
    return (
        "# Written by `servicemap-sync emulator`: points at the local emulator.\n"
        "[azure]\n"
        f"tenant_id = {q(emu.tenant_id)}\nclient_id = {q(emu.client_id)}\n"
        f"client_secret_file = {q(str(secret_file))}\n"
        f"authority_host = {q(emu.url)}\nresource_manager_url = {q(emu.url)}\n"
        f"subscription_id = {q(emu.subscription_id)}\nresource_group = {q(emu.resource_group)}\n"
        f"workspace_name = {q(emu.workspace_name)}\n\n"
        f"[sync]\nservers = [{servers}]\n\n"
        f"[output]\ndirectory = \"out\"\nstate_path = \"state.db\"\n"
    )

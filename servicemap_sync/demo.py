"""The demo and the stand-alone emulator: the product end to end with no Azure account.

``demo`` starts the emulator in this process, signs in to it with the real azure-identity
credential over HTTPS, and runs a real sync of the bundled sample estate. ``emulator`` serves
the same endpoints for as long as you like and writes a ready-to-use configuration, so you can
point the other commands at it.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from datetime import datetime, timedelta, timezone
from importlib import resources
from collections.abc import Callable
from pathlib import Path

from .config import Settings, settings_from_dict
from .errors import ConfigError
from .service import Progress, RunSummary, SyncService


def emulator_settings_dict(emu, *, output: Path, servers: list[str]) -> dict:
    """A configuration (as parsed TOML) that points every endpoint at ``emu``."""
    return {
        "azure": {
            "tenant_id": emu.tenant_id, "client_id": emu.client_id, "subscription_id": emu.subscription_id,
            "resource_group": emu.resource_group, "workspace_name": emu.workspace_name,
            "authority_host": emu.url, "resource_manager_url": emu.url, "logs_query_url": emu.logs_query_url,
        },
        "sync": {"servers": servers},
        "output": {"directory": str(output), "state_path": str(output / "state.db")},
    }


def emulator_settings(emu, *, output: Path, servers: list[str], sync: dict | None = None,
                      source: dict | None = None, diagram: dict | None = None) -> Settings:
    """Settings for a run against ``emu``: its CA is trusted and its secret used, without touching os.environ."""
    raw = emulator_settings_dict(emu, output=output, servers=servers)
    raw["sync"].update(sync or {})
    if source:
        raw["source"] = dict(source)
    if diagram:
        raw["diagram"] = dict(diagram)
    env = {"AZURE_CLIENT_SECRET": emu.client_secret, "REQUESTS_CA_BUNDLE": str(emu.ca_path)}
    return settings_from_dict(raw, base=output.parent, env=env, flags={})


def run_demo(out: Path, *, progress: Progress | None = None, log_servers: bool = True,
             source: str = "servicemap") -> RunSummary:
    """Sync the bundled sample estate through an in-process emulator into ``out``, reading maps
    from ``source``: the Service Map API or the Log Analytics tables the emulator serves, or the
    sample snapshot files (written for the last few minutes, so they fall in the window). The
    noise rules of ``samples/rules.toml`` shape the diagrams."""
    from .emulator import Emulator, load_scenario
    from .emulator.snapshots import write_snapshots

    scenario = load_scenario()
    out = out.resolve()
    with Emulator(scenario) as emu, tempfile.TemporaryDirectory(prefix="servicemap-sync-snapshots-") as snapshots, \
            resources.as_file(resources.files("servicemap_sync.samples") / "rules.toml") as rules:
        extra: dict[str, object] = {"kind": source}
        if source == "netstat":
            write_snapshots(snapshots, datetime.now(timezone.utc) - timedelta(minutes=10))
            extra.update(snapshot_dir=snapshots, hosts_file=str(Path(snapshots) / "hosts"))
        settings = emulator_settings(emu, output=out, servers=list(scenario.servers_group), source=extra,
                                     diagram={"rules_file": str(rules)})
        return SyncService(settings, log_servers=log_servers).sync(progress=progress)


def parse_fault(spec: str):
    """A :class:`~servicemap_sync.emulator.Fault` from ``KIND[,key=value...]`` (the ``--fault`` option).

    Raises:
        ConfigError: naming the option value and what is allowed.
    """
    from dataclasses import fields

    from .emulator import Fault

    kind, *pairs = [p.strip() for p in spec.split(",")]
    types = {f.name: f.type for f in fields(Fault)}
    values: dict[str, object] = {"kind": kind}
    try:
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or key not in types or key == "kind":
                raise ValueError(f"{pair!r} is not key=value with a key among {', '.join(sorted(set(types) - {'kind'}))}")
            number = "int" in str(types[key]) or "float" in str(types[key])
            values[key] = (float(value) if "." in value else int(value)) if number else value
        return Fault(**values)
    except ValueError as exc:
        raise ConfigError(f"--fault {spec!r}: {exc}") from None


def serve_emulator(data: Path | None, *, port: int, state_dir: Path, echo: Callable[[str], None],
                   latency: float = 0.0, faults: tuple[str, ...] = ()) -> None:
    """Serve the emulator until interrupted, after writing a configuration and secret file for it.

    Raises:
        ConfigError: the data folder is not a scenario, a fault is malformed, or the port cannot be used.
    """
    from .emulator import load_scenario, serve_forever

    injected = [parse_fault(spec) for spec in faults]
    try:
        scenario = load_scenario(data) if data else load_scenario()
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(f"--data {data}: not a scenario folder ({exc}); give a folder holding scenario.json, "
                          f"machines/ and maps/, or leave --data out for the bundled sample estate") from None
    state_dir = state_dir.resolve()
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--state-dir {state_dir} cannot be created: {exc.strerror}") from None

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
        for fault in injected:
            emu.add_fault(fault)
            echo(f"  injecting: {fault}")

    try:
        serve_forever(scenario, port=port, on_ready=ready, ca_dir=state_dir, latency=latency)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"--port {port} is in use by another program: choose another port, or --port 0 for "
                              f"any free one") from None
        raise ConfigError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None


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
        f"logs_query_url = {q(emu.logs_query_url)}\n"
        f"subscription_id = {q(emu.subscription_id)}\nresource_group = {q(emu.resource_group)}\n"
        f"workspace_name = {q(emu.workspace_name)}\n\n"
        f"[sync]\nservers = [{servers}]\n\n"
        f"[output]\ndirectory = \"out\"\nstate_path = \"state.db\"\n"
    )

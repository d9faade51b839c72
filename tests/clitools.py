"""Running the real CLI against an emulator: a config file on disk and the env it needs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from servicemap_sync.cli import cli
from servicemap_sync.demo import emulator_settings_dict


def write_config(emu, directory: Path, *, servers: list[str] | None = None, **sync: object) -> Path:
    """A TOML configuration for ``emu`` in ``directory`` (output in ``directory/out``)."""
    raw = emulator_settings_dict(emu, output=directory / "out",
                                 servers=list(servers if servers is not None else emu.scenario.servers_group))
    raw["sync"].update(sync)
    lines = []
    for section, values in raw.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path = directory / "servicemap-sync.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cli_env(emu) -> dict[str, str]:
    """What a user exports: the secret and the CA that TLS must trust."""
    return {"AZURE_CLIENT_SECRET": emu.client_secret, "REQUESTS_CA_BUNDLE": str(emu.ca_path)}


def invoke(config: Path, *args: str, env: dict[str, str]) -> Result:
    """The click command in this process (the emulator runs in a thread of it)."""
    return CliRunner().invoke(cli, ["--config", str(config), *args], env=env, catch_exceptions=False)


def subprocess_env(emu) -> dict[str, str]:
    """The environment for ``python -m servicemap_sync`` in a child process."""
    return {**os.environ, **cli_env(emu), "PYTHONUNBUFFERED": "1"}


PYTHON_CLI = [sys.executable, "-m", "servicemap_sync"]

"""Run the real ``servicemap-sync`` click CLI in-process against an emulator, for end-to-end tests.

The CLI is driven exactly as a user would (a TOML file, ``--config``, the secret in
``AZURE_CLIENT_SECRET``, the emulator's CA in ``REQUESTS_CA_BUNDLE``), but in this process so a
test can inject faults into the emulator and, where an OS failure cannot be produced for real,
patch the OS call at the edge. ``configure_logging`` (called by every CLI invocation) replaces
the root logger's handlers with one bound to the captured stderr; :func:`invoke` puts the
previous logging set-up back afterwards, so later tests do not log into a closed stream.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from servicemap_sync.cli import cli
from servicemap_sync.demo import emulator_settings_dict

_FAILED_LINE = re.compile(r"^  FAILED (?P<server>.+?): (?P<reason>.*)$")
_LOGGERS = ("", "servicemap_sync", "azure", "msal", "urllib3")


@dataclass(frozen=True)
class CliRun:
    """What one invocation printed and returned."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def failures(self) -> dict[str, str]:
        """``server -> reason`` from the summary's ``FAILED`` lines."""
        found = {}
        for line in self.stdout.splitlines():
            match = _FAILED_LINE.match(line)
            if match:
                found[match["server"]] = match["reason"]
        return found


def toml_value(value: object) -> str:
    """A TOML literal for the few value types a configuration holds.

    JSON string syntax (with non-ASCII left as is) is valid TOML basic-string syntax for
    everything a test configuration contains; ``ensure_ascii`` would emit surrogate-pair
    escapes that TOML refuses.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def write_config(path: Path, emu, *, output: Path, servers: Sequence[str],
                 sync: Mapping[str, object] | None = None, state_path: Path | None = None) -> Path:
    """Write a configuration that points at ``emu`` (no secret in it: that comes from the environment)."""
    raw = emulator_settings_dict(emu, output=output, servers=list(servers))
    raw["sync"].update(sync or {})
    if state_path is not None:
        raw["output"]["state_path"] = str(state_path)
    lines = []
    for section, values in raw.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in values.items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def config_file(emu, directory: Path, *, servers: Sequence[str] | None = None, **sync: object) -> Path:
    """:func:`write_config` as most tests want it: ``directory/servicemap-sync.toml``, output in
    ``directory/out``, the scenario's Servers Group unless ``servers`` is given."""
    return write_config(directory / "servicemap-sync.toml", emu, output=directory / "out",
                        servers=servers if servers is not None else emu.scenario.servers_group, sync=sync)


def cli_env(emu) -> dict[str, str]:
    """What a user exports: the secret and the CA that TLS must trust (nothing without an emulator)."""
    return {} if emu is None else {"AZURE_CLIENT_SECRET": emu.client_secret, "REQUESTS_CA_BUNDLE": str(emu.ca_path)}


def subprocess_env(emu) -> dict[str, str]:
    """The environment for ``python -m servicemap_sync`` in a child process."""
    return {**os.environ, **cli_env(emu), "PYTHONUNBUFFERED": "1"}


PYTHON_CLI = [sys.executable, "-m", "servicemap_sync"]


def invoke(config: Path, emu, *args: str, global_args: Sequence[str] = (),
           env: Mapping[str, str] | None = None) -> CliRun:
    """``servicemap-sync [global_args] --config CONFIG args…`` with the emulator's secret and CA
    (``emu`` None: neither), ``env`` added over them."""
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level) for name in _LOGGERS}
    env = {**cli_env(emu), "SERVICEMAP_SYNC_CONFIG": None, **(env or {})}
    try:
        result = CliRunner().invoke(cli, [*global_args, "--config", str(config), *args], env=env,
                                    catch_exceptions=False)
    finally:
        for name, (handlers, level) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.setLevel(level)
    return CliRun(result.exit_code, result.stdout, result.stderr)

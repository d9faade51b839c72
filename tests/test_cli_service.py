"""The service side through real processes: SIGKILL mid-write, the run lock, and SIGTERM on `run`."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_harness import PYTHON_CLI, config_file, invoke, subprocess_env

from servicemap_sync.emulator import Emulator, synthetic_scenario
from servicemap_sync.mp.validate import validate_file
from servicemap_sync.publish import run_lock

WAIT = 60.0

#: Runs the real CLI, but the process SIGKILLs itself half-way through its first write of a
#: management pack's temporary file: a crash at the worst moment, at the OS edge, every time.
KILL_MID_WRITE = """
import os, signal, sys
real_write = os.write
def write(fd, data):
    target = os.readlink(f"/proc/self/fd/{fd}")
    if target.endswith(".tmp") and len(data) > 1:
        real_write(fd, bytes(data)[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    return real_write(fd, data)
os.write = write
sys.argv[0] = "servicemap-sync"
from servicemap_sync.cli import main
main()
"""  # upper bound for a child to reach a state; the tests end as soon as it does


def wait_for(condition, what: str) -> None:
    """Poll ``condition`` until it holds; fail (not hang) after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


@pytest.fixture(scope="module")
def big_emu():
    """A synthetic estate with maps large enough to be written in more than one piece."""
    with Emulator(synthetic_scenario(servers=6, connections_per_server=200, seed=7)) as emu:
        yield emu


def test_sigkill_while_writing_leaves_complete_valid_previous_versions(big_emu, tmp_path) -> None:
    config, out = config_file(big_emu, tmp_path, concurrency=2), tmp_path / "out"
    first = invoke(config, big_emu, "sync")
    assert first.exit_code == 0, first.output
    good = {p.name: p.read_bytes() for p in out.glob("*.xml")}
    assert len(good) == 6

    child = subprocess.run([sys.executable, "-c", KILL_MID_WRITE, "--config", str(config), "-q", "sync", "--force"],
                           env=subprocess_env(big_emu), capture_output=True, timeout=WAIT)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert any(out.glob(".*.tmp")), "the kill must land while a management pack was being written"

    assert {p.name: p.read_bytes() for p in out.glob("*.xml")} == good
    assert all(validate_file(path) == [] for path in out.glob("*.xml"))

    again = invoke(config, big_emu, "sync")  # the next run cleans up and carries on
    assert again.exit_code == 0, again.output
    assert not list(out.glob(".*.tmp"))


def test_a_second_concurrent_sync_exits_2_naming_the_lock(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path)
    state = tmp_path / "out" / "state.db"
    state.parent.mkdir(parents=True)
    with run_lock(state, command="sync"):
        result = invoke(config, sample_emu, "sync")
    assert result.exit_code == 2
    assert f"{state}.lock" in result.output and "sync" in result.output
    assert not [r for r in sample_emu.requests if r.operation == "generateMap"]


def test_run_syncs_then_exits_0_on_sigterm(sample_emu, tmp_path) -> None:
    config, out = config_file(sample_emu, tmp_path, interval_seconds=3600), tmp_path / "out"
    child = subprocess.Popen([*PYTHON_CLI, "--config", str(config), "run"], env=subprocess_env(sample_emu),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: (out / "reports" / "changes-1.txt").exists() or child.poll() is not None, "the first cycle")
        child.send_signal(signal.SIGTERM)
        output, _ = child.communicate(timeout=WAIT)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, output
    assert "9 synced" in output
    assert "next cycle at" in output and "(in 3600 s)" in output  # the service says when it runs again
    assert len(list(out.glob("*.xml"))) == 9


def test_run_skips_cycles_while_disabled(sample_emu, tmp_path) -> None:
    config = config_file(sample_emu, tmp_path, enabled=False, interval_seconds=3600)
    child = subprocess.Popen([*PYTHON_CLI, "--config", str(config), "run"], env=subprocess_env(sample_emu),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines: list[str] = []
        wait_for(lambda: lines.append(child.stdout.readline()) or "Enabled is false" in lines[-1], "the skipped cycle")
        child.send_signal(signal.SIGTERM)
        child.communicate(timeout=WAIT)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0
    assert not [r for r in sample_emu.requests if r.operation in ("token", "generateMap")]
    assert not Path(tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.xml"))

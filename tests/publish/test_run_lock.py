"""The run lock, held and contested by real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from servicemap_sync.errors import LockedError
from servicemap_sync.publish import lock_path, run_lock

# Takes the lock, says so, and holds it until its stdin closes.
HOLDER = """
import sys
from pathlib import Path
from servicemap_sync.publish import run_lock
with run_lock(Path(sys.argv[1]), command="sync"):
    print("locked", flush=True)
    sys.stdin.read()
"""

# Locks the file the way a crashed or foreign holder might: no holder note written.
SILENT_HOLDER = """
import fcntl, sys
fd = open(sys.argv[1], "a")
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def spawn():
    """Start a child Python that holds the lock; kill any still running at teardown."""
    children: list[subprocess.Popen] = []

    def start(script: str, arg: str) -> subprocess.Popen:
        child = subprocess.Popen([sys.executable, "-c", script, arg], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True)
        children.append(child)
        assert child.stdout.readline() == "locked\n"  # the child blocks until it holds the lock
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdin.close()
        child.stdout.close()


def test_the_lock_file_sits_beside_the_state_database(tmp_path):
    assert lock_path(tmp_path / "state.db") == tmp_path / "state.db.lock"


def test_a_second_process_is_refused_with_the_holder_named(tmp_path, spawn):
    state = tmp_path / "state.db"
    child = spawn(HOLDER, str(state))
    with pytest.raises(LockedError) as caught:
        with run_lock(state, command="rebuild"):
            pytest.fail("the lock was taken twice")
    message = str(caught.value)
    assert message.startswith(f"another servicemap-sync run holds {tmp_path / 'state.db.lock'}: ")
    assert f"pid {child.pid} on host {socket.gethostname()}, command 'sync', started 20" in message
    assert message.endswith("; wait for it to finish or stop it")


def test_a_sigkilled_holder_does_not_block_the_next_run(tmp_path, spawn):
    state = tmp_path / "state.db"
    child = spawn(HOLDER, str(state))
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    stale = json.loads(lock_path(state).read_text())
    assert stale["pid"] == child.pid  # the dead holder's note is still there...
    with run_lock(state, command="sync"):  # ...but the kernel released its flock
        assert json.loads(lock_path(state).read_text())["pid"] == os.getpid()


def test_a_holder_that_exits_releases_the_lock_and_clears_its_note(tmp_path, spawn):
    state = tmp_path / "state.db"
    child = spawn(HOLDER, str(state))
    child.stdin.close()
    assert child.wait() == 0
    assert lock_path(state).read_text() == ""
    with run_lock(state, command="sync"):
        pass


def test_a_holder_without_a_note_is_reported_as_unknown(tmp_path, spawn):
    state = tmp_path / "state.db"
    spawn(SILENT_HOLDER, str(lock_path(state)))
    with pytest.raises(LockedError, match="holder unknown"):
        with run_lock(state, command="sync"):
            pass


def test_the_holder_note_names_this_run(tmp_path):
    state = tmp_path / "sub" / "state.db"
    started = datetime(2024, 5, 1, 10, 0, 0, tzinfo=timezone.utc)
    with run_lock(state, command="rebuild", started=started):
        note = json.loads(lock_path(state).read_text())
    assert note == {"pid": os.getpid(), "host": socket.gethostname(), "command": "rebuild",
                    "started": "2024-05-01T10:00:00Z"}


def test_the_same_process_cannot_take_it_twice(tmp_path):
    state = tmp_path / "state.db"
    with run_lock(state, command="run"):
        with pytest.raises(LockedError, match=f"pid {os.getpid()} .* command 'run'"):
            with run_lock(state, command="sync"):
                pass


def test_an_exception_inside_releases_the_lock(tmp_path):
    state = tmp_path / "state.db"
    with pytest.raises(RuntimeError):
        with run_lock(state, command="sync"):
            raise RuntimeError("boom")
    with run_lock(state, command="sync"):
        pass

"""The atomic writer: complete files only, even when the run dies or the disk refuses.

Tests run as root, where chmod 0o555 does not stop writes, so a read-only or full folder is
simulated in two ways: with a real obstacle the kernel refuses even for root (a folder where
the target file should go, so ``rename`` fails with EISDIR after the temporary file was
written), and by making ``os.open``/``os.write``/``os.fsync``/``os.replace`` raise the errno a
read-only or full file system gives, at the exact call where the kernel would give it.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading

import pytest

from servicemap_sync.errors import PublishError
from servicemap_sync.publish import cleanup_temp_files, publish_file
from servicemap_sync.publish import writer

OLD = b"<ManagementPack>old, complete</ManagementPack>\n"


def temp_files(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def fail_on_call(real, number: int, error: int):
    """Wrap ``real`` so its ``number``-th call raises OSError(error) instead."""
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(args)
        if len(calls) == number:
            raise OSError(error, os.strerror(error))
        return real(*args, **kwargs)

    return wrapper


def test_writes_the_content_and_leaves_no_temporary_file(tmp_path):
    path = publish_file(tmp_path, "X.xml", OLD)
    assert path == tmp_path / "X.xml"
    assert path.read_bytes() == OLD
    assert publish_file(tmp_path, "X.xml", b"new").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.xml"]


def test_the_file_mode_follows_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        path = publish_file(tmp_path, "X.xml", OLD)
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("name", ["../../etc/x", "a/b", "", "..", ".", "/abs", "a\\b", "a\x00b", ".hidden.xml"])
def test_names_that_are_not_plain_are_refused(tmp_path, name):
    directory = tmp_path / "out" / "sub"
    directory.mkdir(parents=True)
    with pytest.raises(PublishError, match="refusing to publish"):
        publish_file(directory, name, OLD)
    assert list(directory.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert not (tmp_path / "etc").exists()


# Writes a big file one chunk at a time and SIGKILLs itself when the second chunk is due.
CRASHING_WRITER = """
import os, signal, sys
from pathlib import Path
from servicemap_sync.publish import writer
real_write = os.write
calls = []
def dying_write(fd, data):
    calls.append(len(data))
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return real_write(fd, data)
os.write = dying_write
writer.publish_file(Path(sys.argv[1]), "X.xml", b"n" * (4 * writer.CHUNK_SIZE))
"""


def test_a_writer_killed_mid_file_leaves_the_old_complete_file(tmp_path):
    publish_file(tmp_path, "X.xml", OLD)
    child = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(tmp_path)], capture_output=True)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert (tmp_path / "X.xml").read_bytes() == OLD
    [leftover] = temp_files(tmp_path)
    assert leftover.startswith(".X.xml.")
    assert (tmp_path / leftover).stat().st_size == writer.CHUNK_SIZE  # it died half-way
    assert cleanup_temp_files(tmp_path) == [tmp_path / leftover]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.xml"]


def test_a_reader_never_sees_a_partial_file(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "CHUNK_SIZE", 4096)  # many write calls per file
    versions = [b"a" * 65536, b"b" * 98304]
    publish_file(tmp_path, "X.xml", versions[0])
    done = threading.Event()
    seen: list[bytes] = []

    def read_until_done() -> None:
        while not done.is_set():
            seen.append((tmp_path / "X.xml").read_bytes())

    reader = threading.Thread(target=read_until_done)
    reader.start()
    try:
        for i in range(40):
            publish_file(tmp_path, "X.xml", versions[i % 2])
    finally:
        done.set()
        reader.join()
    assert seen and {len(content) for content in seen} <= {65536, 98304}
    assert all(content in versions for content in seen)


def test_a_folder_in_the_way_fails_cleanly(tmp_path):
    """A real refusal, even for root: rename() cannot put a file over a non-empty folder."""
    (tmp_path / "X.xml").mkdir()
    (tmp_path / "X.xml" / "inside").write_bytes(b"keep")
    with pytest.raises(PublishError) as caught:
        publish_file(tmp_path, "X.xml", OLD)
    assert str(caught.value).startswith(f"cannot write {tmp_path / 'X.xml'}: [Errno ")
    assert isinstance(caught.value.__cause__, OSError)
    assert temp_files(tmp_path) == []
    assert (tmp_path / "X.xml" / "inside").read_bytes() == b"keep"


def test_a_read_only_folder_fails_before_anything_is_written(tmp_path, monkeypatch):
    publish_file(tmp_path, "X.xml", OLD)
    monkeypatch.setattr(writer.os, "open", fail_on_call(os.open, 1, errno.EROFS))
    with pytest.raises(PublishError) as caught:
        publish_file(tmp_path, "X.xml", b"new")
    assert str(caught.value) == (
        f"cannot write {tmp_path / 'X.xml'}: [Errno {errno.EROFS}] Read-only file system; "
        "the folder is read-only; change output.directory"
    )
    monkeypatch.undo()
    assert (tmp_path / "X.xml").read_bytes() == OLD
    assert temp_files(tmp_path) == []


def test_a_full_disk_mid_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    publish_file(out, "X.xml", OLD)
    monkeypatch.setattr(writer, "CHUNK_SIZE", 1024)
    monkeypatch.setattr(writer.os, "write", fail_on_call(os.write, 2, errno.ENOSPC))
    with pytest.raises(PublishError) as caught:
        publish_file(out, "X.xml", b"x" * 4096)
    monkeypatch.undo()
    assert str(caught.value) == (
        f"cannot write {out / 'X.xml'}: [Errno 28] No space left on device; free space or change output.directory"
    )
    assert (out / "X.xml").read_bytes() == OLD
    assert temp_files(out) == []


def test_a_full_disk_reported_at_fsync_is_handled_the_same(tmp_path, monkeypatch):
    publish_file(tmp_path, "X.xml", OLD)
    monkeypatch.setattr(writer.os, "fsync", fail_on_call(os.fsync, 1, errno.ENOSPC))
    with pytest.raises(PublishError, match=r"\[Errno 28\]"):
        publish_file(tmp_path, "X.xml", b"new", setting="--out")
    monkeypatch.undo()
    assert (tmp_path / "X.xml").read_bytes() == OLD
    assert temp_files(tmp_path) == []


def test_a_refused_rename_names_the_setting_to_change(tmp_path, monkeypatch):
    publish_file(tmp_path, "X.xml", OLD)
    monkeypatch.setattr(writer.os, "replace", fail_on_call(os.replace, 1, errno.EACCES))
    with pytest.raises(PublishError, match="make the folder writable or change --out$"):
        publish_file(tmp_path, "X.xml", b"new", setting="--out")
    monkeypatch.undo()
    assert (tmp_path / "X.xml").read_bytes() == OLD
    assert temp_files(tmp_path) == []


def test_cleanup_removes_only_hidden_tmp_files(tmp_path):
    keep = ["X.xml", "notes.tmp", ".keep", "Y.xml.tmp"]
    for name in keep:
        (tmp_path / name).write_bytes(b"k")
    (tmp_path / ".folder.tmp").mkdir()
    leftovers = [".X.xml.0a1b2c.tmp", ".Y.xml.ffffff.tmp"]
    for name in leftovers:
        (tmp_path / name).write_bytes(b"partial")
    assert cleanup_temp_files(tmp_path) == [tmp_path / name for name in leftovers]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*keep, ".folder.tmp"])


def test_cleanup_of_a_missing_folder_is_a_no_op(tmp_path):
    assert cleanup_temp_files(tmp_path / "missing") == []


def test_content_in_pieces_is_written_whole_and_a_failing_producer_leaves_the_old_file(tmp_path):
    publish_file(tmp_path, "report.json", iter([b"new ", b"", b"content\n"]))
    assert (tmp_path / "report.json").read_bytes() == b"new content\n"

    def pieces():
        yield b"half of a "
        raise LookupError("the spool went away")

    with pytest.raises(LookupError):
        publish_file(tmp_path, "report.json", pieces())
    assert (tmp_path / "report.json").read_bytes() == b"new content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]

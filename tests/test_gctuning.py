"""The run's garbage-collector setting is applied inside the block and always restored."""

from __future__ import annotations

import gc
import threading

import pytest

from servicemap_sync.gctuning import RUN_THRESHOLDS, relaxed_gc


def test_thresholds_are_raised_inside_and_restored_after_nesting_and_errors() -> None:
    before = gc.get_threshold()
    assert before != RUN_THRESHOLDS  # else "restored" below would prove nothing
    with pytest.raises(ValueError):  # the error passes through
        with relaxed_gc():
            assert gc.get_threshold() == RUN_THRESHOLDS
            with relaxed_gc():
                raise ValueError
    assert gc.get_threshold() == before


def test_concurrent_blocks_restore_only_when_the_last_one_ends() -> None:
    before = gc.get_threshold()
    assert before != RUN_THRESHOLDS
    inside, release = threading.Event(), threading.Event()

    def worker() -> None:
        with relaxed_gc():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    inside.wait(10)
    with relaxed_gc():
        pass
    assert gc.get_threshold() == RUN_THRESHOLDS  # the worker's block is still open
    release.set()
    thread.join(10)
    assert gc.get_threshold() == before

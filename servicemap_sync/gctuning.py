"""Garbage-collector settings while maps are processed.

A decoded map is hundreds of thousands of small dicts, lists and strings that never form
reference cycles. CPython starts a cyclic collection every 700 allocations by default, so
decoding and modelling one large map triggers hundreds of collections that re-walk objects
that can never be cyclic garbage: about a third of the processing time of a 10,000-connection
map. Raising the first threshold to 500,000 for the duration of a run keeps collection (so
memory stays bounded) but lets a map of up to about 120 MB of JSON be decoded and modelled
without one; freed objects lower the count again, so steady work rarely triggers it.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

RUN_THRESHOLDS = (500_000, 50, 100)

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def relaxed_gc() -> Iterator[None]:
    """Use :data:`RUN_THRESHOLDS` inside the block; nested and concurrent blocks share one setting."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(*RUN_THRESHOLDS)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                gc.set_threshold(*_saved)

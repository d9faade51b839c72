"""Stop a long-running job cleanly on SIGTERM/SIGINT, whenever the signal lands.

Shared by ``servicemap-sync run`` and the emulator's ``serve_forever``; it imports nothing
from the package so every layer may use it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable


def run_until_signalled(work: Callable[[], None], stop: threading.Event,
                        signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT)) -> None:
    """Run ``work`` in a worker thread until it returns; any of ``signals`` sets ``stop``.

    Why a worker thread: Python runs a signal handler in the main thread, between two of its
    bytecodes. A main thread that waited on ``stop`` itself could be inside the event's
    internal lock at that moment, and the handler's ``stop.set()`` would then wait for that
    lock for ever (a SIGTERM that landed just as a sync cycle ended hung ``run``). Here the main
    thread only joins the worker, so the handler never meets a lock its own thread holds. The
    join has a timeout because on Windows an untimed join cannot be interrupted by Ctrl-C.

    Must be called from the main thread. The previous handlers are restored on return, and an
    exception raised by ``work`` is raised again here.
    """
    failure: list[BaseException] = []

    def guarded() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the main thread, which raises it again
            failure.append(exc)

    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in signals}
    try:
        worker = threading.Thread(target=guarded, name="servicemap-sync-work", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(timeout=1.0)
    finally:
        for sig, handler in previous.items():  # None: a handler not set from Python
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    if failure:
        raise failure[0]

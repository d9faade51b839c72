"""``scheduler.serve``: the signal plumbing of ``servicemap-sync run``, in this process.

The loops here stand in for ``run_forever`` (which ``test_cli_service`` runs for real in a
child process); what is under test is how a signal reaches the loop and how the main thread
waits, which a child process cannot show from the inside.
"""

from __future__ import annotations

import signal
import threading

import pytest

from servicemap_sync.scheduler import serve

WAIT = 60.0


class WatchedEvent(threading.Event):
    """An event that remembers which threads waited on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waiters: set[int] = set()

    def wait(self, timeout: float | None = None) -> bool:
        self.waiters.add(threading.get_ident())
        return super().wait(timeout)


def signal_main_thread(sig: signal.Signals) -> None:
    signal.pthread_kill(threading.main_thread().ident, sig)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_loop_from_a_thread_the_main_thread_never_waits_on(sig) -> None:
    stop = WatchedEvent()
    before = signal.getsignal(sig)

    def loop() -> None:
        signal_main_thread(sig)
        assert stop.wait(WAIT), "the signal must set the stop event"

    serve(loop, stop)

    assert stop.is_set()
    # A main thread that waited on the event could hold its lock when the handler runs.
    assert threading.main_thread().ident not in stop.waiters and stop.waiters
    assert signal.getsignal(sig) == before


def test_a_loop_that_ends_by_itself_ends_serve_without_a_signal() -> None:
    stop = threading.Event()
    ran = []
    serve(lambda: ran.append(threading.current_thread() is not threading.main_thread()), stop)
    assert ran == [True] and not stop.is_set()


def test_an_error_in_the_loop_is_raised_in_the_caller_and_handlers_are_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)

    def loop() -> None:
        raise LookupError("first settings invalid")

    with pytest.raises(LookupError, match="first settings invalid"):
        serve(loop, threading.Event())
    assert signal.getsignal(signal.SIGTERM) == before

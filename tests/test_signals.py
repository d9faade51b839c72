"""``signals.run_until_signalled``: how ``run`` and the emulator stop, tested in this process.

The work functions here stand in for ``run_forever`` and the emulator (which
``test_cli_service`` and ``emulator/test_serve_forever`` run for real in child processes); what
is under test is how a signal reaches the work and how the main thread waits, which a child
process cannot show from the inside.
"""

from __future__ import annotations

import signal
import threading

import pytest

from servicemap_sync.signals import run_until_signalled

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
def test_a_signal_stops_work_in_a_thread_while_the_main_thread_never_waits_on_the_event(sig) -> None:
    stop = WatchedEvent()
    before = signal.getsignal(sig)

    def work() -> None:
        signal_main_thread(sig)
        assert stop.wait(WAIT), "the signal must set the stop event"

    run_until_signalled(work, stop)

    assert stop.is_set()
    # A main thread that waited on the event could hold its lock when the handler runs.
    assert threading.main_thread().ident not in stop.waiters and stop.waiters
    assert signal.getsignal(sig) == before


def test_work_that_ends_by_itself_returns_without_a_signal() -> None:
    stop = threading.Event()
    ran = []
    run_until_signalled(lambda: ran.append(threading.current_thread() is not threading.main_thread()), stop)
    assert ran == [True] and not stop.is_set()


def test_an_error_in_the_work_is_raised_in_the_caller_and_handlers_are_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)

    def work() -> None:
        raise LookupError("first settings invalid")

    with pytest.raises(LookupError, match="first settings invalid"):
        run_until_signalled(work, threading.Event())
    assert signal.getsignal(signal.SIGTERM) == before

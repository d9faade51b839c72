"""Injected failures: what can go wrong on the wire, on demand.

A :class:`Fault` names the operation it hits (``token``, ``workspace``, ``machines``,
``machine``, ``machineGroups``, ``machineGroup``, ``generateMap``, ``query``; ``None`` = any of
them), optionally one machine (by resource name, case-insensitive: the machine of ``GET
machines/{name}``, the group of ``GET machineGroups/{name}``, the ``machineId`` of a
``generateMap``, any member of a group or machine-list ``generateMap``, or any machine a Log
Analytics ``query`` lists), the kind of failure and how
many times it fires (``None`` = every time).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

OPERATIONS = ("token", "workspace", "machines", "machine", "machineGroups", "machineGroup", "generateMap", "query")
KINDS = ("status", "delay", "trickle", "malformed", "truncated", "reset", "oversize", "dangling", "partial")

#: ARM error codes for the statuses a fault typically injects.
STATUS_CODES = {400: "BadRequest", 401: "InvalidAuthenticationToken", 403: "AuthorizationFailed",
                404: "ResourceNotFound", 409: "Conflict", 429: "TooManyRequests", 500: "InternalServerError",
                502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}


@dataclass(frozen=True)
class Fault:
    """One failure to inject.

    Attributes:
        kind: ``status`` (``status`` + ARM error body, ``Retry-After: retry_after`` if given),
            ``delay`` (wait ``seconds``, then answer normally), ``trickle`` (the normal answer, its
            body in ten pieces ``seconds`` apart: slow as a whole, never silent for long),
            ``malformed`` (200, invalid JSON),
            ``truncated`` (200, Content-Length larger than what is sent, then close),
            ``reset`` (TCP RST without an answer), ``oversize`` (200, valid JSON padded to ``size``
            bytes), ``dangling`` (200, a map whose connection points at a process not in nodes),
            ``partial`` (a query answered with half its rows and the API's partial-error object).
        count: how many requests it fires on; ``None`` = all of them.
        code: the ARM error code of a ``status`` fault (default: derived from ``status``).
    """

    kind: str = "status"
    operation: str | None = None
    machine: str | None = None
    status: int = 500
    retry_after: int | float | None = None
    seconds: float = 1.0
    size: int = 1_000_000
    count: int | None = None
    code: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"fault kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.operation is not None and self.operation not in OPERATIONS:
            raise ValueError(f"fault operation {self.operation!r}; expected one of {', '.join(OPERATIONS)}")
        if self.count is not None and self.count < 1:
            raise ValueError("fault count must be at least 1 (or None for always)")

    @property
    def error_code(self) -> str:
        return self.code or STATUS_CODES.get(self.status, "EmulatedFault")

    def matches(self, operation: str, machine: str | None | tuple[str, ...]) -> bool:
        """Whether the fault hits ``operation`` about ``machine`` (one name, or every name a query lists)."""
        if self.operation is not None and self.operation != operation:
            return False
        names = machine if isinstance(machine, tuple) else (machine,)
        return self.machine is None or any(n is not None and n.lower() == self.machine.lower() for n in names)


class FaultBook:
    """The active faults, consumed in the order they were added. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[list] = []  # [fault, remaining or None]

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append([fault, fault.count])

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, operation: str, machine: str | None | tuple[str, ...]) -> Fault | None:
        """The first fault matching the request, using up one of its shots."""
        with self._lock:
            for entry in self._faults:
                fault, remaining = entry
                if fault.matches(operation, machine):
                    if remaining is not None:
                        entry[1] = remaining - 1
                        if entry[1] == 0:
                            self._faults.remove(entry)
                    return fault
        return None

"""The Service Map REST client (api-version 2015-11-01-preview), named for the service.

It knows the spec's paths and bodies; sending, retrying and throttling are the transport's
job, turning JSON into model objects is the parser's. Paging follows ``nextLink`` as ARM
returns it (absolute, with its own query string).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from urllib.parse import quote

from ...model import Machine, ServerMap, Workspace
from ..transport import ArmTransport
from ..window import check_window
from .parse import parse_machine, parse_machine_page, parse_map_body

API_VERSION = "2015-11-01-preview"
PAGE_SIZE = 200


class ServiceMapClient:
    """Reads machines and single-machine dependency maps from one workspace.

    Args:
        transport: the run's :class:`ArmTransport` (credential, retries, rate limit).
        workspace: the resolved workspace.
        resource_manager_url: the ARM endpoint of the cloud (or the emulator).
    """

    def __init__(self, transport: ArmTransport, workspace: Workspace, *, resource_manager_url: str) -> None:
        self._transport = transport
        self._base = (
            f"{resource_manager_url.rstrip('/')}/subscriptions/{quote(workspace.subscription_id, safe='')}"
            f"/resourceGroups/{quote(workspace.resource_group, safe='')}"
            f"/providers/Microsoft.OperationalInsights/workspaces/{quote(workspace.name, safe='')}"
            f"/features/serviceMap"
        )

    def list_machines(self, *, start: datetime, end: datetime, page_size: int = PAGE_SIZE) -> Iterator[Machine]:
        """Every machine live in ``[start, end]``, following ``nextLink`` pages.

        Raises:
            ServiceMapError, ParseError
        """
        url: str | None = f"{self._base}/machines"
        params: dict[str, str] | None = {
            "api-version": API_VERSION, "live": "true", "startTime": _iso(start), "endTime": _iso(end),
            "$top": str(page_size),
        }
        page = 0
        while url:
            page += 1
            body = self._transport.request_json("GET", url, params=params, what=f"list machines (page {page})")
            machines, url = parse_machine_page(body)
            params = None  # nextLink carries its own query string
            yield from machines

    def get_machine(self, name: str) -> Machine:
        """One machine by resource name (``!`` and ``@`` are percent-encoded)."""
        body = self._transport.request_json(
            "GET", f"{self._base}/machines/{quote(name, safe='')}", params={"api-version": API_VERSION},
            what=f"get machine {name}",
        )
        return parse_machine(body, where=f"machine {name}")

    def generate_map(self, server: str, machine: Machine, *, start: datetime, end: datetime) -> ServerMap:
        """The single-machine dependency map of ``machine`` over ``[start, end]``.

        Raises:
            ConfigError: the window is empty or longer than 60 minutes (refused before sending).
            ServiceMapError: the request failed or the body is not JSON; ParseError: it is not a map.
        """
        raw = self.fetch_map(server, machine, start=start, end=end)
        return parse_map_body(raw, server=server, focus_machine=machine.name)

    def fetch_map(self, server: str, machine: Machine, *, start: datetime, end: datetime) -> bytes:
        """The undecoded ``generateMap`` body, for callers that parse it elsewhere (another process).

        Raises:
            ConfigError: the window is empty or longer than 60 minutes (refused before sending).
            ServiceMapError: the request failed.
        """
        check_window(start, end)
        request = {
            "kind": "map:single-machine-dependency",
            "machineId": machine.id,
            "startTime": _iso(start),
            "endTime": _iso(end),
        }
        return self._transport.request_bytes(
            "POST", f"{self._base}/generateMap", params={"api-version": API_VERSION}, body=request,
            what=f"generateMap for {server}", server=server,
        )


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

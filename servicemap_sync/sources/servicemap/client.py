"""The Service Map REST client (api-version 2015-11-01-preview), named for the service.

It knows the spec's paths and bodies; sending, retrying and throttling are the transport's
job, turning JSON into model objects is the parser's. Paging follows ``nextLink`` as ARM
returns it (absolute, with its own query string).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from urllib.parse import quote

from ...model import GroupMap, Machine, MachineGroup, ServerMap, Workspace
from ..transport import ArmTransport
from ..window import check_window, iso
from .parse import (
    parse_group_map_body, parse_machine, parse_machine_group, parse_machine_group_page, parse_machine_page,
    parse_map_body,
)

API_VERSION = "2015-11-01-preview"
PAGE_SIZE = 200


class ServiceMapClient:
    """Reads machines, machine groups and their dependency maps from one workspace.

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
        params = {"api-version": API_VERSION, "live": "true", "startTime": iso(start), "endTime": iso(end),
                  "$top": str(page_size)}
        return self._pages(f"{self._base}/machines", params, parse_machine_page, "list machines")

    def _pages(self, url: str | None, params: dict[str, str] | None, parse, what: str) -> Iterator:
        """The items of every page, following ``nextLink`` (absolute, with its own query string)."""
        page = 0
        while url:
            page += 1
            items, url = parse(self._transport.request_json("GET", url, params=params, what=f"{what} (page {page})"))
            params = None
            yield from items

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
        return self._generate({"kind": "map:single-machine-dependency", "machineId": machine.id}, start, end,
                              what=f"generateMap for {server}", server=server)

    def _generate(self, request: dict, start: datetime, end: datetime, *, what: str, server: str | None) -> bytes:
        """POST ``generateMap`` with ``request`` and the window (checked before sending)."""
        check_window(start, end)
        return self._transport.request_bytes(
            "POST", f"{self._base}/generateMap", params={"api-version": API_VERSION},
            body={**request, "startTime": iso(start), "endTime": iso(end)}, what=what, server=server,
        )

    # -- machine groups ---------------------------------------------------------------------

    def list_machine_groups(self, *, start: datetime, end: datetime) -> Iterator[MachineGroup]:
        """Every machine group of the workspace during ``[start, end]``, following ``nextLink``
        pages (the operation takes no ``$top``: the service chooses the page size).

        Raises:
            ServiceMapError, ParseError
        """
        params = {"api-version": API_VERSION, "startTime": iso(start), "endTime": iso(end)}
        return self._pages(f"{self._base}/machineGroups", params, parse_machine_group_page, "list machine groups")

    def get_machine_group(self, name: str, *, start: datetime, end: datetime) -> MachineGroup:
        """One machine group by resource name, as it was during ``[start, end]``; its members are
        the member machines' resource names.

        Raises:
            ServiceMapError (404: no such group), ParseError
        """
        body = self._transport.request_json(
            "GET", f"{self._base}/machineGroups/{quote(name, safe='')}",
            params={"api-version": API_VERSION, "startTime": iso(start), "endTime": iso(end)},
            what=f"get machine group {name}",
        )
        return parse_machine_group(body, where=f"machine group {name}")

    def generate_group_map(self, group: MachineGroup, *, start: datetime, end: datetime) -> GroupMap:
        """The group's dependency map over ``[start, end]`` (one request for the whole group).

        Raises:
            ConfigError: the window is empty or longer than 60 minutes (refused before sending).
            ServiceMapError: the request failed or the body is not JSON; ParseError: it is not a map.
        """
        raw = self.fetch_group_map(group, start=start, end=end)
        return parse_group_map_body(raw, group=group.label, members=group.members)

    def fetch_group_map(self, group: MachineGroup, *, start: datetime, end: datetime) -> bytes:
        """The undecoded ``map:machine-group-dependency`` body for ``group`` (its ``id`` is sent as
        the service gave it), all processes included (``filterProcesses`` false).

        Raises:
            ConfigError: the window is empty or longer than 60 minutes (refused before sending).
            ServiceMapError: the request failed.
        """
        request = {"kind": "map:machine-group-dependency", "machineGroupId": group.id, "filterProcesses": False}
        return self._generate(request, start, end, what=f"generateMap for group {group.label}", server=group.label)

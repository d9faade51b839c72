"""The emulated ARM resources: the Log Analytics workspace and its Service Map feature.

Routing, validation and bodies only; authentication, throttling, faults and the socket are
the server's job. Fixed path segments match case-insensitively as ARM's do, names are
percent-decoded (Service Map names contain ``!`` and ``@``), and every error uses ARM's
``{"error": {"code", "message"}}`` body.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

from .scenario import Scenario

API_VERSION = "2015-11-01-preview"
DEFAULT_TOP, MAX_TOP = 100, 200
_MACHINE_ID = re.compile(r"^(?P<prefix>.*)/machines/(?P<name>[^/]+)$")
_GROUP_ID = re.compile(r"^(?P<prefix>.*)/machineGroups/(?P<name>[^/]+)$", re.IGNORECASE)
_SINGLE = "map:single-machine-dependency"
_GROUP = "map:machine-group-dependency"
_LIST = "map:machine-list-dependency"
_KINDS = (_SINGLE, _GROUP, _LIST)


@dataclass
class Reply:
    """A response before it meets the wire: status, JSON body, extra headers."""

    status: int
    body: object
    headers: dict[str, str] = field(default_factory=dict)


def arm_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}}, headers or {})


@dataclass(frozen=True)
class Route:
    """What a request asks for: its operation name, the machine it concerns, and how to answer it."""

    operation: str
    machine: str | None | tuple[str, ...] = None
    answer: Callable[[], Reply] = lambda: arm_error(404, "InvalidResourceType", "The emulator does not serve this path.")


def parse_time(value: str) -> datetime:
    """An ISO 8601 instant (``Z`` or offset; naive means UTC) as an aware UTC datetime."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def iso(moment: datetime) -> str:
    """``2024-05-06T07:00:00Z`` (with microseconds when there are any)."""
    base = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{moment.microsecond:06d}Z" if moment.microsecond else f"{base}Z"


class Arm:
    """Serves one scenario's workspace and Service Map data; the data can be swapped at run time.

    The scenario's :attr:`~.Scenario.other_workspaces` are served too, each by an :class:`Arm`
    of its own (:attr:`others`) under its own ARM path; everything else here (the data setters,
    ``forbidden``) is about the first, default workspace.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._lock = threading.Lock()
        self._machines: list[dict] = []
        self._by_name: dict[str, dict] = {}
        self._groups: list[dict] = []
        self._groups_by_name: dict[str, dict] = {}
        self._map_keys = {name.lower(): name for name in scenario.maps}
        self._map_overrides: dict[str, dict] = {}
        self.forbidden = False
        self.version = 0  # bumped by every change of the data, so what is derived from it can be cached
        #: machine groups per page of ``GET machineGroups`` (the operation has no ``$top``)
        self.group_page_size = DEFAULT_TOP
        self.set_machines(list(scenario.machines.values()))
        self.set_machine_groups(list(scenario.machine_groups.values()))
        self.others = [Arm(other) for other in scenario.other_workspaces]

    def workspace(self, subscription_id: str, resource_group: str, workspace_name: str) -> Arm | None:
        """The :class:`Arm` serving that workspace (this one or one of :attr:`others`), if any."""
        wanted = (subscription_id.lower(), resource_group.lower(), workspace_name.lower())
        for arm in (self, *self.others):
            s = arm.scenario
            if (s.subscription_id.lower(), s.resource_group.lower(), s.workspace_name.lower()) == wanted:
                return arm
        return None

    # -- data ---------------------------------------------------------------------------------
    def set_machines(self, machines: list[dict]) -> None:
        ordered = sorted(machines, key=lambda m: str(m.get("name", "")).lower())
        with self._lock:
            self._machines = ordered
            self._by_name = {str(m.get("name", "")).lower(): m for m in ordered}
            self.version += 1

    def machines(self) -> list[dict]:
        """The machines served now, ordered by name."""
        with self._lock:
            return list(self._machines)

    def set_machine_groups(self, groups: list[dict]) -> None:
        """Serve these MachineGroup resources (ordered by display name, then name) instead."""
        ordered = sorted(groups, key=lambda g: (str(g.get("properties", {}).get("displayName", "")).lower(),
                                                str(g.get("name", "")).lower()))
        with self._lock:
            self._groups = ordered
            self._groups_by_name = {str(g.get("name", "")).lower(): g for g in ordered}
            self.version += 1

    def machine_groups(self) -> list[dict]:
        """The machine groups served now."""
        with self._lock:
            return list(self._groups)

    def set_map(self, machine_name: str, map_json: dict) -> None:
        with self._lock:
            self._map_overrides[machine_name.lower()] = map_json
            self.version += 1

    def map_of(self, machine_name: str) -> dict | None:
        """The map served for a machine: an override, the scenario's, or a lone node for a mapless machine."""
        key = machine_name.lower()
        with self._lock:
            override = self._map_overrides.get(key)
            machine = self._by_name.get(key)
        if override is not None:
            return override
        if key in self._map_keys:
            return self.scenario.maps[self._map_keys[key]]
        if machine is None:
            return None
        node = {k: machine[k] for k in ("kind", "id", "type", "name") if k in machine}
        node["properties"] = {k: v for k, v in machine.get("properties", {}).items()
                              if k in ("monitoringState", "virtualizationState", "displayName")}
        return {"nodes": {"machines": [node], "processes": [], "ports": [], "clientGroups": []},
                "edges": {"connections": [], "acceptors": []}}

    # -- routing ------------------------------------------------------------------------------
    def route(self, method: str, segments: list[str], query: Mapping[str, list[str]], body: object,
              base_url: str, raw_path: str) -> Route:
        """Match a request (``segments``: the percent-decoded path split on ``/``) to an operation."""
        low = [s.lower() for s in segments]
        if len(low) < 9 or low[:2] != ["", "subscriptions"] or low[3] != "resourcegroups" or low[5:8] != [
                "providers", "microsoft.operationalinsights", "workspaces"]:
            return Route("unknown")
        sub, rg, ws = segments[2], segments[4], segments[8]
        other = self.workspace(sub, rg, ws)
        if other is not None and other is not self:
            return other.route(method, segments, query, body, base_url, raw_path)
        rest = low[9:]
        if not rest and method == "GET":
            return Route("workspace", answer=lambda: self._workspace(sub, rg, ws, query))
        if rest[:2] != ["features", "servicemap"]:
            return Route("unknown")
        tail, names = rest[2:], segments[11:]
        if tail == ["machines"] and method == "GET":
            return Route("machines", answer=self._guard(sub, rg, ws, query, lambda: self._list(query, base_url,
                                                                                                 raw_path)))
        if len(tail) == 2 and tail[0] == "machines" and method == "GET":
            return Route("machine", names[1], answer=self._guard(sub, rg, ws, query, lambda: self._machine(names[1])))
        if tail == ["machinegroups"] and method == "GET":
            return Route("machineGroups", answer=self._guard(sub, rg, ws, query, lambda: self._list_groups(
                query, base_url, raw_path)))
        if len(tail) == 2 and tail[0] == "machinegroups" and method == "GET":
            return Route("machineGroup", names[1], answer=self._guard(sub, rg, ws, query, lambda: self._group(
                names[1], query)))
        if tail == ["generatemap"] and method == "POST":
            name = self._requested_machine(body) or self._requested_members(body)
            return Route("generateMap", name, answer=self._guard(sub, rg, ws, query, lambda: self._generate(body)))
        return Route("unknown")

    def _workspace_problem(self, sub: str, rg: str, ws: str) -> Reply | None:
        s = self.scenario
        if sub.lower() != s.subscription_id.lower():
            return arm_error(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        if rg.lower() != s.resource_group.lower():
            return arm_error(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        if ws.lower() != s.workspace_name.lower():
            return arm_error(404, "ResourceNotFound", f"The Resource 'Microsoft.OperationalInsights/workspaces/{ws}' "
                             f"under resource group '{rg}' was not found.")
        return None

    def _workspace(self, sub: str, rg: str, ws: str, query: Mapping[str, list[str]]) -> Reply:
        if not query.get("api-version", [""])[0]:
            return arm_error(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is "
                             "required for all requests.")
        problem = self._workspace_problem(sub, rg, ws)
        if problem:
            return problem
        s = self.scenario
        arm_id = s.arm_id
        if self.forbidden:
            return arm_error(403, "AuthorizationFailed", f"The client '{s.client_id}' does not have authorization to "
                             f"perform action 'Microsoft.OperationalInsights/workspaces/read' over scope '{arm_id}' "
                             "or the scope is invalid.")
        return Reply(200, {
            "id": arm_id, "name": s.workspace_name, "type": "Microsoft.OperationalInsights/workspaces",
            "location": s.location, "tags": {}, "etag": '"0a00c2b1-0000-0d00-0000-663890f00000"',
            "properties": {"customerId": s.customer_id, "provisioningState": "Succeeded",
                           "sku": {"name": "PerGB2018"}, "retentionInDays": 30,
                           "publicNetworkAccessForIngestion": "Enabled", "publicNetworkAccessForQuery": "Enabled"},
        })

    def _guard(self, sub: str, rg: str, ws: str, query: Mapping[str, list[str]],
               answer: Callable[[], Reply]) -> Callable[[], Reply]:
        """Check workspace and api-version before a Service Map operation runs."""
        def guarded() -> Reply:
            version = query.get("api-version", [""])[0]
            if not version:
                return arm_error(400, "MissingApiVersionParameter", "The api-version query parameter is required.")
            if version != API_VERSION:
                return arm_error(400, "NoRegisteredProviderFound", f"No registered resource provider found for "
                                 f"API version '{version}'. The supported api-versions are '{API_VERSION}'.")
            return self._workspace_problem(sub, rg, ws) or answer()
        return guarded

    # -- Service Map operations ----------------------------------------------------------------
    def _list(self, query: Mapping[str, list[str]], base_url: str, raw_path: str) -> Reply:
        first = {k: v[0] for k, v in query.items() if v}
        try:
            top = int(first.get("$top", DEFAULT_TOP))
            skip = int(first.get("$skipToken", "0"))
        except ValueError:
            return arm_error(400, "InvalidParameter", "$top and $skipToken must be integers.")
        if not 1 <= top <= MAX_TOP or skip < 0:
            return arm_error(400, "InvalidParameter", f"$top must be between 1 and {MAX_TOP}.")
        if first.get("live", "true").lower() not in ("true", "false"):
            return arm_error(400, "InvalidParameter", "live must be true or false.")
        problem = self._window_problem(first, ("startTime", "endTime", "timestamp"))
        if problem:
            return problem
        with self._lock:
            machines = self._machines
        return _page(machines, skip, top, first, ("live", "startTime", "endTime", "timestamp"), base_url, raw_path,
                     top_param=True)

    @staticmethod
    def _window_problem(first: Mapping[str, str], keys: tuple[str, ...] = ("startTime", "endTime")) -> Reply | None:
        """A 400 for a time parameter that is no date-time, or an end before the start; else None."""
        try:
            times = {k: parse_time(first[k]) for k in keys if k in first}
        except ValueError as exc:
            return arm_error(400, "InvalidParameter", f"Invalid date-time: {exc}")
        if "startTime" in times and "endTime" in times and times["endTime"] < times["startTime"]:
            return arm_error(400, "InvalidParameter", "endTime must not be before startTime.")
        return None

    def _list_groups(self, query: Mapping[str, list[str]], base_url: str, raw_path: str) -> Reply:
        first = {k: v[0] for k, v in query.items() if v}
        try:
            skip = int(first.get("$skipToken", "0"))
        except ValueError:
            return arm_error(400, "InvalidParameter", "$skipToken must be an integer.")
        problem = self._window_problem(first)
        if problem or skip < 0:
            return problem or arm_error(400, "InvalidParameter", "$skipToken must not be negative.")
        top = max(1, self.group_page_size)
        with self._lock:
            groups = self._groups
        return _page(groups, skip, top, first, ("startTime", "endTime"), base_url, raw_path, top_param=False)

    def _group(self, name: str, query: Mapping[str, list[str]]) -> Reply:
        problem = self._window_problem({k: v[0] for k, v in query.items() if v})
        if problem:
            return problem
        with self._lock:
            group = self._groups_by_name.get(name.lower())
        if group is None:
            return arm_error(404, "ResourceNotFound", f"Machine group '{name}' was not found in the workspace.")
        return Reply(200, group)

    def _machine(self, name: str) -> Reply:
        with self._lock:
            machine = self._by_name.get(name.lower())
        if machine is None:
            return arm_error(404, "ResourceNotFound", f"Machine '{name}' was not found in the workspace.")
        return Reply(200, machine)

    @staticmethod
    def _requested_machine(body: object) -> str | None:
        machine_id = body.get("machineId") if isinstance(body, dict) else None
        match = _MACHINE_ID.match(machine_id) if isinstance(machine_id, str) else None
        return match.group("name") if match else None

    def _requested_members(self, body: object) -> tuple[str, ...] | None:
        """The machines a group or list map request concerns (for faults aimed at one machine)."""
        if not isinstance(body, dict):
            return None
        group_id = body.get("machineGroupId")
        match = _GROUP_ID.match(group_id) if isinstance(group_id, str) else None
        if match:
            with self._lock:
                group = self._groups_by_name.get(match.group("name").lower())
            return tuple(_member_names(group)) if group else None
        ids = body.get("machineIds")
        if isinstance(ids, list):
            return tuple(m.group("name") for m in (_MACHINE_ID.match(i) for i in ids if isinstance(i, str)) if m)
        return None

    def _in_workspace(self, prefix: str) -> bool:
        s = self.scenario
        arm_id = s.arm_id.lower()
        legacy = {f"/api/workspaces/{s.customer_id}".lower(), f"/api/workspaces/{s.workspace_name}".lower()}
        return prefix.lower() in {arm_id, f"{arm_id}/features/servicemap", *legacy}

    def _generate(self, body: object) -> Reply:
        if not isinstance(body, dict):
            return arm_error(400, "InvalidRequestContent", "The request body must be a JSON MapRequest object.")
        kind = body.get("kind")
        if kind not in _KINDS:
            return arm_error(400, "InvalidParameter", f"Map request kind '{kind}' is unknown; use one of "
                             f"{', '.join(repr(k) for k in _KINDS)}.")
        try:
            end = parse_time(body["endTime"]) if body.get("endTime") else datetime.now(timezone.utc)
            start = parse_time(body["startTime"]) if body.get("startTime") else end - timedelta(minutes=10)
        except (TypeError, ValueError) as exc:
            return arm_error(400, "InvalidParameter", f"Invalid startTime or endTime: {exc}")
        if end <= start:
            return arm_error(400, "InvalidParameter", "endTime must be later than startTime.")
        if kind == _SINGLE:
            found = self._single(body)
        else:
            found = self._multiple(body, kind)
        if isinstance(found, Reply):
            return found
        return Reply(200, {"startTime": _echo(body.get("startTime"), start), "endTime": _echo(body.get("endTime"), end),
                           "map": found})

    def _single(self, body: dict) -> dict | Reply:
        machine_id = body.get("machineId")
        match = _MACHINE_ID.match(machine_id) if isinstance(machine_id, str) else None
        if not match:
            return arm_error(400, "InvalidParameter", "machineId must be a machine resource id.")
        found = self.map_of(match.group("name")) if self._in_workspace(match.group("prefix")) else None
        if found is None:
            return arm_error(404, "ResourceNotFound", f"Machine '{match.group('name')}' was not found.")
        return found

    def _multiple(self, body: dict, kind: str) -> dict | Reply:
        """A group or machine-list map: the union of the members' single-machine maps (each node
        and edge once), as Microsoft's group example shows: every member with its direct
        dependencies. A member no longer served contributes nothing."""
        if body.get("filterProcesses") not in (None, False):
            return arm_error(400, "InvalidParameter", "filterProcesses=true is not served by the emulator.")
        if kind == _GROUP:
            group_id = body.get("machineGroupId")
            match = _GROUP_ID.match(group_id) if isinstance(group_id, str) else None
            if not match:
                return arm_error(400, "InvalidParameter", "machineGroupId must be a machine group resource id.")
            with self._lock:
                group = self._groups_by_name.get(match.group("name").lower())
            if group is None or not self._in_workspace(match.group("prefix")):
                return arm_error(404, "ResourceNotFound", f"Machine group '{match.group('name')}' was not found.")
            names = _member_names(group)
        else:
            ids = body.get("machineIds")
            if not isinstance(ids, list) or not ids:
                return arm_error(400, "InvalidParameter", "machineIds must be a non-empty list of machine resource ids.")
            names = []
            for machine_id in ids:
                match = _MACHINE_ID.match(machine_id) if isinstance(machine_id, str) else None
                if not match or not self._in_workspace(match.group("prefix")):
                    return arm_error(400, "InvalidParameter", f"{machine_id!r} is not a machine of this workspace.")
                names.append(match.group("name"))
        with self._lock:
            served = [name for name in names if name.lower() in self._by_name]
        return union_maps([m for m in (self.map_of(name) for name in served) if m is not None])


def _member_names(group: dict) -> list[str]:
    """The member machines' names of a MachineGroup resource (from ``name``, else the id)."""
    names = []
    for ref in group.get("properties", {}).get("machines", []):
        name = ref.get("name")
        if not name:
            match = _MACHINE_ID.match(str(ref.get("id", "")))
            name = match.group("name") if match else None
        if name:
            names.append(name)
    return names


def union_maps(maps: list[dict]) -> dict:
    """One ``map`` object holding every node and edge of ``maps`` once (by id, case-insensitive:
    a peer's GUID may be spelled in another case in another map), in first-seen order."""
    nodes: dict[str, dict[str, dict]] = {"machines": {}, "processes": {}, "ports": {}, "clientGroups": {}}
    edges: dict[str, dict[str, dict]] = {"connections": {}, "acceptors": {}}
    for graph in maps:
        for part, into in (("nodes", nodes), ("edges", edges)):
            for kind, items in (graph.get(part) or {}).items():
                bucket = into.setdefault(kind, {})
                for item in items or ():
                    bucket.setdefault(str(item.get("id", "")).lower(), item)
    return {"nodes": {kind: list(items.values()) for kind, items in nodes.items()},
            "edges": {kind: list(items.values()) for kind, items in edges.items()}}


def _echo(given: object, moment: datetime) -> str:
    """The window as the service echoes it: verbatim when already UTC with ``Z``, else normalised."""
    if isinstance(given, str) and given.endswith("Z"):
        return given
    return iso(moment)


def dangle(response: dict) -> dict:
    """A copy of a MapResponse with one more connection, to a process that is not among the nodes."""
    broken = copy.deepcopy(response)
    graph = broken["map"]
    machines = graph["nodes"].get("machines") or [{"id": "/machines/m-00000000-0000-0000-0000-000000000000",
                                                   "name": "m-00000000-0000-0000-0000-000000000000"}]
    host = {"kind": "ref:machine", "id": machines[0]["id"], "type": machines[0].get("type"),
            "name": machines[0]["name"]}
    ghost = "p-" + "0" * 36 + "dead"
    ref = {"kind": "ref:process", "properties": {"machine": host}, "id": f"{host['id']}/processes/{ghost}",
           "type": "Microsoft.OperationalInsights/workspaces/features/machines/processes", "name": ghost}
    graph["edges"].setdefault("connections", []).append({
        "kind": "rel:connection", "id": f"{host['id']}/connections/dangling", "name": "dangling",
        "type": "Microsoft.OperationalInsights/workspaces/features/connections",
        "properties": {"source": ref, "destination": ref, "failureState": "ok"},
    })
    return broken


def _page(items: list, skip: int, top: int, first: Mapping[str, str], carried: tuple[str, ...], base_url: str,
          raw_path: str, *, top_param: bool) -> Reply:
    """One page of a list operation, with a ``nextLink`` (absolute, carrying the query's own
    parameters and the next ``$skipToken``) when more follow, as ARM pages."""
    page: dict = {"value": items[skip:skip + top]}
    if skip + top < len(items):
        params = {"api-version": API_VERSION, **{k: first[k] for k in carried if k in first},
                  **({"$top": str(top)} if top_param else {}), "$skipToken": str(skip + top)}
        page["nextLink"] = f"{base_url}{raw_path}?{urlencode(params)}"
    return Reply(200, page)

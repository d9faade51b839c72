"""The sample estate's machine groups, and what their members' maps imply, for the group tests.

The expectation is worked out from the sample JSON itself (samples/estate/maps/*.json), not
from anything the product builds, so a builder or renderer that drops or invents a box or an
arrow fails.
"""

from __future__ import annotations

import copy

from servicemap_sync.emulator import load_scenario
from servicemap_sync.emulator.arm import union_maps
from servicemap_sync.model import GroupMap, ServerMap
from servicemap_sync.sources.servicemap.parse import parse_group_map_response, parse_map_response

SCENARIO = load_scenario()
WINDOW = {"startTime": "2026-11-23T10:00:00Z", "endTime": "2026-11-23T11:00:00Z"}
SHOP = "Contoso Web Shop"


def group_members(display_name: str) -> list[str]:
    """The member machines' resource names of the sample group called ``display_name``, in order."""
    (group,) = [g for g in SCENARIO.machine_groups.values() if g["properties"]["displayName"] == display_name]
    return [m["name"] for m in group["properties"]["machines"]]


def fqdn(machine: str) -> str:
    return SCENARIO.machines[machine]["properties"]["fullyQualifiedDomainName"]


def member_map(machine: str, the_map: dict | None = None) -> ServerMap:
    body = {**WINDOW, "map": the_map if the_map is not None else SCENARIO.maps[machine]}
    return parse_map_response(body, server=fqdn(machine), focus_machine=machine)


def group_map(display_name: str, members: list[str], served: list[str] | None = None) -> GroupMap:
    """The group map Service Map answers: the union of the served members' maps (as its example shows)."""
    served = members if served is None else served
    body = {**WINDOW, "map": union_maps([SCENARIO.maps[m] for m in served])}
    return parse_group_map_response(body, group=display_name, members=members)


def without_connection(the_map: dict, predicate) -> dict:
    """A copy of ``the_map`` without the connections ``predicate(connection)`` is true for."""
    out = copy.deepcopy(the_map)
    out["edges"]["connections"] = [c for c in out["edges"]["connections"] if not predicate(c)]
    return out


def _machine_of(ref: dict) -> str:
    return ref["properties"]["machine"]["name"].lower()


def expected_boxes_and_arrows(maps: list[dict], members: set[str], *, detail: str = "process") -> tuple[set, set]:
    """Boxes ``(kind, name)`` and arrows ``(from box, to box, port)`` the members' maps imply
    (kinds ``machine``, ``process``, ``clientGroup``; names lower-case resource names).

    Every connection with an end on a member, once, loopback and self-links left out; a member's
    process is its own box (``detail="process"``) or drawn as its member (``"server"``), any
    other process as its machine; every member is a box, and with ``"process"`` every member
    process listening on a non-loopback address.
    """
    boxes = {("machine", m) for m in members}
    arrows = set()

    def box_of(ref: dict) -> tuple[str, str]:
        machine = _machine_of(ref)
        if machine in members and detail == "process":
            return ("process", ref["name"].lower())
        return ("machine", machine)

    for the_map in maps:
        for connection in the_map["edges"]["connections"]:
            props = connection["properties"]
            source, target = props["source"], props["destination"]
            port = (props.get("serverPort") or {}).get("properties", {})
            if str(port.get("ipAddress", "")).startswith("127."):
                continue
            target_machine = _machine_of(target)
            if source["kind"] == "ref:clientgroup":
                source_machine, source_box = None, ("clientGroup", source["name"].lower())
            else:
                source_machine = _machine_of(source)
                if source_machine == target_machine:
                    continue  # a self-link
                source_box = box_of(source)
            if source_machine not in members and target_machine not in members:
                continue
            target_box = box_of(target)
            boxes |= {source_box, target_box}
            arrows.add((source_box, target_box, port.get("portNumber")))
        if detail == "process":
            for acceptor in the_map["edges"]["acceptors"]:
                process = acceptor["properties"]["destination"]
                listens_on = acceptor["properties"]["source"].get("properties", {}).get("ipAddress", "")
                if _machine_of(process) in members and not listens_on.startswith("127."):
                    boxes.add(("process", process["name"].lower()))
    return boxes, arrows

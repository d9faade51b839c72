"""Machine groups and group maps: Microsoft's examples, the odd-but-valid forms, broken data."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from servicemap_sync.errors import ParseError
from servicemap_sync.model import MachineGroup, machine_key
from servicemap_sync.sources.servicemap.parse import (
    parse_group_map_body, parse_group_map_response, parse_machine_group, parse_machine_group_page,
    parse_map_response,
)

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "servicemap-api"
GROUP_MAP = "examples/Maps/SMMapsGenerateMachineGroupDependencyPost.json"
LEGACY_GROUP_MAP = "legacy-2018-examples/Maps/SMMapsGenerateMachineGroupDependencyPost.json"
WS = "/subscriptions/63BE4E24-FDF0-4E9C-9342-6A5D5A359722/resourceGroups/rg-sm/providers/Microsoft.OperationalInsights/workspaces/D6F79F14-E563-469B-84B5-9286D2803B2F"


def _example(relative: str) -> dict[str, Any]:
    path = EXAMPLES / relative
    if not path.is_file():
        pytest.skip("needs ../shared/servicemap-api (Microsoft's published examples) beside the repo")
    return json.loads(path.read_text("utf-8"))


def _body(relative: str, status: str = "200") -> Any:
    return _example(relative)["responses"][status]["body"]


# --- machine groups ---------------------------------------------------------------------------


def test_microsofts_group_get_example() -> None:
    group = parse_machine_group(_body("examples/MachineGroups/SMMachineGroupsGetGet.json"))
    assert group == MachineGroup(
        name="07597c56-5395-4815-839c-c4e7bddbac18", id=f"{WS}/machineGroups/07597c56-5395-4815-839c-c4e7bddbac18",
        display_name="Foo", members=("m-A4AB1C69-03E9-42D2-B822-B42555569FB4", "m-21E1AC11-8AFF-4D2D-8A1F-72FEDA473F7B"),
        member_hints=("", ""), group_type="unknown", count=2,
    )
    assert group.label == "Foo" and not group.truncated


def test_microsofts_group_list_example() -> None:
    groups, next_link = parse_machine_group_page(_body("examples/MachineGroups/SMMachineGroupsListByWorkspaceGet.json"))
    assert next_link is None
    assert [(g.display_name, len(g.members)) for g in groups] == [("Foo", 2), ("Bar", 2)]
    assert groups[1].members == ("m-573847EE-4D31-4936-A8B2-771372806C80", "m-00377B1B-7F4D-4EF8-8E1B-5B683DA02123")


def test_microsofts_create_example_response_and_its_nameless_request_member() -> None:
    example = _example("examples/MachineGroups/SMMachineGroupsCreatePost.json")
    created = parse_machine_group(example["responses"]["201"]["body"])
    assert created.members == ("m-2f2506f5-cf18-4dc6-98ba-d84ce2610ae0",)
    assert created.member_hints == ("MachineName",)
    # the request carries a member without name (only its id) and a group without id: the name comes from the member's id
    request = copy.deepcopy(example["parameters"]["machineGroup"])
    request["id"] = f"{WS}/machineGroups/ccaf142f-57f7-4510-bd80-b073cd5dcdec"
    parsed = parse_machine_group(request)
    assert parsed.name == "ccaf142f-57f7-4510-bd80-b073cd5dcdec"
    assert parsed.members == ("m-2f2506f5-cf18-4dc6-98ba-d84ce2610ae0",) and parsed.group_type is None


@pytest.mark.parametrize("member_id", [
    "/api/workspaces/D6F79F14-E563-469B-84B5-9286D2803B2F/machines/m-1",
    f"{WS}/machines/m-1",
    f"{WS}/features/serviceMap/machines/m-1",
])
@pytest.mark.parametrize("kind", ["ref:machinewithhints", "ref:machine", None])
def test_member_ids_in_every_form_with_or_without_kind_and_name(member_id: str, kind: str | None) -> None:
    ref: dict[str, Any] = {"id": member_id}
    if kind:
        ref["kind"] = kind
    group = parse_machine_group({"kind": "machineGroup", "id": "/api/workspaces/x/machineGroups/g1",
                                 "properties": {"displayName": "???", "machines": [ref, {**ref, "name": "M-1"}]}})
    assert group.members == ("m-1",)  # the second is the same machine in another case
    assert group.name == "g1" and group.label == "g1"  # ??? is no name


def test_a_truncated_group_says_so() -> None:
    group = parse_machine_group({"kind": "machineGroup", "id": "/x/machineGroups/g", "name": "g",
                                 "properties": {"displayName": "Big", "count": 12,
                                                "machines": [{"kind": "ref:machinewithhints", "id": "/x/machines/m-1"}]}})
    assert group.truncated and group.count == 12


@pytest.mark.parametrize(("change", "field"), [
    (lambda g: g.update(kind="machine"), "kind"),
    (lambda g: g.pop("id"), "id"),
    (lambda g: g.update(id="/x/machines/m-1", name=None), "id"),
    (lambda g: g["properties"].update(count="2"), "properties.count"),
    (lambda g: g["properties"].update(machines={}), "properties.machines"),
    (lambda g: g["properties"]["machines"][1].update(kind="ref:process"), "properties.machines[1]"),
    (lambda g: g["properties"]["machines"][0].update(id="/x/clientGroups/c", name=None), "properties.machines[0].id"),
    (lambda g: g["properties"].update(displayName=7), "properties.displayName"),
])
def test_broken_groups_are_refused_naming_the_field(change, field: str) -> None:
    group = copy.deepcopy(_body("examples/MachineGroups/SMMachineGroupsGetGet.json"))
    change(group)
    with pytest.raises(ParseError) as err:
        parse_machine_group(group, where="machine group g")
    assert err.value.field == field
    assert str(err.value).startswith(f"machine group g: {field}: ")


def test_a_broken_group_in_a_list_is_named_by_its_index() -> None:
    page = copy.deepcopy(_body("examples/MachineGroups/SMMachineGroupsListByWorkspaceGet.json"))
    page["value"][1]["properties"]["machines"][0] = "m-1"
    with pytest.raises(ParseError) as err:
        parse_machine_group_page(page)
    assert err.value.field == "value[1].properties.machines[0]"


# --- group maps -------------------------------------------------------------------------------


def test_microsofts_group_map_example() -> None:
    body = _body(GROUP_MAP)
    members = ["m-d3641418-6ac8-4024-8074-48f6d9db9825", "M-F16C3A13-C1B4-453B-BFF1-4607D18436AB",
               "m-80cf74cb-2828-42be-8eb1-d78fe35c662b"]
    result = parse_group_map_response(body, group="b90f6d8f", members=members)
    assert result.start_time == datetime(2018, 1, 8, 20, 0, 51, 325000, tzinfo=timezone.utc)
    assert result.members == tuple(machine_key(m) for m in members) and result.missing == ()
    assert [m.label for m in result.member_machines()] == ["192.168.0.1", "192.168.0.2", "192.168.0.3"]
    assert [len(result.machines), len(result.processes), len(result.ports), len(result.client_groups),
            len(result.connections), len(result.acceptors)] == [4, 5, 3, 2, 5, 3]
    # the ??? process keeps its resource name as its label
    assert any(p.display_name == "???" and p.label == p.name for p in result.processes)
    # the same nodes and edges as the single-machine parser reads from the same body
    single = parse_map_response(body, server="x", focus_machine=members[0])
    assert (result.machines, result.processes, result.ports, result.client_groups, result.connections,
            result.acceptors) == (single.machines, single.processes, single.ports, single.client_groups,
                                  single.connections, single.acceptors)


def test_group_map_members_unknown_are_the_monitored_machines() -> None:
    result = parse_group_map_response(_body(GROUP_MAP), group="g")
    assert [k.name for k in result.members] == ["m-d3641418-6ac8-4024-8074-48f6d9db9825",
                                                "m-f16c3a13-c1b4-453b-bff1-4607d18436ab",
                                                "m-80cf74cb-2828-42be-8eb1-d78fe35c662b"]


def test_a_member_without_data_is_missing_not_an_error() -> None:
    result = parse_group_map_body(json.dumps(_body(GROUP_MAP)).encode(), group="g",
                                  members=["m-d3641418-6ac8-4024-8074-48f6d9db9825", "m-gone", "m-GONE"])
    assert [k.name for k in result.members] == ["m-d3641418-6ac8-4024-8074-48f6d9db9825"]
    assert result.missing == ("m-gone",)


def test_microsofts_legacy_group_map_with_short_ids() -> None:
    body = _body(LEGACY_GROUP_MAP)
    assert body["map"]["nodes"]["machines"][0]["id"].startswith("/api/workspaces/")
    result = parse_group_map_response(body, group="g")
    assert len(result.members) == 3 and result.connections


def test_a_broken_group_map_names_group_and_field() -> None:
    body = copy.deepcopy(_body(GROUP_MAP))
    body["map"]["edges"]["connections"][2]["properties"]["destination"]["name"] = "p-nowhere"
    with pytest.raises(ParseError) as err:
        parse_group_map_response(body, group="Contoso Web Shop")
    assert err.value.field == "map.edges.connections[2].properties.destination"
    assert str(err.value).startswith("group Contoso Web Shop: map.edges.connections[2]")

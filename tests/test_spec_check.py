"""The spec checker accepts Microsoft's own examples and refuses broken requests and responses.

The examples' ``api-version`` is ``2016-08-02``, which is wrong: the spec (and the service) is
``2015-11-01-preview``. The example tests therefore send the spec's version, and one test shows
the checker refuses the examples' value unless it is explicitly allowed with ``api_versions``.
"""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import quote

import pytest

from spec_check import SPEC_DIR, SpecChecker

API_VERSION = "2015-11-01-preview"
BASE = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-sm/providers"
    "/Microsoft.OperationalInsights/workspaces/law-prod/features/serviceMap"
)
TEMPLATE = (
    "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers"
    "/Microsoft.OperationalInsights/workspaces/{workspaceName}/features/serviceMap"
)
GOOD_QUERY = {"api-version": API_VERSION}


def _examples(checker: SpecChecker) -> list[tuple[str, str, dict[str, Any], str, dict[str, Any]]]:
    """(method, path template, operation, file, example) for every x-ms-examples entry of the spec."""
    found = []
    for method, template, operation in checker.operations():
        for ref in operation.get("x-ms-examples", {}).values():
            file = ref["$ref"]
            found.append((method, template, operation, file, json.loads((SPEC_DIR / file).read_text("utf-8"))))
    return found


def _request(checker: SpecChecker, template: str, operation: dict[str, Any], parameters: dict[str, Any]):
    """The (path, query, body) an example's ``parameters`` describe."""
    path, query, body = template, {}, None
    for param in operation["parameters"]:
        param = checker.spec["parameters"][param["$ref"].rsplit("/", 1)[-1]] if "$ref" in param else param
        if param["name"] not in parameters:
            continue
        value = parameters[param["name"]]
        if param["in"] == "path":
            path = path.replace("{" + param["name"] + "}", quote(value, safe=""))
        elif param["in"] == "query":
            query[param["name"]] = str(value).lower() if isinstance(value, bool) else str(value)
        else:
            body = value
    return path, query, body


def _example(checker: SpecChecker, file_name: str) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """(method, path template, operation, example) of the example in ``file_name``."""
    method, template, operation, _, example = next(e for e in _examples(checker) if e[3].endswith(file_name))
    return method, template, operation, example


def test_every_example_request_and_response_conforms(checker: SpecChecker) -> None:
    examples = _examples(checker)
    assert len(examples) == 27 and len({e[2]["operationId"] for e in examples}) == 25
    problems = {}
    for method, template, operation, _, example in examples:
        parameters = dict(example["parameters"], **{"api-version": API_VERSION})
        path, query, body = _request(checker, template, operation, parameters)
        found = checker.check_request(method, path, query, body)
        for status, response in example["responses"].items():
            found += checker.check_response(method, path, int(status), response.get("body"))
        if found:
            problems[operation["operationId"]] = found
    assert problems == {}


def test_examples_api_version_is_refused_unless_allowed(checker: SpecChecker) -> None:
    method, template, operation, example = _example(checker, "/SMMapsGenerateSingleMachineDependencyPost.json")
    path, query, body = _request(checker, template, operation, example["parameters"])
    assert query["api-version"] == "2016-08-02"
    assert checker.check_request(method, path, query, body) == [
        f"query: api-version '2016-08-02' is not one of ['{API_VERSION}']"
    ]
    assert SpecChecker.load(api_versions={"2016-08-02"}).check_request(method, path, query, body) == []


def test_a_full_url_with_its_own_query_is_checked(checker: SpecChecker) -> None:
    url = f"https://management.azure.com{BASE}/machines?api-version={API_VERSION}&live=true&%24top=200"
    assert checker.check_request("GET", url, None, None) == []
    assert checker.check_request("GET", url, {"$top": "5"}, None) == ["query: '$top' is given 2 times"]


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/machines", {}, "query: required parameter 'api-version' is missing"),
        ("GET", "/machines", {**GOOD_QUERY, "$top": "500"}, "query: $top: 500 is outside 1..200"),
        ("GET", "/machines", {**GOOD_QUERY, "$top": "0"}, "query: $top: 0 is outside 1..200"),
        ("GET", "/machines", {**GOOD_QUERY, "$top": "ten"}, "query: $top='ten' is not an integer"),
        ("GET", "/machines", {**GOOD_QUERY, "live": "yes"}, "query: live='yes' is not a boolean"),
        ("GET", "/machines", {**GOOD_QUERY, "startTime": "2018-01-08 19:50"},
         "query: startTime='2018-01-08 19:50' is not an RFC 3339 date-time"),
        ("GET", "/machines", {**GOOD_QUERY, "filter": "x"},
         "query: unknown parameter 'filter' for Machines_ListByWorkspace"),
        ("GET", "/machines/m-1/ports", {**GOOD_QUERY, "$top": "10"},
         "query: unknown parameter '$top' for Machines_ListPorts"),
        ("GET", "/machinez", GOOD_QUERY, f"path: '{BASE}/machinez' matches no path of the spec"),
        ("DELETE", "/machines/m-1", GOOD_QUERY, f"path: DELETE is not defined for {TEMPLATE}/machines/{{machineName}} (only ['GET'])"),
        # %21 is '!': the decoded name "m!" has 2 characters, under machineName's minimum of 3.
        ("GET", "/machines/m%21", GOOD_QUERY, "path: machineName='m!' has 2 characters, allowed 3..64"),
        ("GET", "/machineGroups/not-a-guid", GOOD_QUERY,
         "path: machineGroupName='not-a-guid' has 10 characters, allowed 36..36"),
    ],
)
def test_broken_requests_are_refused(checker: SpecChecker, method: str, path: str, query: dict, expected: str) -> None:
    assert checker.check_request(method, BASE + path, query, None) == [expected]


def test_path_parameter_patterns_are_checked(checker: SpecChecker) -> None:
    path = BASE.replace("law-prod", "---") + "/machines"
    assert checker.check_request("GET", path, GOOD_QUERY, None) == [
        "path: workspaceName='---' does not match '[a-zA-Z0-9_][a-zA-Z0-9_-]+[a-zA-Z0-9_]'"
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, ["body: Maps_Generate requires a 'request' body"]),
        ({"kind": "map:single-machine-dependency"}, ["request body: required property 'machineId' is missing"]),
        ({"kind": "map:single-machine-dependency", "machineId": 42},
         ["request body.machineId: expected string, got integer"]),
        ({"kind": "map:single-machine-dependency", "machineId": "x", "startTime": "yesterday"},
         ["request body.startTime: 'yesterday' is not an RFC 3339 date-time"]),
        ({"kind": "map:single-machine-dependency", "machineID": "x"},
         ["request body: required property 'machineId' is missing",
          "request body: property 'machineID' is not in the schema"]),
        ({"kind": "map:machine-list-dependency", "machineIds": "m-1"},
         ["request body.machineIds: expected array, got string"]),
        ({"kind": "map:everything", "machineId": "x"},
         ["request body.kind: 'map:everything' is not a kind of MapRequest (expected one of "
          "['map:machine-group-dependency', 'map:machine-list-dependency', 'map:single-machine-dependency'])",
          "request body.kind: 'map:everything' is not one of "
          "['map:single-machine-dependency', 'map:machine-group-dependency', 'map:machine-list-dependency']",
          "request body: property 'machineId' is not in the schema"]),
        ([], ["request body: expected object, got array"]),
    ],
)
def test_broken_map_requests_are_refused(checker: SpecChecker, body: object, expected: list[str]) -> None:
    assert checker.check_request("POST", BASE + "/generateMap", GOOD_QUERY, body) == expected


def test_a_get_with_a_body_is_refused(checker: SpecChecker) -> None:
    assert checker.check_request("GET", BASE + "/machines", GOOD_QUERY, {}) == [
        "body: Machines_ListByWorkspace takes no body"
    ]


@pytest.fixture(scope="module")
def map_response(checker: SpecChecker) -> dict[str, Any]:
    return _example(checker, "/SMMapsGenerateSingleMachineDependencyPost.json")[3]["responses"]["200"]["body"]


def _broken(body: dict[str, Any], change) -> dict[str, Any]:
    body = copy.deepcopy(body)
    change(body)
    return body


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda b: b.pop("endTime"), ["response body: required property 'endTime' is missing"]),
        (lambda b: b["map"].pop("edges"), ["response body.map: required property 'edges' is missing"]),
        (lambda b: b["map"]["nodes"]["ports"][0]["properties"].update(portNumber="80"),
         ["response body.map.nodes.ports[0].properties.portNumber: expected integer, got string"]),
        (lambda b: b["map"]["nodes"]["machines"][0]["properties"].update(monitoringState="sleeping"),
         ["response body.map.nodes.machines[0].properties.monitoringState: 'sleeping' is not one of "
          "['monitored', 'discovered']"]),
        (lambda b: b["map"]["nodes"]["machines"][0].update(kind="process"),
         ["response body.map.nodes.machines[0].kind: 'process' is not a kind of Machine (expected one of ['machine'])"]),
        (lambda b: b["map"]["edges"]["connections"][0]["properties"]["source"].update(kind="ref:nothing"),
         ["response body.map.edges.connections[0].properties.source.kind: 'ref:nothing' is not a kind of "
          "ResourceReference (expected one of ['ref:clientgroup', 'ref:machine', 'ref:machinewithhints', "
          "'ref:port', 'ref:process'])",
          "response body.map.edges.connections[0].properties.source.kind: 'ref:nothing' is not one of "
          "['ref:machine', 'ref:machinewithhints', 'ref:process', 'ref:port', 'ref:onmachine', 'ref:clientgroup']"]),
        (lambda b: b["map"]["edges"]["connections"][0]["properties"].pop("destination"),
         ["response body.map.edges.connections[0].properties: required property 'destination' is missing"]),
        (lambda b: b["map"]["nodes"]["clientGroups"][0]["properties"].pop("clientsOf"),
         ["response body.map.nodes.clientGroups[0].properties: required property 'clientsOf' is missing"]),
    ],
)
def test_broken_map_responses_are_refused(
    checker: SpecChecker, map_response: dict[str, Any], change, expected: list[str]
) -> None:
    assert checker.check_response("POST", BASE + "/generateMap", 200, _broken(map_response, change)) == expected


def test_open_enums_and_extra_response_fields_are_accepted(checker: SpecChecker, map_response: dict[str, Any]) -> None:
    def change(body: dict[str, Any]) -> None:
        body["map"]["nodes"]["processes"][0]["properties"]["role"] = "cacheServer"  # modelAsString: true
        body["map"]["nodes"]["processes"][0]["properties"]["newField"] = {"any": "thing"}
        body["map"]["edges"]["connections"][0]["properties"]["source"]["kind"] = "ref:onmachine"  # listed, no subtype

    assert checker.check_response("POST", BASE + "/generateMap", 200, _broken(map_response, change)) == []


def test_statuses_must_be_documented(checker: SpecChecker) -> None:
    url = BASE + "/machines/m-1"
    assert checker.check_response("GET", url, 404, {"error": {"code": "NotFound", "message": "no"}}) == []
    assert checker.check_response("GET", url, 404, {"error": {"message": "no"}}) == [
        "response body.error: required property 'code' is missing"
    ]
    assert checker.check_response("GET", url, 202, {}) == [
        "status 202 is not documented for Machines_Get (only ['200'])"
    ]
    group = BASE + "/machineGroups/ccfbf4bf-dc08-4371-9e9b-00a8d875d45a"
    assert checker.check_response("DELETE", group, 204, None) == []
    assert checker.check_response("DELETE", group, 204, {"deleted": True}) == [
        "status 204 has no body in the spec, but one was sent"
    ]


def test_string_lengths_in_bodies_are_checked(checker: SpecChecker) -> None:
    url = BASE + "/machineGroups/ccfbf4bf-dc08-4371-9e9b-00a8d875d45a"
    group = {"kind": "machineGroup", "properties": {"displayName": "Web tier"}}
    assert checker.check_request("PUT", url, GOOD_QUERY, group) == []
    group["properties"]["displayName"] = ""
    assert checker.check_request("PUT", url, GOOD_QUERY, group) == [
        "request body.properties.displayName: length 0 is outside 1..256"
    ]

"""Whatever JSON arrives, the parser answers with a model or a ParseError, never another exception."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from servicemap_sync.errors import ParseError
from servicemap_sync.model import ServerMap
from servicemap_sync.sources.parse import parse_machine, parse_machine_page, parse_map_response, ref_key
from test_parse import SQL, WEB, sample_map

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30)
    | st.sampled_from(["machine", "process", "port", "clientGroup", "ref:process", "ref:clientgroup", "rel:connection",
                       "/machines/m-1", "/machines/m-1/processes/p-1", "2018-01-08T19:50:39Z"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["kind", "id", "name", "properties", "machine", "map", "nodes", "edges", "value", "source",
                        "destination", "startTime", "endTime", "clientsOf", "portNumber"]) | st.text(max_size=8),
        children, max_size=5),
    max_leaves=20,
)


def _locations(value: Any, trail: tuple = ()) -> list[tuple]:
    """Every (container path, key) inside ``value``."""
    found = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found.append((*trail, key))
        found += _locations(item, (*trail, key))
    return found


BASE = sample_map()
LOCATIONS = _locations(BASE)


def _parse_or_parse_error(body: object) -> ServerMap | None:
    try:
        return parse_map_response(body, server="web01", focus_machine=WEB)
    except ParseError as exc:
        assert exc.server == "web01" and exc.field and str(exc).startswith(f"web01: {exc.field}: ")
        return None


@FUZZ
@given(json_values)
def test_arbitrary_json_is_a_parse_error(body: object) -> None:
    assert _parse_or_parse_error(body) is None


@FUZZ
@given(st.sampled_from(LOCATIONS), json_values, st.booleans())
def test_one_damaged_value_in_a_real_map(location: tuple, replacement: object, delete: bool) -> None:
    body = copy.deepcopy(BASE)
    *parents, last = location
    container = body
    for key in parents:
        container = container[key]
    if delete and isinstance(container, dict):
        del container[last]
    else:
        container[last] = replacement
    result = _parse_or_parse_error(body)
    if result is not None:
        assert result.focus.name == WEB.lower()


@FUZZ
@given(st.lists(st.sampled_from(LOCATIONS), min_size=1, max_size=4), st.data())
def test_several_case_changes_never_crash(locations: list[tuple], data: st.DataObject) -> None:
    body = copy.deepcopy(BASE)
    for location in locations:
        *parents, last = location
        container = body
        for key in parents:
            container = container[key]
        value = container[last]
        if isinstance(value, str):
            container[last] = data.draw(st.sampled_from([value.upper(), value.lower(), "", "???"]))
    _parse_or_parse_error(body)


@FUZZ
@given(json_values)
def test_other_entry_points_raise_only_parse_error(value: object) -> None:
    for call in (lambda: parse_machine(value), lambda: parse_machine_page(value),
                 lambda: parse_machine_page({"value": [value]}), lambda: ref_key(value, where="ref")):
        try:
            call()
        except ParseError:
            pass


@FUZZ
@given(st.integers(min_value=0, max_value=30), st.permutations(range(3)))
def test_valid_maps_keep_every_edge(extra: int, order: list[int]) -> None:
    body = copy.deepcopy(BASE)
    nodes, edges = body["map"]["nodes"], body["map"]["edges"]
    nodes["machines"] = [nodes["machines"][i] for i in order]
    for i in range(extra):
        clone = copy.deepcopy(edges["connections"][i % 3])
        clone["id"] += f"-{i}"
        edges["connections"].append(clone)
    result = parse_map_response(body, server="web01", focus_machine=SQL)
    assert len(result.connections) == 3 + extra
    assert [c.id for c in result.connections] == [c["id"] for c in edges["connections"]]

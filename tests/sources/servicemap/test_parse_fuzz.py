"""Whatever JSON arrives, the parser answers with a model or a ParseError, never another exception."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from servicemap_sync.errors import ParseError
from servicemap_sync.model import ServerMap
from servicemap_sync.sources.servicemap.parse import parse_machine, parse_machine_page, parse_map_response, ref_key
from test_parse import SHORTCUTS, SQL, WEB, replaced, sample_map

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


# --- the shortcut for the usual shape reads nothing differently -------------------------------

# Values that are odd but valid somewhere: they send an item from the shortcut to the careful readers.
odd_values = st.sampled_from(["ref:machinewithhints", "ref:onmachine", "ref:machine", "ref:port", "", "???", None,
                              "/machines/m-1/ports/b-1", "m!m-1!p!p-1", 443, True, 1.5, [], {}])
edits = st.lists(st.tuples(st.sampled_from(LOCATIONS), json_values | odd_values, st.booleans()), min_size=1, max_size=3)


def _edited(base: Any, changes: list[tuple[tuple, object, bool]]) -> Any:
    """A deep copy of ``base`` with each (location, value, delete) change made, unless an earlier
    change removed the place."""
    body = copy.deepcopy(base)
    for (*parents, last), value, delete in changes:
        container = body
        try:
            for key in parents:
                container = container[key]
        except (KeyError, IndexError, TypeError):
            continue
        if isinstance(container, dict) and delete:
            container.pop(last, None)
        elif isinstance(container, dict) or isinstance(container, list) and isinstance(last, int) \
                and last < len(container):
            container[last] = value
    return body


def _outcome(call) -> object:
    """What ``call()`` gives: its result, or the message and field of its ParseError."""
    try:
        return call()
    except ParseError as exc:
        return str(exc), exc.field


def _careful(call) -> object:
    """:func:`_outcome` with every shortcut switched off, so only the careful readers read."""
    with replaced(SHORTCUTS, lambda *_args: None):
        return _outcome(call)


@FUZZ
@given(edits)
def test_the_shortcut_and_the_careful_readers_agree_on_damaged_maps(changes: list) -> None:
    body = _edited(BASE, changes)
    call = lambda: parse_map_response(body, server="web01", focus_machine=WEB)  # noqa: E731
    assert _outcome(call) == _careful(call)


KINDS = ["ref:machine", "ref:machinewithhints", "ref:process", "ref:port", "ref:clientgroup", "ref:onmachine", "machine",
         "process", "port", "clientGroup", "rel:connection", "rel:acceptor"]
DELETE = object()


def test_every_single_edit_of_a_real_map_reads_the_same_without_the_shortcut() -> None:
    """Exhaustive where the fuzz tests sample: each place of the sample map deleted or set to an
    odd value (and each ``kind`` to every kind), read with and without the shortcut."""
    body = copy.deepcopy(BASE)
    call = lambda: parse_map_response(body, server="web01", focus_machine=WEB)  # noqa: E731
    differences, edits = [], 0
    for *parents, last in LOCATIONS:
        container = body
        for key in parents:
            container = container[key]
        original = container[last]
        values = [None, "", 0, True, 1.5, [], {}, "???", *(KINDS if last == "kind" else [])]
        if isinstance(original, str):
            values += [original.upper(), original.lower()]
        for value in [DELETE, *values] if isinstance(container, dict) else values:
            if value is DELETE:
                del container[last]
            else:
                container[last] = value
            edits += 1
            if _outcome(call) != _careful(call):
                differences.append(((*parents, last), value))
            container[last] = original
    assert differences == [] and edits > 3000


REFS = [edge["properties"][end] for kind in ("connections", "acceptors") for edge in BASE["map"]["edges"][kind]
        for end in ("source", "destination", "serverPort") if end in edge["properties"]]


@FUZZ
@given(st.sampled_from(REFS), st.data())
def test_the_shortcut_and_the_careful_readers_agree_on_references(ref: dict, data: st.DataObject) -> None:
    locations = _locations(ref)
    damaged = _edited(ref, data.draw(st.lists(st.tuples(st.sampled_from(locations), json_values | odd_values,
                                                        st.booleans()), max_size=3)))
    call = lambda: ref_key(damaged, where="ref")  # noqa: E731
    assert _outcome(call) == _careful(call)

"""Element IDs: valid characters, uniqueness, length and stability (servicemap_sync.mp.ids)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servicemap_sync.errors import RenderError
from servicemap_sync.model import NodeKey
from servicemap_sync.mp import ids

ID_PART = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def key(name: str) -> NodeKey:
    return NodeKey("process", "m-web", name)


def assert_valid_part(part: str) -> None:
    assert ID_PART.fullmatch(part), part
    assert len(part) <= ids.NAME_MAX


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sqlservr", "sqlservr"),
        ("web-01", "web_01"),
        ("a  --  b", "a_b"),
        ("1433", "x1433"),
        ("_private", "x_private"),
        ("SQL Server", "sql_server"),
        ("", "x"),
    ],
)
def test_clean_part(text: str, expected: str) -> None:
    assert ids.clean_part(text) == expected


def test_names_that_clean_alike_get_identity_suffixes() -> None:
    names = ids.assign_names({key("p-1"): "web-01", key("p-2"): "web_01", key("p-3"): "sqlservr"})
    assert names[key("p-3")] == "sqlservr"
    assert names[key("p-1")] != names[key("p-2")]
    assert all(re.fullmatch(r"web_01_[0-9a-f]{8}", names[key(k)]) for k in ("p-1", "p-2"))


def test_case_only_differences_collide() -> None:
    names = ids.assign_names({key("p-1"): "Java", key("p-2"): "java"})
    assert names[key("p-1")].lower() != names[key("p-2")].lower()
    assert all(name.startswith("java_") for name in names.values())


def test_suffix_depends_on_identity_not_on_arrival_order() -> None:
    labels = {key("p-1"): "w3wp", key("p-2"): "w3wp", key("p-3"): "w3wp"}
    forward = ids.assign_names(labels)
    backward = ids.assign_names(dict(reversed(list(labels.items()))))
    assert forward == backward
    # p-1's name does not change when p-3 is not there.
    assert ids.assign_names({key("p-1"): "w3wp", key("p-2"): "w3wp"})[key("p-1")] == forward[key("p-1")]


def test_long_names_are_cut_and_stay_distinct() -> None:
    common = "a" * 300
    names = ids.assign_names({key("p-1"): common + "1", key("p-2"): common + "2"})
    assert names[key("p-1")] != names[key("p-2")]
    for name in names.values():
        assert_valid_part(name)


@pytest.mark.parametrize("label", ["???", "", "сервер", "服务器", "<&>\"'"])
def test_names_without_latin_letters_get_a_suffix(label: str) -> None:
    name = ids.assign_names({key("p-1"): label})[key("p-1")]
    assert_valid_part(name)
    assert re.search(r"_[0-9a-f]{8}$", name)


def test_non_latin_names_stay_apart() -> None:
    names = ids.assign_names({key("p-1"): "сервер", key("p-2"): "服务器", key("p-3"): "???"})
    assert len(set(names.values())) == 3


def test_literal_name_equal_to_a_suffixed_one_is_widened() -> None:
    suffixed = ids.assign_names({key("p-1"): "java", key("p-2"): "java"})[key("p-1")]
    names = ids.assign_names({key("p-1"): "java", key("p-2"): "java", key("p-3"): suffixed})
    assert len({n.lower() for n in names.values()}) == 3
    for name in names.values():
        assert_valid_part(name)


@given(st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=80), max_size=30))
def test_any_labels_give_valid_unique_names(labels: dict[str, str]) -> None:
    names = ids.assign_names({key(k): v for k, v in labels.items()})
    assert len({n.lower() for n in names.values()}) == len(names)
    for name in names.values():
        assert_valid_part(name)


def test_mp_id_keeps_the_host_name_readable() -> None:
    assert ids.mp_id("ServiceMapSync", "WEB-01.Contoso.com") == "ServiceMapSync.web_01.contoso.com"
    assert ids.mp_id("Contoso.SvcMap", "10.0.0.5") == "Contoso.SvcMap.x10.x0.x0.x5"


@pytest.mark.parametrize("server", ["x" * 300, "a." * 200, "???", "сервер.local"])
def test_mp_id_is_valid_and_leaves_room_for_element_suffixes(server: str) -> None:
    mp = ids.mp_id("ServiceMapSync", server)
    assert ids.is_valid_id(mp)
    assert len(mp) <= ids.MAX_MP_ID_LENGTH
    longest = ids.arrow_id(mp, ("clientGroup", "c" * ids.NAME_MAX), ("process", "p" * ids.NAME_MAX), 65535)
    assert ids.is_valid_id(longest) and len(longest) < 256


def test_distinct_long_server_names_get_distinct_mp_ids() -> None:
    assert ids.mp_id("S", "x" * 300 + "a") != ids.mp_id("S", "x" * 300 + "b")


@pytest.mark.parametrize("prefix", ["", "Service-Map", "1Sync", "Sync.", "A" * 120])
def test_bad_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(RenderError, match="mp_id_prefix"):
        ids.mp_id(prefix, "web01")


def test_element_id_shapes() -> None:
    mp = "S.web01"
    assert ids.service_id(mp) == "S.web01.Service"
    assert ids.component_id(mp, "clientGroup", "w3wp") == "S.web01.Clients.w3wp"
    assert ids.arrow_id(mp, ("process", "w3wp"), ("machine", "sql01"), None) == (
        "S.web01.Arrow.Process.w3wp.Machine.sql01.PAny")
    # The kind words keep "Process a → Machine b" apart from "Machine a → Process b".
    assert ids.arrow_id(mp, ("process", "a"), ("machine", "b"), 1) != ids.arrow_id(mp, ("machine", "a"), ("process", "b"), 1)

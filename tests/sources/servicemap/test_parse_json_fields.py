"""The JSON field readers: the shortcut's group reader answers as the careful readers do."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servicemap_sync.sources.servicemap.json_fields import Invalid, optional_strings, usual_strings

KEYS = ("a", "b", "c")
values = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5) | st.lists(
    st.none(), max_size=1) | st.dictionaries(st.just("x"), st.none(), max_size=1)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*KEYS, "d"]), values, max_size=4))
def test_usual_strings_answers_as_optional_strings_or_declines(obj: dict) -> None:
    try:
        expected = optional_strings(obj, KEYS, ".x")
    except Invalid as exc:
        assert usual_strings(obj, KEYS) is None
        assert exc.path.startswith(".x.") and exc.what.startswith("expected a string, got ")
    else:
        assert usual_strings(obj, KEYS) == expected


def test_optional_strings_names_the_first_wrong_field() -> None:
    with pytest.raises(Invalid) as caught:
        optional_strings({"a": "ok", "b": 1, "c": []}, KEYS, ".x")
    assert (caught.value.path, caught.value.what) == (".x.b", "expected a string, got a number")


def test_usual_strings_reads_an_absent_object_as_empty_and_declines_other_values() -> None:
    assert usual_strings(None, KEYS) == [None, None, None]
    assert [usual_strings(value, KEYS) for value in ([], "a", 0, False)] == [None, None, None, None]
    assert usual_strings({"a": "x", "c": None, "e": 5}, KEYS) == ["x", None, None]

"""Management-pack version numbers."""

from __future__ import annotations

import pytest

from servicemap_sync.publish import next_version, version_tuple


def test_first_version():
    assert next_version(None) == "1.0.0.0"


@pytest.mark.parametrize(
    ("previous", "expected"),
    [("1.0.0.7", "1.0.0.8"), ("1.0.0.9", "1.0.0.10"), ("2.3.4.5", "2.3.4.6"), ("1.0.0.0", "1.0.0.1")],
)
def test_next_version_bumps_the_revision(previous, expected):
    assert next_version(previous) == expected


def test_versions_compare_numerically_not_as_text():
    assert version_tuple("1.0.0.10") > version_tuple("1.0.0.9")
    assert version_tuple("7.5.8501.0") == (7, 5, 8501, 0)
    assert max(["1.0.0.9", "1.0.0.10", "1.0.0.2"], key=version_tuple) == "1.0.0.10"


@pytest.mark.parametrize("bad", ["", "1", "1.0.0.x", "1..0.0", "1.0.0.0.0", "v1.0.0.0", " 1.0.0.0", "12345678901.0"])
def test_malformed_versions_are_refused(bad):
    with pytest.raises(ValueError):
        version_tuple(bad)


@pytest.mark.parametrize("bad", ["1.0.0", "1.0", "a.b.c.d"])
def test_next_version_needs_four_parts(bad):
    with pytest.raises(ValueError):
        next_version(bad)


def test_the_revision_cannot_pass_ten_digits():
    with pytest.raises(ValueError, match="cannot grow"):
        next_version("1.0.0.9999999999")

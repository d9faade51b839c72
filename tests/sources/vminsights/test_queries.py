"""The KQL: literals that cannot break out, and every query shape valid over the documented columns."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from servicemap_sync.emulator.logs import parse_query
from servicemap_sync.sources.vminsights.queries import (
    MAP_QUERIES, SHAPES, datetime_literal, machines_query, string_literal,
)

KQL_CHECK = Path(__file__).resolve().parents[4] / "shared" / "tools" / "kql-check" / "kql-check"
END = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
START = END - timedelta(minutes=60)
#: names a workspace could hold or an attacker could plant: quotes, backslashes, a line break, KQL
AWKWARD = ("m-0154a128-d533-5426-ae8c-4260cfef3ac6", 'm-"quoted"', "m-back\\slash", "m-two\nlines",
           'm-x"); VMConnection | take 1 //', "m-ünïcode")


def every_query() -> dict[str, str]:
    """One query of each shape the source can send, over awkward machine names."""
    return {"machines": machines_query(start=START, end=END),
            **{shape: build(AWKWARD, start=START, end=END) for shape, build in MAP_QUERIES.items()}}


def test_every_shape_is_covered() -> None:
    assert set(every_query()) == set(SHAPES)


@pytest.mark.parametrize("value", AWKWARD)
def test_a_string_literal_reads_back_as_the_value(value: str) -> None:
    literal = string_literal(value)
    assert json.loads(literal) == value  # KQL's double-quoted escapes are JSON's for these characters
    assert "\n" not in literal


def test_control_characters_and_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="control character"):
        string_literal("m-\x00")
    with pytest.raises(ValueError, match="naive"):
        datetime_literal(datetime(2026, 1, 1))


def test_datetime_literal_is_utc_with_seven_digits() -> None:
    moment = datetime(2026, 11, 23, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert datetime_literal(moment) == "datetime(2026-11-23T12:00:00.1234560Z)"


def test_the_emulator_reads_back_the_window_and_machines_of_every_shape() -> None:
    for shape, text in every_query().items():
        parsed = parse_query(text)
        assert (parsed.shape, parsed.start, parsed.end) == (shape, START, END)
        assert set(parsed.machines) == (set() if shape == "machines" else set(AWKWARD))


def test_every_query_passes_kql_check() -> None:
    """Microsoft's Kusto language service finds no error in any query the source can send."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: kql-check runs Microsoft's Kusto language service on node")
    if not KQL_CHECK.parents[2].is_dir():  # as the spec checks: a clone without ../shared beside it
        pytest.skip("needs ../shared (its tools/kql-check) beside the repo")
    assert KQL_CHECK.is_file(), f"kql-check not found at {KQL_CHECK} (../shared/tools/kql-check)"
    texts = every_query()
    done = subprocess.run([str(KQL_CHECK), "--json", "-"], input=json.dumps(list(texts.values())),
                          capture_output=True, text=True, timeout=600, check=False)
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(texts), done.stderr
    errors = {shape: r["errors"] for shape, r in zip(texts, results) if r["errors"]}
    assert errors == {} and done.returncode == 0, done.stderr

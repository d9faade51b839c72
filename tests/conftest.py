"""Shared fixtures: the real emulator over HTTPS and settings that point at it."""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Iterator

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))  # tests/spec_check.py and friends

from servicemap_sync.demo import emulator_settings  # noqa: E402
from servicemap_sync.emulator import Emulator, Scenario, load_scenario  # noqa: E402


@pytest.fixture(scope="session")
def checker():
    """The Service Map spec checker (``tests/spec_check.py``); it skips where ``../shared`` is absent."""
    from spec_check import SpecChecker

    return SpecChecker.load()


@pytest.fixture(scope="session")
def sample_scenario() -> Scenario:
    return load_scenario()


@pytest.fixture
def sample_emu(sample_scenario: Scenario) -> Iterator[Emulator]:
    with Emulator(sample_scenario) as running:
        yield running


@pytest.fixture
def make_settings(tmp_path: pathlib.Path):
    """``make_settings(emu, servers=None, **sync)``: validated settings for a run against ``emu``."""

    def make(emu: Emulator, servers: list[str] | None = None, **sync: object):
        return emulator_settings(emu, output=tmp_path / "out", sync=dict(sync),
                                 servers=list(servers if servers is not None else emu.scenario.servers_group))

    return make

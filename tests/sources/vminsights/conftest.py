"""Fixtures for the VM insights source: the real credential and source against the emulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from servicemap_sync.emulator import Emulator
from servicemap_sync.sources.vminsights.source import VmInsightsSource

from .support import QUICK_RETRY, credential


@pytest.fixture
def make_source(sample_emu: Emulator) -> Iterator[Callable[..., VmInsightsSource]]:
    """``make_source(**options)``: a source on the sample emulator (closed after the test)."""
    made: list[VmInsightsSource] = []

    def make(emu: Emulator = sample_emu, **options: object) -> VmInsightsSource:
        options = {"workspace_id": emu.scenario.customer_id, "timeout_seconds": 10, "retry": QUICK_RETRY, **options}
        source = VmInsightsSource(credential(emu), logs_query_url=emu.logs_query_url, ca_bundle=str(emu.ca_path),
                                  **options)
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


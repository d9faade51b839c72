"""Headless Chromium for the review-page tests, and the diagrams they draw.

The browser is Debian's ``chromium`` (``/usr/bin/chromium``, or ``SERVICEMAP_SYNC_CHROMIUM``),
driven by Playwright; no browser is ever downloaded. Without it these tests fail, saying how to
install it: they never skip, so CI cannot pass without having looked at the pages.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from servicemap_sync.emulator import load_scenario
from servicemap_sync.emulator.synthetic import synthetic_map
from servicemap_sync.graph import build_graph
from servicemap_sync.mp.diagram import Diagram, build_diagram
from servicemap_sync.sources.servicemap.parse import parse_map_response

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scenario_lookup
from scenario_lookup import machine_named  # noqa: E402

CHROMIUM = os.environ.get("SERVICEMAP_SYNC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PREFIX = "ServiceMapSync"
SCENARIO = load_scenario()
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def sample_map_body(server: str) -> tuple[dict, str]:
    machine = machine_named(SCENARIO, server)
    return {"startTime": "2026-11-23T10:00:00Z", "endTime": "2026-11-23T11:00:00Z", "map": SCENARIO.maps[machine]}, machine


def sample_graph(server: str):
    body, machine = sample_map_body(server)
    return build_graph(parse_map_response(body, server=server, focus_machine=machine))


def sample_diagram(server: str) -> Diagram:
    return build_diagram(sample_graph(server), mp_id_prefix=PREFIX)


def synthetic_diagram(connections: int = 180) -> Diagram:
    """About 100 boxes at 180 connections: the server, one process, 81 peers, 18 discovered machines."""
    raw = synthetic_map(connections)
    focus = raw["nodes"]["machines"][0]["name"]
    body = {"startTime": "2026-11-23T10:00:00Z", "endTime": "2026-11-23T11:00:00Z", "map": raw}
    graph = build_graph(parse_map_response(body, server="srv0000.synthetic.example", focus_machine=focus))
    return build_diagram(graph, mp_id_prefix=PREFIX)


@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"the review-page tests need headless Chromium at {CHROMIUM}: "
                    "apt-get install -y --no-install-recommends chromium (or set SERVICEMAP_SYNC_CHROMIUM)",
                    pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the review-page tests need Playwright: pip install -e '.[test]'", pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Opened:
    """A page opened from a file, and everything it did that a page must not do."""

    page: object
    path: Path
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        """No console error, no page error, no request but for files beside the page (its own links)."""
        assert self.console_errors == []
        assert self.page_errors == []
        folder = self.path.parent.as_uri() + "/"
        assert [url for url in self.requests if not (url.startswith(folder) and "/" not in url[len(folder):])] == []


class _Tab:
    """One browser tab reused by the tests (a new context costs a quarter of a second); what it
    records goes to the page opened last."""

    def __init__(self, browser, *, bypass_csp: bool) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 900}, offline=True,
                                           java_script_enabled=True, bypass_csp=bypass_csp)
        self.page = self.context.new_page()
        self.current: Opened | None = None
        self.page.on("console", lambda msg: msg.type == "error" and self.current.console_errors.append(msg.text))
        self.page.on("pageerror", lambda exc: self.current.page_errors.append(str(exc)))
        self.page.on("request", lambda request: self.current.requests.append(request.url))

    def open(self, path: Path) -> Opened:
        self.page.goto("about:blank")
        self.current = Opened(self.page, path)
        self.page.goto(path.as_uri(), wait_until="load")
        return self.current


@pytest.fixture(scope="package")
def tabs(browser) -> Iterator[dict[bool, _Tab]]:
    made: dict[bool, _Tab] = {}

    class Tabs(dict):
        def __missing__(self, bypass_csp: bool) -> _Tab:
            made[bypass_csp] = self[bypass_csp] = _Tab(browser, bypass_csp=bypass_csp)
            return self[bypass_csp]

    yield Tabs()
    for tab in made.values():
        tab.context.close()


@pytest.fixture
def open_page(tabs, tmp_path: Path):
    """``open_page(html, name="page.html", directory=tmp_path, bypass_csp=False)``: the page
    written to a file and opened from it, offline, as an operator opens it; console errors,
    page errors and requests recorded (:class:`Opened`)."""

    def open_(html: bytes, name: str = "page.html", *, directory: Path | None = None,
              bypass_csp: bool = False) -> Opened:
        path = (directory or tmp_path) / name
        path.write_bytes(html)
        return tabs[bypass_csp].open(path)

    return open_

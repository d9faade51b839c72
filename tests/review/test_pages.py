"""The review pages without a browser: deterministic bytes, escaping, no network, change, wrapping."""

from __future__ import annotations

import base64
import hashlib
import random
import re
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servicemap_sync.graph import build_graph
from servicemap_sync.review import (
    IndexEntry, Previous, diff, index_entry, page_filename, render_index_page, render_server_page,
)
from servicemap_sync.review.change import arrow_key, split_arrow_key
from servicemap_sync.review.text import text_width, wrap
from servicemap_sync.sources.servicemap.parse import parse_map_response

from .conftest import PREFIX, SCENARIO, sample_diagram, sample_graph, sample_map_body, synthetic_diagram


@pytest.mark.parametrize("server", SCENARIO.servers_group)
def test_the_same_graph_gives_the_same_bytes(server: str) -> None:
    first = render_server_page(sample_graph(server), mp_id_prefix=PREFIX, version="1.0.0.2")
    assert render_server_page(sample_graph(server), mp_id_prefix=PREFIX, version="1.0.0.2") == first
    # the map's lists in another order: the same graph, so the same page
    body, machine = sample_map_body(server)
    shuffled = {**body["map"], "nodes": {k: list(reversed(v)) for k, v in body["map"]["nodes"].items()},
                "edges": {k: random.Random(7).sample(v, len(v)) for k, v in body["map"]["edges"].items()}}
    graph = build_graph(parse_map_response({**body, "map": shuffled}, server=server, focus_machine=machine))
    assert render_server_page(graph, mp_id_prefix=PREFIX, version="1.0.0.2") == first


def test_the_same_change_gives_the_same_bytes() -> None:
    diagram = sample_diagram("web01.contoso.com")
    ids = [c.id for c in diagram.components]
    keys = [arrow_key(a) for a in diagram.arrows]
    previous = Previous.of(ids[2:] + [f"{diagram.mp_id}.Machine.gone"], keys[3:] + [f"{ids[-1]}->{diagram.mp_id}.Machine.gone:1"])
    again = Previous.of(sorted(previous.components, reverse=True), sorted(previous.arrows, reverse=True))
    assert render_server_page(diagram, previous=previous) == render_server_page(diagram, previous=again)


def test_a_page_needs_no_network_and_runs_no_script() -> None:
    html = render_server_page(synthetic_diagram()).decode("utf-8")
    assert re.findall(r"https?://[^\s\"'<>]+", html) == ["http://www.w3.org/2000/svg"]  # a namespace, not fetched
    assert re.search(r"<script|\son[a-z]+=|src=|href=|@import|url\((?!#head-)", html) is None
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "default-src 'none'" in policy and "script-src 'none'" in policy
    css = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in policy


def test_markup_in_names_is_escaped() -> None:
    from dataclasses import replace

    diagram = sample_diagram("web01.contoso.com")
    evil = "<script>alert('x')</script> \"quoted\" & more"
    components = (replace(diagram.components[0], label=evil, description=evil), *diagram.components[1:])
    html = render_server_page(replace(diagram, components=components, server=evil), title=evil).decode()
    assert "<script" not in html and "alert(&#x27;x&#x27;)" in html
    assert "&lt;script&gt;" in html and "&quot;quoted&quot; &amp; more" in html


def test_previous_from_the_state_and_the_change() -> None:
    diagram = sample_diagram("web01.contoso.com")
    assert Previous.from_state(None) is None
    assert Previous.from_state(SimpleNamespace(version=None, components=(), connections=(), names={})) is None
    ids = sorted(c.id for c in diagram.components)
    keys = sorted(arrow_key(a) for a in diagram.arrows)
    state = SimpleNamespace(version="1.0.0.4", components=tuple(ids), connections=tuple(keys), names={})
    previous = Previous.from_state(state)
    assert diff(diagram, previous).summary() == "unchanged"
    assert diff(diagram, None).summary() == "first version"
    gone = f"{diagram.mp_id}.Machine.old"
    previous = Previous.of(ids[1:] + [gone], keys[1:] + [f"{ids[1]}->{gone}:1433"])
    change = diff(diagram, previous)
    assert change.added_boxes == {ids[0]} and change.removed_boxes == (gone,)
    assert change.summary() == "+1 box, −1 box, +1 arrow, −1 arrow"
    assert split_arrow_key(f"{ids[1]}->{gone}:1433") == (ids[1], gone, ":1433")
    assert split_arrow_key(f"{ids[1]}->{gone}") == (ids[1], gone, "")
    html = render_server_page(diagram, previous=previous, version="1.0.0.5").decode()
    assert "Since the previous version: <strong>+1 box, −1 box, +1 arrow, −1 arrow</strong>" in html


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=300), st.integers(min_value=1, max_value=4))
def test_wrapped_lines_fit_and_keep_the_text(text: str, max_lines: int) -> None:
    lines, cut = wrap(text, 260, 12.5, max_lines=max_lines, bold=True)
    assert len(lines) <= max_lines
    assert all(text_width(line, 12.5, bold=True) <= 260 for line in lines)
    squashed = re.sub(r"\s+", "", text)
    shown = "".join(lines)
    if cut:
        assert shown.endswith("…") and squashed.startswith(re.sub(r"\s+", "", shown[:-1]))
    else:
        assert re.sub(r"\s+", "", shown) == squashed


def test_the_index_page() -> None:
    entries = [index_entry(sample_diagram(s), status="published", version="1.0.0.1") for s in SCENARIO.servers_group]
    entries.append(IndexEntry(server="<b>bad</b>", href="javascript:alert(1)", status="failed",
                              reason="timed out & <gave up>"))
    html = render_index_page(reversed(entries)).decode()
    assert html == render_index_page(entries).decode()  # sorted by server
    assert 'href="javascript%3Aalert%281%29"' in html and "&lt;b&gt;bad&lt;/b&gt;" in html
    assert "timed out &amp; &lt;gave up&gt;" in html
    for server in SCENARIO.servers_group:
        assert f'href="{page_filename(sample_diagram(server).mp_id)}"' in html
    assert "10 servers, 9 with changes, 1 failed." in html

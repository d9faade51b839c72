"""The review pages in a real browser (headless Chromium): every box and arrow drawn where it
belongs, nothing overlapping or off the page at 100 boxes, no console errors, no network, and
markup in names shown as text, never run."""

from __future__ import annotations

import itertools
import re
import struct
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from group_estate import expected_boxes_and_arrows

from servicemap_sync.review import (
    Previous, index_entry, page_filename, render_graph_page, render_index_page, render_server_page,
)
from servicemap_sync.review.change import arrow_key

from .conftest import ARTIFACTS, PREFIX, SCENARIO, sample_diagram, sample_graph, sample_map_body, synthetic_diagram

GEOMETRY = """() => {
  const svg = document.getElementById('map');
  const vb = svg.viewBox.baseVal;
  const abs = r => [r.left + scrollX, r.top + scrollY, r.right + scrollX, r.bottom + scrollY];
  const bbox = el => { const b = el.getBBox(); return [b.x, b.y, b.x + b.width, b.y + b.height]; };
  const boxes = [...svg.querySelectorAll('g.box')].map(g => {
    const r = g.querySelector('rect.shape');
    return {
      id: g.dataset.id, kind: g.dataset.kind, state: g.dataset.state, column: g.dataset.column,
      rect: [r.x.baseVal.value, r.y.baseVal.value, r.x.baseVal.value + r.width.baseVal.value,
             r.y.baseVal.value + r.height.baseVal.value],
      client: abs(r.getBoundingClientRect()),
      texts: [...g.querySelectorAll(':scope > text')].map(t => [t.getAttribute('class'), bbox(t), t.textContent]),
      lines: [...g.querySelectorAll('text.label tspan')].map(t => t.textContent),
      title: g.querySelector(':scope > title').textContent,
    };
  });
  const arrows = [...svg.querySelectorAll('g.arrow')].map(g => {
    const p = g.querySelector('path.line');
    const len = p.getTotalLength();
    const s = p.getPointAtLength(0), e = p.getPointAtLength(len);
    const port = g.querySelector('text.port');
    const style = getComputedStyle(p);
    return {
      id: g.dataset.id, from: g.dataset.from, to: g.dataset.to, port: g.dataset.port,
      failed: g.dataset.failed === 'true', state: g.dataset.state, length: len,
      start: [s.x, s.y], end: [e.x, e.y], path: bbox(p), dash: style.strokeDasharray, stroke: style.stroke,
      label: port ? [bbox(port), port.textContent] : null,
      title: g.querySelector(':scope > title').textContent,
    };
  });
  const doc = document.documentElement;
  return {viewBox: [vb.x, vb.y, vb.width, vb.height], scroll: [doc.scrollWidth, doc.scrollHeight],
          boxes, arrows, legend: document.querySelector('.legend').textContent};
}"""
SLACK = 0.75  # px: rounding of coordinates to one decimal


def _inside(inner, outer, slack: float = SLACK) -> bool:
    return (inner[0] >= outer[0] - slack and inner[1] >= outer[1] - slack
            and inner[2] <= outer[2] + slack and inner[3] <= outer[3] + slack)


def _on_edge(point, rect) -> bool:
    x, y = point
    return (abs(x - rect[0]) <= SLACK or abs(x - rect[2]) <= SLACK) and rect[1] <= y <= rect[3]


def _check_layout(geometry: dict) -> None:
    """Boxes pairwise disjoint; boxes, their text, arrows and port labels inside the SVG and the
    document; every arrow from an edge of its source box to an edge of its target box."""
    _x, _y, width, height = geometry["viewBox"]
    page = [0, 0, width, height]
    boxes = geometry["boxes"]
    for a, b in itertools.combinations(boxes, 2):
        ra, rb = a["client"], b["client"]
        assert ra[2] <= rb[0] or rb[2] <= ra[0] or ra[3] <= rb[1] or rb[3] <= ra[1], (a["id"], b["id"])
    scroll_w, scroll_h = geometry["scroll"]
    for box in boxes:
        assert _inside(box["rect"], page), box["id"]
        assert _inside(box["client"], [0, 0, scroll_w, scroll_h]), box["id"]
        for cls, text_box, text in box["texts"]:
            assert _inside(text_box, box["rect"]), (box["id"], cls, text)
    rects = {box["id"]: box["rect"] for box in boxes}
    for arrow in geometry["arrows"]:
        assert arrow["length"] > 10, arrow["id"]
        assert _on_edge(arrow["start"], rects[arrow["from"]]), arrow["id"]
        assert _on_edge(arrow["end"], rects[arrow["to"]]), arrow["id"]
        assert _inside(arrow["path"], page), arrow["id"]
        if arrow["label"]:
            assert _inside(arrow["label"][0], page), arrow["id"]


def _shown_label(box: dict) -> str:
    return " ".join(box["lines"])


def _expected_from_map(server: str) -> tuple[Counter, Counter]:
    """Boxes by kind and arrows by (from kind, to kind, port) implied by the raw sample map,
    worked out without the product (``group_estate``'s reading: a server is a group of one)."""
    body, machine = sample_map_body(server)
    boxes, arrows = expected_boxes_and_arrows([body["map"]], {machine.lower()})

    def kind(box: tuple[str, str]) -> str:
        return "server" if box == ("machine", machine.lower()) else box[0]

    return (Counter(kind(box) for box in boxes),
            Counter((kind(a), kind(b), f":{port}" if port is not None else "") for a, b, port in arrows))


@pytest.mark.parametrize("server", SCENARIO.servers_group)
def test_every_box_and_arrow_of_a_sample_server_is_drawn(open_page, server: str) -> None:
    diagram = sample_diagram(server)
    opened = open_page(render_graph_page(sample_graph(server), mp_id_prefix=PREFIX))
    geometry = opened.page.evaluate(GEOMETRY)
    opened.assert_clean()

    drawn_boxes = {box["id"]: box for box in geometry["boxes"]}
    assert sorted(drawn_boxes) == sorted(c.id for c in diagram.components)
    for component in diagram.components:
        box = drawn_boxes[component.id]
        assert box["kind"] == component.kind
        assert box["title"].split("\n")[0] == component.label  # the full name, as a tooltip
        shown = _shown_label(box)
        assert shown == component.label or (shown.endswith("…") and
                                            _squash(component.label).startswith(_squash(shown[:-1])))
    drawn_arrows = Counter((a["from"], a["to"], a["port"], a["failed"]) for a in geometry["arrows"])
    assert drawn_arrows == Counter((a.source, a.target, a.port, a.failed) for a in diagram.arrows)
    for arrow in geometry["arrows"]:
        if arrow["port"]:
            assert arrow["label"][1].startswith(arrow["port"])

    # and the same boxes and arrows the raw map implies, counted by kind
    kinds, arrow_kinds = _expected_from_map(server)
    assert Counter(box["kind"] for box in geometry["boxes"]) == kinds
    kind_of = {box["id"]: box["kind"] for box in geometry["boxes"]}
    assert Counter((kind_of[a["from"]], kind_of[a["to"]], a["port"]) for a in geometry["arrows"]) == arrow_kinds
    # layers: client groups left, the server and its processes in the middle, the rest left or right
    for box in geometry["boxes"]:
        expected = {"clientGroup": {"0"}, "server": {"1"}, "process": {"1"}, "machine": {"0", "2"}}[box["kind"]]
        assert box["column"] in expected, box["id"]
    _check_layout(geometry)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_failed_only_arrows_are_red_and_dashed_and_explained(open_page) -> None:
    diagram = sample_diagram("app01")
    assert any(a.failed for a in diagram.arrows), "the sample app01 has a failed-only connection"
    geometry = open_page(render_server_page(diagram)).page.evaluate(GEOMETRY)
    for arrow in geometry["arrows"]:
        if arrow["failed"]:
            assert arrow["dash"] not in ("none", "") and arrow["stroke"] == "rgb(198, 40, 40)"
            assert "failed" in arrow["label"][1] and "(failed)" in arrow["title"]
        else:
            assert arrow["dash"] in ("none", "")
    assert "failed only" in geometry["legend"]


def _with_ghosts(diagram, removed: int):
    """A previous version: the current diagram without its first few peers, plus ``removed`` boxes
    (peers and processes) and their arrows that are gone now."""
    mp = diagram.mp_id
    server_process = next(c.id for c in diagram.components if c.kind == "process")
    peers = [c.id for c in diagram.components if c.kind == "machine"][:5]
    old_boxes = {c.id for c in diagram.components} - set(peers)
    old_arrows = {arrow_key(a) for a in diagram.arrows if a.source not in peers and a.target not in peers}
    names = {}
    for i in range(removed):
        if i % 3 == 0:
            box = f"{mp}.Process.old_process_{i:03d}"
            old_arrows.add(f"{peers[0] if peers else box}->{box}:{9000 + i}")
        else:
            box = f"{mp}.Machine.retired_peer_{i:03d}_with_a_rather_long_name_example_com"
            old_arrows.add(f"{server_process}->{box}:{1000 + i}")
        old_boxes.add(box)
        names[box] = box.rsplit(".", 1)[1].replace("_", ".")
    return Previous.of(old_boxes, old_arrows, names, version="1.0.0.7"), set(peers)


@pytest.mark.parametrize("ghosts", [0, 24], ids=["100 boxes", "100 boxes and 24 ghosts"])
def test_a_hundred_boxes_neither_overlap_nor_run_off_the_page(open_page, ghosts: int) -> None:
    diagram = synthetic_diagram()
    assert len(diagram.components) >= 100
    previous, added = _with_ghosts(diagram, ghosts) if ghosts else (None, set())
    opened = open_page(render_server_page(diagram, previous=previous))
    geometry = opened.page.evaluate(GEOMETRY)
    opened.assert_clean()
    assert len(geometry["boxes"]) == len(diagram.components) + ghosts
    assert len(geometry["arrows"]) >= len(diagram.arrows)
    _check_layout(geometry)
    if ghosts:
        states = Counter(box["state"] for box in geometry["boxes"])
        assert states == Counter({"": len(diagram.components) - len(added), "added": len(added), "removed": ghosts})
        assert {box["id"] for box in geometry["boxes"] if box["state"] == "added"} == added


def test_the_change_since_the_previous_version_is_marked(open_page) -> None:
    diagram = sample_diagram("web01.contoso.com")
    previous, added_boxes = _with_ghosts(diagram, 3)
    opened = open_page(render_server_page(diagram, previous=previous, version="1.0.0.8"))
    geometry = opened.page.evaluate(GEOMETRY)
    opened.assert_clean()
    by_state = {state: {b["id"] for b in geometry["boxes"] if b["state"] == state} for state in ("added", "removed")}
    assert by_state["added"] == added_boxes
    assert len(by_state["removed"]) == 3
    added_arrows = {a["id"] for a in geometry["arrows"] if a["state"] == "added"}
    assert added_arrows == {a.id for a in diagram.arrows if a.source in added_boxes or a.target in added_boxes}
    assert all(a["label"][1].endswith("removed") for a in geometry["arrows"] if a["state"] == "removed")
    header = opened.page.inner_text("header")
    assert "Since version 1.0.0.7:" in header and "+" in header and "−3 boxes" in header
    for box in geometry["boxes"]:
        badge = [text for cls, _bbox, text in box["texts"] if cls == "badge"]
        assert badge == {"added": ["NEW"], "removed": ["REMOVED"], "": []}[box["state"]]
    _check_layout(geometry)


HOSTILE = [
    "<script>window.pwned = 1</script>",
    "\"><img src=x onerror=\"window.pwned = 2\">",
    "Tom & Jerry's \"app\" &amp; <b>bold</b>",
    "</title><script>window.pwned = 3</script>",
    "<svg onload=\"window.pwned = 4\"></svg>]]>-->",
]


@pytest.mark.parametrize("bypass_csp", [False, True], ids=["with CSP", "escaping alone"])
def test_names_full_of_markup_are_shown_as_text_and_never_run(open_page, bypass_csp: bool) -> None:
    diagram = sample_diagram("web01.contoso.com")
    components = list(diagram.components)
    for i, hostile in enumerate(HOSTILE):
        components[i] = replace(components[i], label=hostile, description=hostile)
    diagram = replace(diagram, server=HOSTILE[0], components=tuple(components),
                      arrows=tuple(replace(a, label=HOSTILE[1], port=a.port) for a in diagram.arrows))
    opened = open_page(render_server_page(diagram, title=HOSTILE[3]), bypass_csp=bypass_csp)
    page = opened.page
    opened.assert_clean()
    assert page.evaluate("() => window.pwned") is None
    assert page.evaluate("() => document.querySelectorAll('script, img, b, iframe, object, embed').length") == 0
    assert page.evaluate("() => document.querySelectorAll('svg svg').length") == 0
    assert page.evaluate("""() => [...document.querySelectorAll('*')].some(el =>
        [...el.attributes].some(a => a.name.startsWith('on')))""") is False
    assert page.title() == HOSTILE[3]
    assert page.inner_text("h1") == HOSTILE[3]
    geometry = page.evaluate(GEOMETRY)
    titles = {box["title"].split("\n")[0] for box in geometry["boxes"]}
    assert set(HOSTILE) <= titles
    shown = {_squash(_shown_label(box)) for box in geometry["boxes"]}
    for hostile in HOSTILE:
        assert any(_squash(hostile).startswith(s.rstrip("…")) for s in shown), hostile
    assert {a["title"] for a in geometry["arrows"]} == {HOSTILE[1]}


def test_a_graph_with_markup_in_a_process_name_through_the_one_call(open_page) -> None:
    graph = sample_graph("web01.contoso.com")
    process = next(key for key, attrs in graph.nodes(data=True) if attrs["kind"] == "process"
                   and attrs["machine"] == graph.graph["focus"])
    graph.nodes[process]["label"] = "<script>window.pwned=1</script>&amp;"
    opened = open_page(render_server_page(graph, mp_id_prefix=PREFIX))
    opened.assert_clean()
    assert opened.page.evaluate("() => window.pwned") is None
    assert "<script>window.pwned=1</script>&amp;" in opened.page.evaluate("() => document.getElementById('map').textContent")


def test_the_index_links_every_server_page(open_page, tmp_path: Path) -> None:
    entries = []
    for server in SCENARIO.servers_group:
        diagram = sample_diagram(server)
        (tmp_path / page_filename(diagram.mp_id)).write_bytes(render_server_page(diagram))
        entries.append(index_entry(diagram, status="published", version="1.0.0.1"))
    opened = open_page(render_index_page(entries), "index.html")
    page = opened.page
    rows = page.evaluate("""() => [...document.querySelectorAll('tbody tr')].map(tr =>
        ({href: tr.querySelector('a').getAttribute('href'), text: tr.querySelector('a').textContent,
          cells: [...tr.cells].map(td => td.textContent)}))""")
    assert sorted(r["text"] for r in rows) == sorted(SCENARIO.servers_group)
    for row in rows:
        assert (tmp_path / row["href"]).is_file()
        diagram = sample_diagram(row["text"])
        assert row["cells"][4:7] == [str(len(diagram.components)), str(len(diagram.arrows)),
                                     str(sum(a.failed for a in diagram.arrows))]
    page.click("text=web01.contoso.com")
    page.wait_for_load_state()
    assert page.inner_text("h1") == "web01.contoso.com: dependency map"
    opened.assert_clean()


def test_screenshot_of_a_sample_server(open_page) -> None:
    """The artefact: tests/artifacts/web01.contoso.com.png (and .html), ignored by git."""
    ARTIFACTS.mkdir(exist_ok=True)
    diagram = sample_diagram("web01.contoso.com")
    opened = open_page(render_server_page(diagram, version="1.0.0.1"), "web01.contoso.com.html", directory=ARTIFACTS)
    shot = ARTIFACTS / "web01.contoso.com.png"
    opened.page.screenshot(path=str(shot), full_page=True)
    opened.assert_clean()
    width, height = struct.unpack(">II", shot.read_bytes()[16:24])
    assert width >= 1200 and height >= 600
    print(f"\nscreenshot of web01.contoso.com's page: {shot}")

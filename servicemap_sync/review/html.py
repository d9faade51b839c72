"""A server's Distributed Application diagram as a self-contained HTML page.

The page is an inline SVG laid out in Python (:mod:`servicemap_sync.review.layout`), with its
CSS inline and no script at all; a Content-Security-Policy forbids scripts and every network
request, so the page reads the same offline, from a share or an e-mail attachment. Every
name is escaped: a box called ``<script>`` is shown as that text. The same diagram and
previous version give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from html import escape
from importlib import resources

import networkx as nx

from servicemap_sync.mp.diagram import Diagram, build_diagram
from servicemap_sync.review.change import Change, Previous, diff
from servicemap_sync.review.layout import (
    KIND_LINE, LABEL_LINE, LOOP, MARGIN, PAD_X, PAD_Y, ArrowPlace, BoxPlace, Layout, lay_out,
)
from servicemap_sync.review.text import wrap

__all__ = ["page_filename", "render_graph_page", "render_server_page"]


def page_filename(mp_id: str) -> str:
    """``<MP ID>.html``, beside ``<MP ID>.xml``."""
    return f"{mp_id}.html"


def render_graph_page(graph: nx.MultiDiGraph, *, mp_id_prefix: str, title: str | None = None,
                      previous: Previous | None = None, version: str | None = None) -> bytes:
    """:func:`render_server_page` of ``build_diagram(graph, mp_id_prefix=...)``: the boxes and
    arrows the management pack of ``graph`` has."""
    return render_server_page(build_diagram(graph, mp_id_prefix=mp_id_prefix), title=title, previous=previous,
                              version=version)


def render_server_page(diagram: Diagram | nx.MultiDiGraph, *, title: str | None = None,
                       previous: Previous | None = None, version: str | None = None,
                       mp_id_prefix: str | None = None) -> bytes:
    """The HTML page of one server's diagram.

    Args:
        diagram: from :func:`servicemap_sync.mp.diagram.build_diagram`; or the server's graph
            (from :func:`servicemap_sync.graph.build_graph`), then with ``mp_id_prefix``.
        title: the page's heading; default ``<server>: dependency map``.
        previous: the last published version (:class:`Previous`, e.g.
            ``Previous.from_state(state.get(server))``); None for a first version.
        version: the version this diagram is (or would be) published as, shown in the heading.
        mp_id_prefix: ``output.mp_id_prefix``, needed when ``diagram`` is a graph.

    Returns:
        UTF-8 HTML.

    Raises:
        RenderError: from ``build_diagram`` (a graph whose IDs cannot be made).
        TypeError: a graph without ``mp_id_prefix``.
    """
    if isinstance(diagram, nx.Graph):
        if mp_id_prefix is None:
            raise TypeError("render_server_page(graph) needs mp_id_prefix")
        diagram = build_diagram(diagram, mp_id_prefix=mp_id_prefix)
    change = diff(diagram, previous)
    layout = lay_out(diagram, change, previous)
    heading = title or f"{diagram.server}: dependency map"
    failed = sum(a.failed for a in diagram.arrows)
    meta = [f"management pack <code>{_e(diagram.mp_id)}</code>"]
    if version:
        meta.append(f"version {_e(version)}")
    meta.append(_count(len(diagram.components), "box", "boxes"))
    meta.append(_count(len(diagram.arrows), "arrow", "arrows") + (f" ({failed} failed only)" if failed else ""))
    parts = [
        _head(heading),
        f"<header><h1>{_e(heading)}</h1>\n<p class=\"meta\">{' · '.join(meta)}</p>\n",
        f"<p class=\"change\">{_change_line(change, previous)}</p></header>\n",
        _legend(),
        "<div class=\"diagram\">\n", _svg(layout, heading), "</div>\n",
        _tables(layout),
        "<footer>Drawn by servicemap-sync from the same diagram as the management pack: each box is a "
        "component group of the Distributed Application, each arrow a reference between two of them. "
        "Hover a box or an arrow for its full name.</footer>\n</body>\n</html>\n",
    ]
    return "".join(parts).encode("utf-8")


def _change_line(change: Change, previous: Previous | None) -> str:
    if change.first:
        return "First version: no earlier version to compare with."
    since = f"version {_e(previous.version)}" if previous and previous.version else "the previous version"
    if not change.changed:
        return f"Unchanged since {since}."
    return f"Since {since}: <strong>{_e(change.summary())}</strong> (new ones in green, removed ones as ghosts)."


# --- page pieces -------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def stylesheet() -> tuple[str, str]:
    """The CSS and its CSP source expression (``'sha256-…'``)."""
    css = resources.files("servicemap_sync.review").joinpath("page.css").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    return css, f"'sha256-{digest}'"


def _head(title: str) -> str:
    css, css_hash = stylesheet()
    policy = (f"default-src 'none'; style-src {css_hash}; img-src 'none'; script-src 'none'; "
              "base-uri 'none'; form-action 'none'")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{policy}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"generator\" content=\"servicemap-sync\">\n"
        f"<title>{_e(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n"
    )


def _legend() -> str:
    def box(kind: str, extra: str = "") -> str:
        return (f"<svg width=\"26\" height=\"16\" aria-hidden=\"true\"><g class=\"box k-{kind} {extra}\">"
                "<rect class=\"shape\" x=\"1\" y=\"1\" width=\"24\" height=\"14\" rx=\"3\"/></g></svg>")

    def arrow(state: str, head: str) -> str:
        return (f"<svg width=\"40\" height=\"12\" aria-hidden=\"true\"><g class=\"arrow {state}\">"
                f"<path class=\"line\" d=\"M2,6 L30,6\"/><path class=\"head-{head}\" d=\"M30,2 L38,6 L30,10 z\"/>"
                "</g></svg>")

    items = [
        (box("server"), "the server"), (box("process"), "its processes"),
        (box("machine"), "peer machine (SCOM computer)"), (box("discovered"), "discovered machine (no SCOM object)"),
        (box("clientGroup"), "agentless clients"), (arrow("", "normal"), "connection, port at its head"),
        (arrow("failed", "failed"), "failed only: never succeeded"), (arrow("added", "added"), "new since last version"),
        (box("process", "added"), "new box"), (box("process", "removed"), "removed box"),
        (arrow("removed", "removed"), "removed arrow"),
    ]
    spans = "".join(f"<span>{icon}{_e(text)}</span>" for icon, text in items)
    return f"<section class=\"legend\" aria-label=\"legend\">{spans}</section>\n"


def _svg(layout: Layout, title: str) -> str:
    w, h = _n(layout.width), _n(layout.height)
    out = [
        f"<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"map\" width=\"{w}\" height=\"{h}\" "
        f"viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{_e(title)}\">\n<defs>\n",
    ]
    for head in ("normal", "failed", "added", "removed"):
        out.append(f"<marker id=\"head-{head}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" "
                   f"markerHeight=\"7\" orient=\"auto\"><path class=\"head-{head}\" d=\"M0,0 L10,5 L0,10 z\"/></marker>\n")
    out.append("</defs>\n")
    used = {box.column for box in layout.boxes}
    for column, (x, width, heading) in enumerate(layout.columns):
        out.append(f"<text class=\"heading\" x=\"{_n(x)}\" y=\"{_n(MARGIN + 14)}\">{_e(_fit_heading(heading, width))}"
                   f"<title>{_e(heading)}</title></text>\n")
        if column not in used:
            out.append(f"<text class=\"empty\" x=\"{_n(x)}\" y=\"{_n(MARGIN + 34)}\">none</text>\n")
    if layout.frame:
        fx, fy, fw, fh = layout.frame
        out.append(f"<rect class=\"frame\" x=\"{_n(fx)}\" y=\"{_n(fy)}\" width=\"{_n(fw)}\" height=\"{_n(fh)}\" "
                   "rx=\"10\"/>\n")
    out.append("<g class=\"arrows\">\n")
    out.extend(_arrow(a, i) for i, a in enumerate(layout.arrows))
    out.append("</g>\n<g class=\"boxes\">\n")
    out.extend(_box(b, i) for i, b in enumerate(layout.boxes))
    out.append("</g>\n</svg>\n")
    return "".join(out)


def _fit_heading(text: str, width: float) -> str:
    lines, _ = wrap(text, width, 13, max_lines=1, bold=True)
    return lines[0] if lines else ""


def _box(box: BoxPlace, index: int) -> str:
    kind_class = "discovered" if box.kind_text == "DISCOVERED MACHINE" else box.kind
    x, y = box.x, box.y
    badge = {"added": "NEW", "removed": "REMOVED"}.get(box.state, "")
    out = [
        f"<g class=\"box k-{kind_class}{' ' + box.state if box.state else ''}\" id=\"box-{index}\" "
        f"data-id=\"{_e(box.id)}\" data-kind=\"{_e(box.kind)}\" data-state=\"{box.state}\" data-column=\"{box.column}\">"
        f"<title>{_e(box.tooltip)}</title>\n",
        f"<rect class=\"shape\" x=\"{_n(x)}\" y=\"{_n(y)}\" width=\"{_n(box.w)}\" height=\"{_n(box.h)}\" rx=\"6\"/>"
        f"<rect class=\"stripe\" x=\"{_n(x)}\" y=\"{_n(y)}\" width=\"4\" height=\"{_n(box.h)}\" rx=\"2\"/>\n",
    ]
    baseline = y + PAD_Y + 10
    out.append(f"<text class=\"kind\" x=\"{_n(x + PAD_X)}\" y=\"{_n(baseline)}\">{_e(box.kind_text)}</text>")
    if badge:
        out.append(f"<text class=\"badge\" x=\"{_n(x + box.w - PAD_X)}\" y=\"{_n(baseline)}\" "
                   f"text-anchor=\"end\">{badge}</text>")
    first = y + PAD_Y + KIND_LINE + 12.5
    tspans = "".join(
        f"<tspan x=\"{_n(x + PAD_X)}\" y=\"{_n(first + LABEL_LINE * i)}\">{_e(line)}</tspan>"
        for i, line in enumerate(box.lines)
    )
    out.append(f"\n<text class=\"label\">{tspans}</text>\n")
    member_y = first + LABEL_LINE * (len(box.lines) - 1) + 4 + 12
    out.append(f"<text class=\"member\" x=\"{_n(x + PAD_X)}\" y=\"{_n(member_y)}\">{_e(box.member_text)}</text>"
               "</g>\n")
    return "".join(out)


def _arrow(arrow: ArrowPlace, index: int) -> str:
    (sx, sy), (ex, ey) = arrow.start, arrow.end
    if arrow.start_side != arrow.end_side:
        dx = (ex - sx) / 2
        c1, c2 = (sx + dx, sy), (ex - dx, ey)
    else:
        bow = LOOP if arrow.start_side == "right" else -LOOP
        c1, c2 = (sx + bow, sy), (ex + bow, ey)
    d = f"M{_n(sx)},{_n(sy)} C{_n(c1[0])},{_n(c1[1])} {_n(c2[0])},{_n(c2[1])} {_n(ex)},{_n(ey)}"
    classes = " ".join(filter(None, ("arrow", "failed" if arrow.failed else "", arrow.state)))
    head = "removed" if arrow.state == "removed" else "failed" if arrow.failed else arrow.state or "normal"
    words = [arrow.port, "failed" if arrow.failed else "", {"added": "new", "removed": "removed"}.get(arrow.state, "")]
    port_text = " ".join(filter(None, words))
    if arrow.end_side == "left":
        tx, anchor = ex - 9, "end"
    else:
        tx, anchor = ex + 9, "start"
    tooltip = arrow.label + ("\nnew since the previous version" if arrow.state == "added" else "")
    out = [
        f"<g class=\"{classes}\" id=\"arrow-{index}\" data-id=\"{_e(arrow.id)}\" data-key=\"{_e(arrow.key)}\" "
        f"data-from=\"{_e(arrow.source)}\" data-to=\"{_e(arrow.target)}\" data-port=\"{_e(arrow.port)}\" "
        f"data-failed=\"{'true' if arrow.failed else 'false'}\" data-state=\"{arrow.state}\">"
        f"<title>{_e(tooltip)}</title>",
        f"<path class=\"hit\" d=\"{d}\"/><path class=\"line\" d=\"{d}\" marker-end=\"url(#head-{head})\"/>",
    ]
    if port_text:
        out.append(f"<text class=\"port\" x=\"{_n(tx)}\" y=\"{_n(ey - 4)}\" text-anchor=\"{anchor}\">"
                   f"{_e(port_text)}</text>")
    out.append("</g>\n")
    return "".join(out)


def _tables(layout: Layout) -> str:
    labels = {b.id: b.label for b in layout.boxes}
    rows = []
    for box in sorted(layout.boxes, key=lambda b: (b.column, b.label.casefold(), b.id)):
        rows.append(f"<tr class=\"{box.state}\"><td>{_e(box.kind_text.lower())}</td><td>{_e(box.label)}</td>"
                    f"<td>{_e(box.member_text)}</td><td>{_state_word(box.state)}</td></tr>\n")
    arrows = []
    for arrow in sorted(layout.arrows, key=lambda a: (labels[a.source].casefold(), labels[a.target].casefold(),
                                                      a.port, a.id)):
        status = "failed only" if arrow.failed else "ok"
        classes = " ".join(filter(None, (arrow.state, "failed" if arrow.failed else "")))
        arrows.append(f"<tr class=\"{classes}\"><td>{_e(labels[arrow.source])}</td><td>{_e(labels[arrow.target])}</td>"
                      f"<td>{_e(arrow.port)}</td><td class=\"status\">{status}</td>"
                      f"<td>{_state_word(arrow.state)}</td></tr>\n")
    return (
        "<details><summary>The same as tables (full names)</summary>\n"
        "<table class=\"boxes\"><thead><tr><th>kind</th><th>name</th><th>member</th><th>change</th></tr></thead>"
        f"<tbody>\n{''.join(rows)}</tbody></table>\n"
        "<table class=\"arrows\"><thead><tr><th>from</th><th>to</th><th>port</th><th>status</th><th>change</th></tr>"
        f"</thead><tbody>\n{''.join(arrows)}</tbody></table>\n</details>\n"
    )


def _state_word(state: str) -> str:
    return {"added": "new", "removed": "removed"}.get(state, "")


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _e(text: str) -> str:
    return escape(text, quote=True)


def _n(value: float) -> str:
    """A coordinate: at most one decimal, no trailing ``.0``."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text

"""Where each box and arrow of a server's diagram goes on the page: three layers, as SCOM draws
a Distributed Application left to right.

* **left**: what calls the server: client groups, and peer machines that only call in;
* **middle**: the server itself, then its processes (framed together);
* **right**: the peer machines the server calls (a peer that also calls in stays here; its
  inbound arrows come back from the right).

Boxes removed since the previous version are placed too, as ghosts, in the layer their kind
and their old arrows put them in. Within a layer boxes are ordered by the mean position of
the boxes they are linked to (a barycentre pass, which keeps arrows from crossing where it can),
ties by label. Each arrow gets its own slot on the side of each box it touches, so arrows and
their port labels never share a point; a box grows tall enough for its slots. Everything is
computed from sorted input, so the same diagram always gives the same coordinates.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from servicemap_sync.mp.diagram import Diagram
from servicemap_sync.review.change import Change, Previous, arrow_key, split_arrow_key
from servicemap_sync.review.text import wrap

__all__ = ["BoxPlace", "ArrowPlace", "Layout", "lay_out", "KIND_FONT", "LABEL_FONT", "MEMBER_FONT"]

LEFT, MIDDLE, RIGHT = 0, 1, 2
MARGIN = 24
HEADER_H = 34
COLUMN_W = (280, 320, 280)
GAP = 210
BOX_GAP = 14
FRAME_PAD = 12
PAD_X = 10
PAD_Y = 8
KIND_FONT, LABEL_FONT, MEMBER_FONT = 10.0, 12.5, 10.5
KIND_LINE, LABEL_LINE, MEMBER_LINE = 14, 16, 14
MAX_LABEL_LINES = 3
SLOT = 20
LOOP = 60  # how far an arrow between two boxes of one layer bows out

_KIND_TEXT = {
    "server": "SERVER",
    "process": "PROCESS",
    "clientGroup": "AGENTLESS CLIENTS",
    "machine": "PEER MACHINE",
}
_GHOST_KINDS = {"Process": "process", "Clients": "clientGroup", "Machine": "machine"}


@dataclass
class BoxPlace:
    id: str
    kind: str  # server, process, machine, clientGroup
    kind_text: str
    label: str  # the full label
    lines: list[str]
    member_text: str
    tooltip: str
    state: str  # "", "added" or "removed"
    column: int
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    slots: dict[str, list[tuple[float, str]]] = field(default_factory=lambda: {"left": [], "right": []})

    @property
    def centre_y(self) -> float:
        return self.y + self.h / 2


@dataclass
class ArrowPlace:
    id: str
    key: str
    source: str
    target: str
    port: str
    label: str
    failed: bool
    state: str  # "", "added" or "removed"
    start: tuple[float, float] = (0.0, 0.0)
    end: tuple[float, float] = (0.0, 0.0)
    start_side: str = "right"
    end_side: str = "left"


@dataclass
class Layout:
    width: float
    height: float
    columns: list[tuple[float, float, str]]  # x, width, heading
    frame: tuple[float, float, float, float] | None  # the server's frame: x, y, w, h
    boxes: list[BoxPlace]  # in column order, top to bottom
    arrows: list[ArrowPlace]  # sorted by ID


def lay_out(diagram: Diagram, change: Change, previous: Previous | None) -> Layout:
    boxes = _boxes(diagram, change, previous)
    by_id = {b.id: b for b in boxes}
    arrows = _arrows(diagram, change, by_id)
    _order_and_size(diagram, boxes, arrows, by_id)
    columns_x = [MARGIN + FRAME_PAD]
    for col in (LEFT, MIDDLE):
        columns_x.append(columns_x[-1] + COLUMN_W[col] + GAP)
    layers: list[list[BoxPlace]] = [[], [], []]
    for box in boxes:
        layers[box.column].append(box)
    heights = [sum(b.h for b in layer) + BOX_GAP * max(len(layer) - 1, 0) for layer in layers]
    heights[MIDDLE] += 2 * FRAME_PAD
    tallest = max(heights)
    top = MARGIN + HEADER_H
    for col, layer in enumerate(layers):
        y = top + (tallest - heights[col]) / 2 + (FRAME_PAD if col == MIDDLE else 0)
        for box in layer:
            box.x, box.y, box.w = columns_x[col], y, COLUMN_W[col]
            y += box.h + BOX_GAP
    frame = None
    if layers[MIDDLE]:
        first, last = layers[MIDDLE][0], layers[MIDDLE][-1]
        frame = (columns_x[MIDDLE] - FRAME_PAD, first.y - FRAME_PAD, COLUMN_W[MIDDLE] + 2 * FRAME_PAD,
                 last.y + last.h - first.y + 2 * FRAME_PAD)
    _attach(arrows, by_id)
    headings = ["Calls the server", f"{diagram.server} and its processes", "Called by the server"]
    return Layout(
        width=columns_x[RIGHT] + COLUMN_W[RIGHT] + FRAME_PAD + MARGIN,
        height=top + tallest + MARGIN,
        columns=[(columns_x[c], COLUMN_W[c], headings[c]) for c in (LEFT, MIDDLE, RIGHT)],
        frame=frame,
        boxes=[b for layer in layers for b in layer],
        arrows=arrows,
    )


def _boxes(diagram: Diagram, change: Change, previous: Previous | None) -> list[BoxPlace]:
    sources: dict[str, int] = defaultdict(int)  # arrows a box starts
    targets: dict[str, int] = defaultdict(int)  # arrows a box ends
    for arrow in diagram.arrows:
        sources[arrow.source] += 1
        targets[arrow.target] += 1
    for key in change.removed_arrows:
        source, target, _port = split_arrow_key(key)
        sources[source] += 1
        targets[target] += 1

    def column(kind: str, box_id: str) -> int:
        if kind in ("server", "process"):
            return MIDDLE
        if kind == "clientGroup" or (sources[box_id] and not targets[box_id]):
            return LEFT
        return RIGHT

    warned = {w.component_id: w.reason for w in getattr(diagram, "warnings", ())}
    placed = []
    for comp in diagram.components:
        member = comp.member
        if member is None:
            member_text = "no SCOM object: no health"
        elif comp.kind == "process":
            member_text = f"health of {_member_name(member)}"
        else:
            member_text = f"member: {_member_name(member)} ({_family(member)})"
        warning = warned.get(comp.id)
        if warning:
            member_text = f"⚠ {member_text}"
        kind_text = _KIND_TEXT.get(comp.kind, comp.kind.upper())
        if comp.kind == "machine" and member is None:
            kind_text = "DISCOVERED MACHINE"
        tooltip = "\n".join(filter(None, (comp.label, comp.description, member_text,
                                           f"warning: {warning}" if warning else "", comp.id)))
        placed.append(BoxPlace(comp.id, comp.kind, kind_text, comp.label, [], member_text, tooltip,
                               "added" if comp.id in change.added_boxes else "", column(comp.kind, comp.id)))
    names = previous.names if previous else {}
    for box_id in change.removed_boxes:
        part = box_id[len(diagram.mp_id) + 1:].split(".", 1)[0] if box_id.startswith(diagram.mp_id + ".") else ""
        kind = _GHOST_KINDS.get(part, "machine")
        label = names.get(box_id) or box_id
        tooltip = f"{label}\nRemoved since the previous version\n{box_id}"
        placed.append(BoxPlace(box_id, kind, _KIND_TEXT[kind], label, [], "removed since the previous version",
                               tooltip, "removed", column(kind, box_id)))
    return placed


def _member_name(member) -> str:
    """What the member is found by: its FQDN, else its NetBIOS name."""
    return member.principal_name or getattr(member, "netbios_name", None) or "?"


def _family(member) -> str:
    if member.windows and member.unix:
        return "Windows or UNIX/Linux"
    return "Windows" if member.windows else "UNIX/Linux"


def _arrows(diagram: Diagram, change: Change, by_id: dict[str, BoxPlace]) -> list[ArrowPlace]:
    arrows = [
        ArrowPlace(a.id, arrow_key(a), a.source, a.target, a.port, a.label, a.failed,
                   "added" if arrow_key(a) in change.added_arrows else "")
        for a in diagram.arrows
    ]
    for key in change.removed_arrows:
        source, target, port = split_arrow_key(key)
        if source in by_id and target in by_id:  # else an end the state never named: listed, not drawn
            label = f"{by_id[source].label} → {by_id[target].label} {port} (removed)".replace("  ", " ")
            arrows.append(ArrowPlace(f"removed:{key}", key, source, target, port, label, False, "removed"))
    arrows.sort(key=lambda a: a.id)
    return arrows


def _sides(arrow: ArrowPlace, by_id: dict[str, BoxPlace]) -> tuple[str, str]:
    """The side of its source and of its target box an arrow leaves and enters by."""
    src, dst = by_id[arrow.source].column, by_id[arrow.target].column
    if src < dst:
        return "right", "left"
    if src > dst:
        return "left", "right"
    side = "left" if src == RIGHT else "right"  # bow out into a gap, never off the page
    return side, side


def _order_and_size(diagram: Diagram, boxes: list[BoxPlace], arrows: list[ArrowPlace],
                    by_id: dict[str, BoxPlace]) -> None:
    # heights: text, and one slot per arrow end on the busier side
    count: dict[tuple[str, str], int] = defaultdict(int)
    for arrow in arrows:
        out_side, in_side = _sides(arrow, by_id)
        count[(arrow.source, out_side)] += 1
        count[(arrow.target, in_side)] += 1
    for box in boxes:
        text_w = box.w or COLUMN_W[box.column]
        box.lines, _cut = wrap(box.label, text_w - 2 * PAD_X, LABEL_FONT, max_lines=MAX_LABEL_LINES, bold=True)
        member_lines, _ = wrap(box.member_text, text_w - 2 * PAD_X, MEMBER_FONT, max_lines=1)
        box.member_text = member_lines[0] if member_lines else ""
        text_h = 2 * PAD_Y + KIND_LINE + LABEL_LINE * len(box.lines) + MEMBER_LINE
        slots = max(count[(box.id, "left")], count[(box.id, "right")])
        box.h = max(text_h, (slots + 1) * SLOT)
    # order: the server first; then barycentres, a few passes, ties by label then ID
    neighbours: dict[str, list[str]] = defaultdict(list)
    for arrow in arrows:
        neighbours[arrow.source].append(arrow.target)
        neighbours[arrow.target].append(arrow.source)
    rank = {b.id: (b.kind != "server", b.label.casefold(), b.id) for b in boxes}
    layers = [[b for b in boxes if b.column == col] for col in (LEFT, MIDDLE, RIGHT)]
    layers[MIDDLE].sort(key=lambda b: rank[b.id])
    position = {b.id: i for layer in layers for i, b in enumerate(layer)}

    def resort(layer: list[BoxPlace]) -> None:
        def key(box: BoxPlace):
            near = [position[n] for n in neighbours[box.id] if by_id[n].column != box.column]
            centre = sum(near) / len(near) if near else float(position[box.id])
            return (box.kind != "server", centre, rank[box.id])
        layer.sort(key=key)
        for i, box in enumerate(layer):
            position[box.id] = i

    for _ in range(2):
        resort(layers[LEFT])
        resort(layers[RIGHT])
        resort(layers[MIDDLE])
    resort(layers[LEFT])
    resort(layers[RIGHT])
    boxes[:] = [b for layer in layers for b in layer]


def _attach(arrows: list[ArrowPlace], by_id: dict[str, BoxPlace]) -> None:
    """Give each arrow a slot on each box side it touches, ordered by where its other end is."""
    ends: dict[tuple[str, str], list[tuple[float, str, ArrowPlace, bool]]] = defaultdict(list)
    for arrow in arrows:
        arrow.start_side, arrow.end_side = _sides(arrow, by_id)
        ends[(arrow.source, arrow.start_side)].append((by_id[arrow.target].centre_y, arrow.id, arrow, True))
        ends[(arrow.target, arrow.end_side)].append((by_id[arrow.source].centre_y, arrow.id, arrow, False))
    for (box_id, side), attached in sorted(ends.items()):
        box = by_id[box_id]
        attached.sort(key=lambda e: (e[0], e[1], e[3]))
        x = box.x + box.w if side == "right" else box.x
        step = box.h / (len(attached) + 1)
        for i, (_y, _id, arrow, is_start) in enumerate(attached, start=1):
            point = (x, round(box.y + step * i, 1))
            if is_start:
                arrow.start = point
            else:
                arrow.end = point

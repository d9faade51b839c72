"""Why each box and arrow of a server's map is in its diagram or not: plain, JSON-ready records."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import networkx as nx

from servicemap_sync.graph.items import box_key, box_label
from servicemap_sync.model import NodeKey

__all__ = ["BY", "DECISIONS", "Decision", "arrow_label"]

DECISIONS = ("kept", "dropped", "merged")
"""``kept``: drawn (as its own box, or as an arrow); ``dropped``: not drawn; ``merged``: drawn
inside another box (a collapsed layer or a curated group, named in ``detail``)."""

BY = ("default", "rule", "curation", "guard", "stability")
"""What decided: ``default`` (no rule matched; a box stays while it has arrows), a ``rule``
(``name`` is ``rule N "name"``), a ``curation`` line (``name`` is ``curation.toml line N``), a
``guard`` (``diagram.max_per_layer`` or ``diagram.max_boxes``), or ``stability``
(``diagram.appear_after`` or ``diagram.retire_after``)."""


@dataclass(frozen=True, order=True)
class Decision:
    """One line of the explanation.

    ``item`` is ``box`` or ``arrow``; ``key`` names it stably (a box: ``machine:m-…``,
    ``process:m-…/p-…``, ``clientGroup:…``, ``peerGroup:…``; an arrow: ``<from node> -> <to
    node> #<connection id>``); ``label`` is the human text (an arrow's: ``from → to :port``);
    ``decision`` one of :data:`DECISIONS`; ``by`` one of :data:`BY`; ``name`` the rule, guard or
    curation line; ``detail`` a sentence.
    """

    item: str
    key: str
    label: str
    decision: str
    by: str
    name: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def arrow_label(graph: nx.MultiDiGraph, u: NodeKey, v: NodeKey, port: object) -> str:
    """``IIS Worker Process → sql01.contoso.com :1433`` (peer processes named on their machine)."""
    ends = []
    for end in (u, v):
        box = box_key(graph, end)
        ends.append(box_label(graph, end) if box == end or end not in graph else box_label(graph, end))
    return f"{ends[0]} → {ends[1]}" + (f" :{port}" if port is not None else "")

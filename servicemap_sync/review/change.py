"""What changed in a server's diagram since the last published version.

The state keeps, per server, the sorted component class IDs and arrow keys
``<from class ID>-><to class ID>[:port]`` of the last published pack, and each class ID's
label; that is all a page needs to mark what is new and draw what is gone as ghosts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from servicemap_sync.mp.diagram import Arrow, Diagram

__all__ = ["Change", "Previous", "arrow_key", "diff", "split_arrow_key"]


@dataclass(frozen=True)
class Previous:
    """The last published version of a server's diagram, as the state remembers it.

    ``components``: class IDs; ``arrows``: arrow keys ``<from ID>-><to ID>[:port]``;
    ``names``: class ID → label (IDs without a label are shown by their ID); ``version``:
    the version it was published as, if known.
    """

    components: frozenset[str]
    arrows: frozenset[str]
    names: Mapping[str, str] = field(default_factory=dict)
    version: str | None = None

    @classmethod
    def of(cls, components: Iterable[str], arrows: Iterable[str], names: Mapping[str, str] | None = None,
           version: str | None = None) -> Previous:
        return cls(frozenset(components), frozenset(arrows), dict(names or {}), version)

    @classmethod
    def from_state(cls, state: object | None) -> Previous | None:
        """From a ``publish.state.ServerState`` (``components``, ``connections``, ``names``,
        ``version``); None when there is no state or nothing was published yet."""
        if state is None or getattr(state, "version", None) is None:
            return None
        return cls.of(state.components, state.connections, getattr(state, "names", None) or {}, state.version)


@dataclass(frozen=True)
class Change:
    """Boxes and arrows added and removed; ``first`` when there is no previous version."""

    first: bool
    added_boxes: frozenset[str]
    removed_boxes: tuple[str, ...]
    added_arrows: frozenset[str]
    removed_arrows: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.added_boxes or self.removed_boxes or self.added_arrows or self.removed_arrows)

    def summary(self) -> str:
        """``+2 boxes, -1 arrow`` style; ``first version`` or ``unchanged``."""
        if self.first:
            return "first version"
        parts = [
            f"{sign}{len(items)} {noun}{'' if len(items) == 1 else 'es' if noun == 'box' else 's'}"
            for sign, items, noun in (("+", self.added_boxes, "box"), ("−", self.removed_boxes, "box"),
                                      ("+", self.added_arrows, "arrow"), ("−", self.removed_arrows, "arrow"))
            if items
        ]
        return ", ".join(parts) if parts else "unchanged"


def arrow_key(arrow: Arrow) -> str:
    """The state's key of an arrow: ``<from ID>-><to ID>[:port]``."""
    return f"{arrow.source}->{arrow.target}{arrow.port}"


def split_arrow_key(key: str) -> tuple[str, str, str]:
    """``(from ID, to ID, port label)`` of an arrow key (class IDs hold no ``-`` or ``:``)."""
    ends, colon, port = key.partition(":")
    source, _, target = ends.partition("->")
    return source, target, colon + port


def diff(diagram: Diagram, previous: Previous | None) -> Change:
    if previous is None:
        return Change(True, frozenset(), (), frozenset(), ())
    boxes = {c.id for c in diagram.components}
    arrows = {arrow_key(a) for a in diagram.arrows}
    return Change(
        first=False,
        added_boxes=frozenset(boxes - previous.components),
        removed_boxes=tuple(sorted(previous.components - boxes)),
        added_arrows=frozenset(arrows - previous.arrows),
        removed_arrows=tuple(sorted(previous.arrows - arrows)),
    )

"""Arrows and boxes that do not flap: a pure decision over what was seen in past syncs.

Every item (an arrow or box, named by a string key) has a **history record**, plain data that
the state database stores as JSON::

    {"seen": 2, "missed": 0, "shown": true, "data": {...}}

* ``seen``: consecutive syncs it was in the data, up to this one (0 while it is missing);
* ``missed``: consecutive syncs it was missing from the data (0 while it is there);
* ``shown``: whether it has appeared in the diagram (seen in ``appear_after`` syncs in a row);
* ``data``: what the caller needs to draw it again while it is missing (its last seen data).

Decision, per sync (:func:`decide`):

* an item in the data is drawn once it has been seen in ``appear_after`` consecutive syncs
  (default 1: at once); after that it stays drawn while it is in the data;
* an item that has appeared and is missing stays drawn, from its stored ``data``, until it
  has been missing from ``retire_after`` consecutive syncs (default 3): missing once or twice
  it stays, the third time it leaves and its record is deleted;
* an item missing before it ever appeared is forgotten (its count starts again);
* ``fresh=True`` ignores the history: exactly what is in the data is drawn, and the records
  start from it (``rebuild --fresh``).

Records are kept only for items that are drawn or on their way in, so the history does not grow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from servicemap_sync.errors import ConfigError

__all__ = ["HISTORY_VERSION", "Stability", "StabilityDecision", "decide"]

HISTORY_VERSION = 1
"""Version of the history document ``{"version": 1, "items": {key: record}}``."""


@dataclass(frozen=True)
class Stability:
    """``diagram.appear_after`` (1..100) and ``diagram.retire_after`` (1..100)."""

    appear_after: int = 1
    retire_after: int = 3

    def __post_init__(self) -> None:
        for key in ("appear_after", "retire_after"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
                raise ConfigError(f"diagram.{key}: {value!r} is not a whole number of syncs from 1 to 100")


@dataclass(frozen=True)
class StabilityDecision:
    """What :func:`decide` returns.

    ``draw``: key → data of every item to draw (from this sync's data, or stored for a
    retained one); ``retained``: key → consecutive misses of the drawn items missing from the
    data; ``held``: key → consecutive syncs seen, of items in the data not drawn yet;
    ``retired``: keys that left the diagram in this sync; ``history``: the document to store.
    """

    draw: dict[str, Any]
    retained: dict[str, int] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)
    retired: tuple[str, ...] = ()
    history: dict[str, Any] = field(default_factory=dict)


def decide(current: Mapping[str, Any], history: Mapping[str, Any] | None, *,
           settings: Stability = Stability(), fresh: bool = False) -> StabilityDecision:
    """Decide which items to draw, from what is in the data now and the stored history.

    Args:
        current: key → data of every item in this sync's data (data must be JSON-serialisable).
        history: the document a previous call returned (``{"version": 1, "items": {...}}``), or
            None for none. A document of another version, or malformed records, count as no
            history for the items concerned (never an error: the next sync starts again).
        settings: ``appear_after`` and ``retire_after``.
        fresh: ignore ``history``.

    Returns:
        The :class:`StabilityDecision`; its ``history`` is what to store for the next sync.
    """
    old = {} if fresh else _records(history)
    items: dict[str, dict[str, Any]] = {}
    draw: dict[str, Any] = {}
    held: dict[str, int] = {}
    retained: dict[str, int] = {}
    retired: list[str] = []
    for key in sorted(current):
        before = old.get(key)
        seen = before["seen"] + 1 if before is not None and before["seen"] > 0 else 1
        shown = fresh or (before is not None and before["shown"]) or seen >= settings.appear_after
        items[key] = {"seen": seen, "missed": 0, "shown": shown, "data": current[key]}
        if shown:
            draw[key] = current[key]
        else:
            held[key] = seen
    for key in sorted(old.keys() - current.keys()):
        before = old[key]
        if not before["shown"]:
            continue  # never appeared: forgotten
        missed = before["missed"] + 1
        if missed >= settings.retire_after:
            retired.append(key)
            continue
        items[key] = {"seen": 0, "missed": missed, "shown": True, "data": before["data"]}
        draw[key] = before["data"]
        retained[key] = missed
    return StabilityDecision(
        draw=draw, retained=retained, held=held, retired=tuple(retired),
        history={"version": HISTORY_VERSION, "items": items},
    )


def _records(history: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The well-formed records of a stored history document."""
    if not isinstance(history, Mapping) or history.get("version") != HISTORY_VERSION:
        return {}
    items = history.get("items")
    if not isinstance(items, Mapping):
        return {}
    out = {}
    for key, rec in items.items():
        if (isinstance(key, str) and isinstance(rec, Mapping)
                and all(isinstance(rec.get(k), int) and not isinstance(rec.get(k), bool) and rec[k] >= 0
                        for k in ("seen", "missed"))
                and isinstance(rec.get("shown"), bool) and "data" in rec):
            out[key] = {"seen": rec["seen"], "missed": rec["missed"], "shown": rec["shown"], "data": rec["data"]}
    return out

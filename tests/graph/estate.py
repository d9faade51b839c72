"""The sample estate's graphs, for the shaping tests."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import networkx as nx

from servicemap_sync.graph import build_graph
from servicemap_sync.sources.servicemap.parse import parse_map_response

MAPS = Path(__file__).resolve().parents[2] / "samples" / "estate" / "maps"
START = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
END = datetime(2024, 5, 1, 11, 0, tzinfo=timezone.utc)


@lru_cache(maxsize=None)
def _maps() -> dict[str, tuple[str, dict]]:
    """FQDN → (machine resource name, the map object) of every sample server."""
    out = {}
    for path in sorted(MAPS.glob("*.json")):
        the_map = json.loads(path.read_text(encoding="utf-8"))
        name = path.stem
        for machine in the_map["nodes"]["machines"]:
            if machine["name"] == name:
                out[machine["properties"]["fullyQualifiedDomainName"].lower()] = (name, the_map)
    return out


def servers() -> list[str]:
    return sorted(_maps())


def server_map(fqdn: str):
    name, the_map = _maps()[fqdn]
    body = {"startTime": START.isoformat(), "endTime": END.isoformat(), "map": the_map}
    return parse_map_response(body, server=fqdn, focus_machine=name)


def graph(fqdn: str) -> nx.MultiDiGraph:
    return build_graph(server_map(fqdn))

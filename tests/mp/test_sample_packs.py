"""Every sample server's management pack: valid, with the boxes and arrows its map calls for.

The expectation is worked out here from the sample JSON itself (which boxes and arrows a
single-machine map implies, after leaving out loopback and self-links), not from anything the
renderer produced, so a renderer that drops or invents a box or an arrow fails.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import pytest

from servicemap_sync.emulator import load_scenario
from servicemap_sync.graph import build_graph
from servicemap_sync.mp import render_management_pack
from servicemap_sync.mp.validate import validate_bytes
from servicemap_sync.sources.servicemap.parse import parse_map_response
from group_estate import expected_boxes_and_arrows
from scenario_lookup import machine_named

SCENARIO = load_scenario()
KINDS = {"Machine": "machine", "Process": "process", "Clients": "clientGroup"}



def _kind(mp_id: str, component_id: str) -> str:
    return KINDS[component_id[len(mp_id) + 1:].split(".")[0]]


def _server_machines() -> list[tuple[str, str]]:
    return [(server, machine_named(SCENARIO, server)) for server in SCENARIO.servers_group]


@pytest.mark.parametrize("server, machine", _server_machines(), ids=[s for s, _ in _server_machines()])
def test_sample_server_pack_has_the_boxes_and_arrows_of_its_map(server: str, machine: str) -> None:
    the_map = SCENARIO.maps[machine]
    body = {"startTime": "2026-11-23T10:00:00Z", "endTime": "2026-11-23T11:00:00Z", "map": the_map}
    server_map = parse_map_response(body, server=server, focus_machine=machine)
    rendered = render_management_pack(build_graph(server_map), mp_id_prefix="Contoso.SvcMap", version="1.0.0.0")

    assert validate_bytes(rendered.xml, filename=rendered.filename) == []
    boxes, arrows = expected_boxes_and_arrows([the_map], {machine.lower()})  # a server: a group of one
    assert Counter(_kind(rendered.mp_id, c) for c in rendered.components) == Counter(kind for kind, _ in boxes)
    assert Counter((_kind(rendered.mp_id, a), _kind(rendered.mp_id, b), port) for a, b, port in rendered.arrows) == \
        Counter((a[0], b[0], f":{port}" if port is not None else "") for a, b, port in arrows)

    labels = " | ".join(rendered.components.values())
    for kind, name in boxes:
        if kind == "machine" and name in {n.lower() for n in SCENARIO.machines}:
            props = next(m for n, m in SCENARIO.machines.items() if n.lower() == name)["properties"]
            human = props.get("fullyQualifiedDomainName") or props.get("computerName") or props.get("displayName")
            assert human.split(".")[0].lower() in labels.lower(), f"{human} missing from the display names"
    assert datetime(2026, 11, 23, 11, tzinfo=timezone.utc) == server_map.end_time

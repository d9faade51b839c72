"""Structural checks on a ``map`` object: every edge endpoint and every reference is a node."""

from __future__ import annotations

NODE_KINDS = {"ref:machine": "machines", "ref:process": "processes", "ref:port": "ports",
              "ref:clientgroup": "clientGroups"}


def map_problems(graph: dict) -> list[str]:
    """What in ``graph`` points outside its own nodes (empty list = consistent)."""
    ids = {kind: {node["id"] for node in graph["nodes"].get(kind, [])} for kind in NODE_KINDS.values()}
    problems: list[str] = []

    def need(ref: dict, where: str, *kinds: str) -> None:
        if ref.get("kind") not in kinds:
            problems.append(f"{where}: kind {ref.get('kind')!r}, expected one of {kinds}")
        elif ref["id"] not in ids[NODE_KINDS[ref["kind"]]]:
            problems.append(f"{where}: {ref['id']} is not a node")

    for kind in ("processes", "ports"):
        for node in graph["nodes"].get(kind, []):
            need(node["properties"]["machine"], f"{kind} {node['name']}.machine", "ref:machine")
    for node in graph["nodes"].get("processes", []):
        if "acceptorOf" in node["properties"]:
            need(node["properties"]["acceptorOf"], f"process {node['name']}.acceptorOf", "ref:port")
    for node in graph["nodes"].get("clientGroups", []):
        need(node["properties"]["clientsOf"], f"clientGroup {node['name']}.clientsOf",
             "ref:machine", "ref:process", "ref:port")
    for edge in graph["edges"].get("connections", []):
        props = edge["properties"]
        need(props["source"], f"connection {edge['name']}.source", "ref:process", "ref:clientgroup")
        need(props["destination"], f"connection {edge['name']}.destination", "ref:process")
        if "serverPort" in props:
            need(props["serverPort"], f"connection {edge['name']}.serverPort", "ref:port")
    for edge in graph["edges"].get("acceptors", []):
        need(edge["properties"]["source"], f"acceptor {edge['name']}.source", "ref:port")
        need(edge["properties"]["destination"], f"acceptor {edge['name']}.destination", "ref:process")
    return problems

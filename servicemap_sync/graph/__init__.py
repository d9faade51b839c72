"""Service Map data as a dependency graph (networkx), one graph per server."""

from servicemap_sync.graph.build import build_graph, is_loopback, machine_of

__all__ = ["build_graph", "is_loopback", "machine_of"]

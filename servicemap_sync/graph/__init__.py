"""Service Map data as a dependency graph (networkx), one graph per server, and its shaping."""

from servicemap_sync.graph.build import build_graph, is_loopback, machine_of
from servicemap_sync.graph.curation import Curation, load_curation
from servicemap_sync.graph.explain import Decision
from servicemap_sync.graph.guards import Guards
from servicemap_sync.graph.rules import PRESETS, RULE_KEYS, Rule, load_rules
from servicemap_sync.graph.shape import Shaped, shape
from servicemap_sync.graph.stability import Stability

__all__ = [
    "PRESETS", "RULE_KEYS", "Curation", "Decision", "Guards", "Rule", "Shaped", "Stability", "build_graph",
    "is_loopback", "load_curation", "load_rules", "machine_of", "shape",
]

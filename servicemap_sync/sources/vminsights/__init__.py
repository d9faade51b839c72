"""The VM insights source: dependency maps from the Log Analytics tables the Dependency Agent
fills (``VMComputer``, ``VMProcess``, ``VMBoundPort``, ``VMConnection``), read in batches through
the Log Analytics query API. They stay queryable for the workspace's retention after the
Service Map API retires (30 June 2028)."""

from .source import VmInsightsSource

__all__ = ["VmInsightsSource"]

"""A local HTTPS emulator of Entra ID, ARM and the Service Map API, with sample and synthetic data.

It lets the real authentication and HTTP path (azure-identity, msal, requests) run end to end
without a tenant: ``Emulator(load_scenario())`` serves the bundled sample estate,
``synthetic_scenario(servers=1000)`` a generated one. Nothing here imports the rest of
servicemap_sync, so the emulator cannot quietly agree with the client's own mistakes.
"""

from __future__ import annotations

from .faults import Fault
from .scenario import Scenario, load_scenario, write_scenario
from .server import Emulator, RecordedRequest, serve_forever
from .synthetic import synthetic_map, synthetic_scenario

__all__ = ["Emulator", "Fault", "RecordedRequest", "Scenario", "load_scenario", "serve_forever", "synthetic_map",
           "synthetic_scenario", "write_scenario"]

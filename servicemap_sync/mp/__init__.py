"""SCOM management packs: render a server's graph into a Distributed Application MP, and validate MPs."""

from servicemap_sync.mp.diagram import BoxWarning
from servicemap_sync.mp.integration import integration_mp_id, render_integration_pack
from servicemap_sync.mp.releases import DEFAULT_RELEASE, RELEASES
from servicemap_sync.mp.render import WORST_OF, HealthRollup, RenderedMP, render_management_pack
from servicemap_sync.mp.validate import Problem, check_upgrade, validate_document

__all__ = ["DEFAULT_RELEASE", "RELEASES", "WORST_OF", "BoxWarning", "HealthRollup", "Problem", "RenderedMP",
           "check_upgrade", "integration_mp_id", "render_integration_pack", "render_management_pack",
           "validate_document"]

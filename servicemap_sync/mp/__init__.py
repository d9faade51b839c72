"""SCOM management packs: render a server's graph into a Distributed Application MP, and validate MPs."""

from servicemap_sync.mp.render import RenderedMP, render_management_pack
from servicemap_sync.mp.validate import Problem, check_upgrade, validate_document

__all__ = ["Problem", "RenderedMP", "check_upgrade", "render_management_pack", "validate_document"]

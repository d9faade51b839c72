"""Read back a management pack already in the output folder.

The file on disk is what SCOM may have imported, so its version is the floor for the next one
even when the state database was lost or is older (a restored backup): the next publish must be
higher than both. Only ``Manifest/Identity`` is read; the renderer gets the raw bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from ..errors import PublishError
from .versions import version_tuple

__all__ = ["PublishedPack", "read_published"]


@dataclass(frozen=True)
class PublishedPack:
    """A management pack found in the output folder."""

    path: Path
    xml: bytes
    mp_id: str | None
    version: str


def read_published(path: Path) -> PublishedPack | None:
    """Return the management pack at ``path``, or None if there is none.

    Raises:
        PublishError: the file cannot be read, is not XML, or has no valid
            ``Manifest/Identity/Version``; the message says to move it away.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PublishError(f"cannot read the published {path}: [Errno {exc.errno}] {exc.strerror}") from exc
    fix = "move it away so the next run writes a fresh one"
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise PublishError(f"published {path} is not well-formed XML ({exc}); {fix}") from exc
    version = (root.findtext("Manifest/Identity/Version") or "").strip()
    try:
        four_parts = len(version_tuple(version)) == 4
    except ValueError:
        four_parts = False
    if not four_parts:
        raise PublishError(f"published {path} has no valid Manifest/Identity/Version ({version!r}); {fix}")
    mp_id = (root.findtext("Manifest/Identity/ID") or "").strip() or None
    return PublishedPack(path, data, mp_id, version)

"""The integration management pack ``<prefix>.Integration``: servicemap-sync's own health in SCOM.

Every run writes ``status.json`` into the output folder (:mod:`servicemap_sync.publish.status`).
This pack makes SCOM watch it, as Microsoft's Service Map integration raises its own alerts:

* ``<MP>.Host`` — a local application (``Windows!Microsoft.Windows.LocalApplication``, hosted
  by the Windows computer) discovered only on the computer whose ``PrincipalName`` is the
  configured host, in any case. The discovery needs no script and no registry key: a
  scheduler, an expression filter on the target computer's ``PrincipalName`` and a class
  snapshot mapper (every Windows agent evaluates the filter every 4 hours; only the host
  sends discovery data).
* ``<MP>.Host.LastRun.Monitor`` — **critical** when no run has finished for two intervals
  (``finished_at`` older than 2 × ``interval_seconds``), none has finished at all, or the status
  file cannot be read; the alert says which, with the path and the error.
* ``<MP>.Host.Servers.Monitor`` — **warning** while a server's status is ``failed``; the alert
  lists each failing server with its reason.

Both monitors run one PowerShell script (``ServiceMapSyncStatus.ps1``, in the template
``mp_templates/integration.xml``) every 5 minutes with the same configuration, so SCOM runs it
once for both (cookdown). It reads the JSON from a local path or a UNC share, compares, and
returns one property bag through ``MOM.ScriptAPI``: ``RunState`` and ``ServersState``
(``Good``/``Bad``; ``ServersState`` is ``Unknown`` when the file cannot be read, which leaves the
servers monitor as it was), ``RunDetail``, ``FailedCount`` and ``FailedServers``
(:data:`PROPERTIES`). The script needs PowerShell 3.0 or later on the host (``ConvertFrom-Json``),
and the agent's action account must be able to read the file or share.

The check interval (300 s), the script timeout (120 s), the status path and the sync interval
are overrideable parameters of both monitors. The pack is unsealed, references only
System.Library, Microsoft.Windows.Library and System.Health.Library at the lowest versions
(:mod:`servicemap_sync.mp.releases`), and is deterministic: the same arguments give the same bytes.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache

from lxml import etree

from servicemap_sync.errors import RenderError
from servicemap_sync.mp.ids import check_prefix
from servicemap_sync.mp.releases import reference_version
from servicemap_sync.mp.render import checked_release, validated_xml
from servicemap_sync.mp.templates import fill_tokens, load_template

__all__ = ["INTEGRATION_SUFFIX", "PROPERTIES", "SCRIPT_NAME", "TEMPLATE", "integration_mp_id",
           "render_integration_pack"]

TEMPLATE = "integration.xml"
#: The last part of the pack's ID: ``<prefix>.Integration``.
INTEGRATION_SUFFIX = "Integration"
#: ``ScriptName`` of the status script inside the pack.
SCRIPT_NAME = "ServiceMapSyncStatus.ps1"
#: The property bag's values, as the monitors and alerts read them.
PROPERTIES = ("RunState", "RunDetail", "ServersState", "FailedCount", "FailedServers")
_MAX_INTERVAL = 604800  # IntervalSeconds' range (README: the import rule's parameters)
_DOTNET_SPECIAL = re.compile(r"([\\*+?|{}\[\]()^$.# ])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def integration_mp_id(mp_id_prefix: str) -> str:
    """``<prefix>.Integration``.

    Raises:
        RenderError: the prefix is not dot-separated parts of letters, digits and ``_``.
    """
    check_prefix(mp_id_prefix)
    return f"{mp_id_prefix}.{INTEGRATION_SUFFIX}"


def render_integration_pack(*, mp_id_prefix: str, host: str, status_path: str, interval_seconds: int,
                            version: str, scom_version: str | None = None) -> bytes:
    """The integration management pack ``<prefix>.Integration.xml``, validated.

    Args:
        mp_id_prefix: as for the DA packs (``output.mp_id_prefix``).
        host: the ``PrincipalName`` (FQDN) of the Windows computer, known to SCOM as an agent,
            that runs the monitors: the one that runs servicemap-sync, or any that can read the
            status file. Compared in any case.
        status_path: ``status.json`` as the host sees it: a local path (``D:\\sync\\out\\status.json``)
            or a share (``\\\\files01\\sync\\status.json``).
        interval_seconds: the sync's ``IntervalSeconds`` (1..604800); no finished run for twice
            this is critical.
        version: ``a.b.c.d``; raise it whenever the pack's content changes, or SCOM keeps the old one.
        scom_version: the oldest SCOM release it must import into (None: 2012 R2); only raises
            the references' versions.

    Returns:
        The UTF-8 XML, with a declaration; the same arguments give the same bytes.

    Raises:
        RenderError: a bad prefix, version, release, host, path or interval.
        ValidationError: the pack breaks SCOM's or our rules (a bug).
    """
    mp_id = integration_mp_id(mp_id_prefix)
    release = checked_release(version, scom_version)
    host = _text("host", host)
    status_path = _text("status_path", status_path)
    if isinstance(interval_seconds, bool) or not isinstance(interval_seconds, int) \
            or not 1 <= interval_seconds <= _MAX_INTERVAL:
        raise RenderError(f"interval_seconds {interval_seconds!r} must be a whole number of seconds, "
                          f"1..{_MAX_INTERVAL}")

    root = copy.deepcopy(_template())
    values = {
        "${MP}": mp_id,
        "${HOST_PATTERN}": host_pattern(host),
        "${STATUS_PATH}": status_path,
        "${SYNC_INTERVAL}": str(interval_seconds),
        "${MP_DESCRIPTION}": (f"Health of servicemap-sync as seen from {host}: reads {status_path} every 5 minutes; "
                              f"warning when a server fails, critical when no run has finished for "
                              f"{2 * interval_seconds} s (two intervals) or the file cannot be read."),
    }
    fill_tokens(root, values)
    root.find("Manifest/Identity/Version").text = version
    for reference in root.iterfind("Manifest/References/Reference"):
        reference.find("Version").text = reference_version(reference.findtext("ID"), release)
    for body in root.iter("ScriptBody"):
        body.text = etree.CDATA(body.text)

    return validated_xml(root, f"{mp_id}.xml", release)


def host_pattern(host: str) -> str:
    """The .NET regular expression the discovery matches ``PrincipalName`` with: the host, any case.

    ``Web01.contoso.com`` → ``^(?i:Web01\\.contoso\\.com)$``.
    """
    escaped = _DOTNET_SPECIAL.sub(r"\\\1", host)
    return f"^(?i:{escaped})$"


def _text(name: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RenderError(f"{name} must be a non-empty string, not {value!r}")
    value = value.strip()
    if _CONTROL.search(value):
        raise RenderError(f"{name} {value!r} contains a control character")
    return value


@lru_cache(maxsize=1)
def _template() -> etree._Element:
    return load_template(TEMPLATE)

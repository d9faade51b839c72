"""Which version of each referenced library every SCOM release has, and what our packs need.

A ``<Reference>`` ``Version`` is a *minimum* (learn:jj129846, learn:gg469714): a management
group imports a pack only if the sealed library it names is installed at that version or
higher. So a pack that asks for more than it needs is refused, for no reason, by older
management groups. The renderer therefore writes each reference at the **lowest version
that has every element the pack uses** (:data:`MINIMUM`) and raises it only when told to
(``scom_version``: a site that has SCOM 2019 everywhere may reference what 2019 ships).

:data:`LIBRARIES` is the table library × release: the version of the library that a
management group of that release is known to have (so a pack referencing at most that
version imports there). Where the exact build a release ships is not documented in a public
source we could read, the cell holds the highest version documented for that release or an
older one; since a reference is a minimum, a cell that is too low is safe, one that is too
high is not. Sources, per figure:

* 2012 R2 column = :data:`MINIMUM`: ``shared/docs/scom-management-packs.md`` §2 ("use (2012 R2
  baseline, imports on 2012 R2…2025)"), the same set as the example packs
  ``examples/Microsoft.SQLServer.Windows.RunAs.Addendum.xml`` (System/Windows 7.5.8501.0,
  SystemCenter/Health 7.0.8433.0) and ``examples/azurelocal-hyperv/*.xml.template``
  (ServiceDesigner 7.0.8433.0). Microsoft.Unix.Library 7.4.4515.0: Microsoft's sample pack
  "Sample Linux log file management pack" (MicrosoftDocs/SystemCenterDocs) references exactly
  that, with System/Windows 7.5.8501.0.
* Release build numbers 7.1.10226.0 (2012 R2 RTM), 7.2.11719.0 (2016 RTM), 10.19.10050.0
  (2019 RTM), 10.22.10118.0 (2022 RTM), 10.25.10132.0 (2025 RTM): Microsoft's documentation
  (the Operations Manager 2016 build-version table, "7.2.11719.0 … General Availability
  release"; the upgrade pages: console UIVersion 7.2.11719.0, agent version 10.19.10050.0 for
  2019 and 10.22.10118.0 for 2022), community build lists (teamwallride/Management-Packs,
  ``Microsoft.SCOM.UpdateRollup.Monitoring``: "2019 RTM" 10.19.10050.0), and vendors' SCOM
  connector pages listing "2025 - version 10.25.10132.0". Found with the project's code search.
* The libraries installed with SCOM itself (Microsoft.SystemCenter.Library, System.Health.Library,
  Microsoft.SystemCenter.ServiceDesigner.Library) carry the release's build number: public packs
  reference Microsoft.SystemCenter.WebApplicationSolutions.Library 7.1.10226.0 (2012 R2),
  Microsoft.SystemCenter.Notifications.Library 7.2.11719.0 (2016), and
  Microsoft.SystemCenter.Library / Microsoft.SystemCenter.Visualization.Library 10.25.10132.0
  (2025); the guide's "other values seen" (7.0.8448.6, 7.0.8443.6) are hotfix-era builds of
  the same libraries, below 2012 R2's.
* System.Library and Microsoft.Windows.Library: 7.5.8501.0 in every release (the guide §2:
  Silect notes the *same* version 7.5.8501.0 ships in 2012, 2012 SP1, 2012 R2 and 2016). No
  public source gives a higher build for 2019 or 2022; a 2025 lab write-up references
  7.5.8501.1, unconfirmed. So every release stays at 7.5.8501.0 (a minimum: safe either way).
* Microsoft.Unix.Library: no public pack references a higher build of this library for a given
  release, so every release stays at 7.4.4515.0 (the cross-platform packs of 2012 R2 and later
  are 7.5.x and above, which satisfies it).

Every element the packs use — ``System.Containment``, ``System.Reference`` (System.Library);
``Microsoft.Windows.Computer`` and its ``PrincipalName``/``NetbiosComputerName``
(Microsoft.Windows.Library); ``Microsoft.Unix.Computer``/``PrincipalName`` (Microsoft.Unix.Library);
``GenericService``/``ServiceComponentGroup`` (ServiceDesigner); ``GroupPopulator``
(Microsoft.SystemCenter.Library); the four aggregate health states (System.Health.Library) —
exists since SCOM 2007 R2. Schema version 2.0 packs import only on SCOM 2012 and later, so the
first 2012 builds (:data:`MINIMUM`) are the lowest useful references; 2012 R2 is the oldest
release Microsoft still documents and the oldest one in this table.
"""

from __future__ import annotations

from servicemap_sync.mp.mp_index import parse_version

__all__ = [
    "DEFAULT_RELEASE", "LIBRARIES", "MINIMUM", "RELEASES", "UNIX_LIBRARY", "normalize_release", "reference_version",
]

#: Releases, oldest first, as ``scom_version`` spells them.
RELEASES: tuple[str, ...] = ("2012R2", "2016", "2019", "2022", "2025")
#: The lowest release every pack imports into: the default ``scom_version``.
DEFAULT_RELEASE = RELEASES[0]
UNIX_LIBRARY = "Microsoft.Unix.Library"

_BUILDS = {"2012R2": "7.1.10226.0", "2016": "7.2.11719.0", "2019": "10.19.10050.0",
           "2022": "10.22.10118.0", "2025": "10.25.10132.0"}

#: The lowest version of each library that has every element our packs use (the guide's baseline).
MINIMUM: dict[str, str] = {
    "Microsoft.SystemCenter.Library": "7.0.8433.0",
    "Microsoft.SystemCenter.ServiceDesigner.Library": "7.0.8433.0",
    "Microsoft.Unix.Library": "7.4.4515.0",
    "Microsoft.Windows.Library": "7.5.8501.0",
    "System.Health.Library": "7.0.8433.0",
    "System.Library": "7.5.8501.0",
}

#: library → release → version a management group of that release has (see the module docstring).
LIBRARIES: dict[str, dict[str, str]] = {
    "Microsoft.SystemCenter.Library": {"2012R2": MINIMUM["Microsoft.SystemCenter.Library"],
                                       **{r: _BUILDS[r] for r in RELEASES[1:]}},
    "Microsoft.SystemCenter.ServiceDesigner.Library": {
        "2012R2": MINIMUM["Microsoft.SystemCenter.ServiceDesigner.Library"], **{r: _BUILDS[r] for r in RELEASES[1:]}},
    "System.Health.Library": {"2012R2": MINIMUM["System.Health.Library"], **{r: _BUILDS[r] for r in RELEASES[1:]}},
    "System.Library": dict.fromkeys(RELEASES, "7.5.8501.0"),
    "Microsoft.Windows.Library": dict.fromkeys(RELEASES, "7.5.8501.0"),
    "Microsoft.Unix.Library": dict.fromkeys(RELEASES, "7.4.4515.0"),
}

_SPELLINGS = {"2012r2": "2012R2", "2012 r2": "2012R2", "2012_r2": "2012R2", "2012-r2": "2012R2"}


def normalize_release(value: str | None) -> str:
    """``"2019"``, ``"2012 R2"``, ``"2012R2"``… → the :data:`RELEASES` spelling; None → the default.

    Raises:
        ValueError: not a release of the table (the message lists them).
    """
    if value is None:
        return DEFAULT_RELEASE
    text = str(value).strip()
    found = _SPELLINGS.get(text.lower(), text)
    if found not in RELEASES:
        raise ValueError(f"SCOM release {value!r} is not one of {', '.join(RELEASES)}")
    return found


def reference_version(library: str, release: str = DEFAULT_RELEASE) -> str:
    """The version to reference ``library`` at for packs that must import on ``release`` and later:
    the release's version, never below :data:`MINIMUM`."""
    have = LIBRARIES[library][normalize_release(release)]
    need = MINIMUM[library]
    return have if parse_version(have) >= parse_version(need) else need

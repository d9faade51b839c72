"""Validate a SCOM management pack before it is written, and from ``servicemap-sync validate``.

SCOM has no public XSD (guide §0), so the rules its import enforces are emulated here,
with our own rules on top:

* scope ``"scom"`` — import would reject the MP: element order and unknown elements
  where the guide gives the content model, ID characters/length/uniqueness (ignoring
  case), versions, the file name, references and aliases, dangling local references,
  required attributes and their spelling, overrides (what they name; Module, Parameter
  and Value against this MP's own workflows and types), language packs, and references
  above what the configured SCOM release has (``scom_version``, table in ``releases``)
  (``rules_scom``);
* scope ``"house"`` — ours: display strings, ID segments, unused aliases, and the shape
  of the Distributed Application we generate (``rules_house``).

The checks are pure (no clock, files or network) except :func:`validate_file` and
:func:`check_upgrade_files`, which read the files they are given. :func:`check_upgrade`
(``upgrade``) compares a new MP with the previous one. Results are sorted, so the output
is deterministic. The rule tables are in ``schema``; the facts the rules read are
gathered once by ``mp_index``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lxml import etree

from servicemap_sync.mp import rules_house, rules_scom
from servicemap_sync.mp.mp_index import HOUSE, SCOM, Problem, index_document, where
from servicemap_sync.mp.releases import normalize_release
from servicemap_sync.mp.upgrade import check_upgrade

__all__ = ["HOUSE", "SCOM", "Problem", "check_upgrade", "check_upgrade_files", "validate_bytes", "validate_document",
           "validate_file"]

log = logging.getLogger(__name__)


def validate_document(root: etree._Element, *, filename: str | None = None,
                      house_rules: bool = True, scom_version: str | None = None) -> list[Problem]:
    """Every problem of a parsed management pack.

    Args:
        root: the ``ManagementPack`` element (a tree built in memory or parsed).
        filename: the file name the MP will be imported from; when given it must be
            ``<MP ID>.xml`` (``.mp``/``.mpb`` are not checked; for ``X.xml.template``
            and the like, the part before ``.xml.`` is compared).
        house_rules: also apply our own rules (scope ``"house"``).
        scom_version: the oldest SCOM release the MP must import into (``2012R2`` … ``2025``;
            None: 2012 R2). A reference to a library of :data:`~servicemap_sync.mp.releases.LIBRARIES`
            above the version that release has is a problem (``reference-release``).

    Raises:
        ValueError: ``scom_version`` is not a release of the table.

    Returns:
        Problems sorted by scope, rule, element and message; empty when the MP is valid.
    """
    problems: set[Problem] = set()

    def emit(scope: str, rule: str, el: etree._Element, message: str) -> None:
        if scope == SCOM or house_rules:
            problems.add(Problem(scope, rule, where(el), message))

    tag = root.tag
    if tag != "ManagementPack":
        if isinstance(tag, str) and tag.endswith("}ManagementPack"):
            emit(SCOM, "namespace", root, "no default namespace: MP elements are unqualified "
                                          "(remove xmlns=\"…\")")
        else:
            emit(SCOM, "root", root, "the root element must be <ManagementPack>")
        return sorted(problems)
    release = normalize_release(scom_version)
    index = index_document(root)
    rules_scom.check(index, filename, emit, release)
    if house_rules:
        rules_house.check(index, emit)
    log.debug("validated %s: %d problem(s)", index.mp_id, len(problems))
    return sorted(problems)


def _parse(data: bytes, label: str) -> etree._Element | Problem:
    """Parse without entities, DTD or network (MP files come from outside).

    Returns the root, or an ``xml`` problem when the document is not well-formed or has
    a DOCTYPE (an MP never has one; refusing it rules out entity tricks).
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as err:
        return Problem(SCOM, "xml", f"{label} (line {err.lineno})", f"not well-formed XML: {err.msg}")
    if root.getroottree().docinfo.doctype:
        return Problem(SCOM, "xml", label, "a DOCTYPE is not allowed in a management pack")
    return root


def _read(path: Path) -> bytes | Problem:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        return Problem(SCOM, "file", str(path), f"cannot read the file: {err.strerror or err}")


def validate_bytes(data: bytes, *, filename: str | None = None, house_rules: bool = True,
                   scom_version: str | None = None) -> list[Problem]:
    """Parse safely and validate.

    The parser resolves no entities, loads no DTD and touches no network; a document
    with a DOCTYPE, or one that is not well-formed, yields a single ``xml`` problem.

    Args:
        data: the file content (any encoding XML declares, BOM allowed).
        filename: see :func:`validate_document`.
        house_rules: see :func:`validate_document`.
        scom_version: see :func:`validate_document`.
    """
    root = _parse(data, filename or "document")
    if isinstance(root, Problem):
        return [root]
    return validate_document(root, filename=filename, house_rules=house_rules, scom_version=scom_version)


def validate_file(path: Path, *, house_rules: bool = True, scom_version: str | None = None) -> list[Problem]:
    """Read and validate one file; its name must match the MP ID.

    An unreadable file is reported as a single ``file`` problem rather than raised, so
    ``servicemap-sync validate`` can go on with the other files.
    """
    data = _read(path)
    if isinstance(data, Problem):
        return [data]
    return validate_bytes(data, filename=Path(path).name, house_rules=house_rules, scom_version=scom_version)


def check_upgrade_files(old_path: Path, new_path: Path) -> list[Problem]:
    """:func:`check_upgrade` on two files (``servicemap-sync validate --upgrade-from``).

    A file that cannot be read or parsed is reported as one ``file`` / ``xml`` problem.
    """
    roots = []
    for path in (old_path, new_path):
        data = _read(path)
        root = data if isinstance(data, Problem) else _parse(data, Path(path).name)
        if isinstance(root, Problem):
            return [root]
        roots.append(root)
    return check_upgrade(roots[0], roots[1])

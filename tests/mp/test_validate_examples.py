"""The validator on real, importable management packs (shared/scom-mp/examples).

These MPs import in real SCOM, so the SCOM-scope rules must find nothing; a finding
here means a rule is wrong or too strict. What the house rules report is pinned down
and explained per file. The ``.mpx`` files under ``kevinholman-fragments`` are VSAE
fragments (root ``ManagementPackFragment``, no Manifest, ``##placeholders##`` in IDs),
not MPs: they are excluded, and the last test shows the validator says so.

The AzureLocal ``.xml.template`` files hold ``{{PLACEHOLDERS}}`` that their generator
fills before import; the test fills ``{{VERSION}}`` and ``{{PUBLIC_KEY_TOKEN}}`` and
empties the rest (lists of extra elements and display strings), keeping the file name.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from servicemap_sync.mp.validate import Problem, validate_file

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "scom-mp" / "examples"
pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="needs /work/shared (../shared from the repo root) "
                                                                 "for the real example management packs")
FILLED = {b"VERSION": b"1.0.0.0", b"PUBLIC_KEY_TOKEN": b"0123456789abcdef"}

#: file → (house rules that fire, what the display-string findings are about)
EXPECTED = {
    # Kevin Holman's addendum: ENU strings for everything except its 7 module types and 1 monitor type
    "Microsoft.SQLServer.Windows.RunAs.Addendum.xml": ({"display-string"}, ("ModuleTypes/", "MonitorTypes/")),
    # VSAE override MP without LanguagePacks: one finding for the missing ENU pack
    "QND.ClusterDisk.Addendum.overrides.xml": ({"display-string"}, ("ManagementPack",)),
    # relationship display strings come from {{LIBRARY_ELEMENT_DISPLAY_STRINGS}} (emptied here);
    # the SC reference is declared but nothing in the library uses it
    "azurelocal-hyperv/HybridSolutionsCloud.HyperV.Library.xml.template": (
        {"display-string", "alias-unused"}, ("RelationshipTypes/",)),
    # its module types and the monitor type have no display strings
    "azurelocal-hyperv/HybridSolutionsCloud.HyperV.Monitoring.xml.template": (
        {"display-string"}, ("ModuleTypes/", "MonitorTypes/")),
}


def example(name: str, tmp_path: Path) -> Path:
    path = EXAMPLES / name
    if not name.endswith(".template"):
        return path
    filled = re.sub(rb"\{\{([A-Z_]+)\}\}", lambda m: FILLED.get(m.group(1), b""), path.read_bytes())
    copy = tmp_path / path.name
    copy.write_bytes(filled)
    return copy


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_mps_pass_the_scom_rules(name: str, tmp_path: Path) -> None:
    problems = validate_file(example(name, tmp_path))
    assert [p for p in problems if p.scope == "scom"] == []
    rules, places = EXPECTED[name]
    assert {p.rule for p in problems} == rules
    display: list[Problem] = [p for p in problems if p.rule == "display-string"]
    assert display and all(any(place in p.element for place in places) for p in display), display


def test_the_examples_list_is_complete() -> None:
    complete = {str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*") if p.name.endswith((".xml", ".xml.template"))}
    assert complete == set(EXPECTED)


def test_fragments_are_not_management_packs() -> None:
    fragments = sorted((EXAMPLES / "kevinholman-fragments").glob("*.mpx"))
    assert fragments
    for fragment in fragments:
        assert [p.rule for p in validate_file(fragment)] == ["root"]

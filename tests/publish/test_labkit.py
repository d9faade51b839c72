"""The lab kit: Test-ServiceMapSync.ps1 beside the packs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from servicemap_sync.publish.labkit import LAB_SCRIPT_NAME, lab_script, write_lab_script

PWSH = shutil.which("pwsh")


def test_script_is_ascii_written_atomically_and_only_when_it_differs(tmp_path: Path) -> None:
    text = lab_script()
    text.encode("ascii")  # Windows PowerShell 5.1 reads a BOM-less file in the ANSI code page
    assert "\r" not in text
    path = write_lab_script(tmp_path)
    assert path == tmp_path / LAB_SCRIPT_NAME and path.read_bytes() == text.encode("ascii")
    written = path.stat().st_mtime_ns
    assert write_lab_script(tmp_path) == path and path.stat().st_mtime_ns == written  # unchanged: not rewritten
    path.write_text("edited by hand", encoding="ascii")
    assert write_lab_script(tmp_path).read_bytes() == text.encode("ascii")  # a stale or edited copy is replaced
    assert [p.name for p in tmp_path.iterdir()] == [LAB_SCRIPT_NAME]


def test_script_does_what_the_lab_needs() -> None:
    text = lab_script()
    for needed in ("Test-SCOMManagementPack", "Import-SCOMManagementPack", "New-SCOMManagementGroupConnection",
                   "Get-SCOMClass ", "Get-SCOMClassInstance", "Get-SCOMRelationship ", "Get-SCOMRelationshipInstance",
                   "ConvertTo-Json", "Format-Table", "$ManagementServer", "$DiscoveryTimeoutMinutes", "$SkipImport",
                   "$ReportPath", "GenericService", "ServiceComponentGroup", "System.Reference", " (retired)",
                   "ServiceContainsComponent"):
        assert needed in text, needed
    # brackets balance (a cheap stand-in for the parser when pwsh is absent)
    for opening, closing in ("()", "{}", "[]"):
        assert text.count(opening) == text.count(closing), opening


@pytest.mark.skipif(PWSH is None, reason="pwsh is not installed: the PowerShell parser check of "
                                         "Test-ServiceMapSync.ps1 is skipped (install PowerShell 7 to run it)")
def test_powershell_parses_the_script(tmp_path: Path) -> None:
    path = write_lab_script(tmp_path)
    command = (
        "$errors = $null; $tokens = $null; "
        f"$null = [System.Management.Automation.Language.Parser]::ParseInput((Get-Content -Raw -LiteralPath '{path}'), "
        "[ref]$tokens, [ref]$errors); "
        "if ($errors.Count) { $errors | ForEach-Object { Write-Output $_.ToString() }; exit 1 }"
    )
    result = subprocess.run([PWSH, "-NoProfile", "-NonInteractive", "-Command", command],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr

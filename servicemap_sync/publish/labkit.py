"""The lab kit: ``Test-ServiceMapSync.ps1``, written beside the management packs.

Nothing here can run SCOM, so the last word on a pack is a real management group. The script
gives an administrator that word in one command, in a lab:

1. ``Test-SCOMManagementPack`` on every pack in its folder (SCOM's own verification, which
   resolves references against the management group);
2. ``Import-SCOMManagementPack`` of them all into the management group named by
   ``-ManagementServer`` (skipped with ``-SkipImport``, e.g. to re-check later);
3. waits (``-DiscoveryTimeoutMinutes``, polling every ``-PollSeconds``) until every box of
   every Distributed Application exists, since group populators run after import;
4. reports per DA whether its instance, each box, each box's member computer and each arrow
   exist (``Get-SCOMClass`` / ``Get-SCOMClassInstance`` / ``Get-SCOMRelationship`` /
   ``Get-SCOMRelationshipInstance``), as a table and a JSON file (``-ReportPath``, default
   ``ServiceMapSync-lab-<time>.json`` in the folder) the administrator can keep.

What to expect is read from the packs themselves (the DA class on ``GenericService``, boxes on
``ServiceComponentGroup`` that are not "(retired)", their membership rules, arrows on
``System.Reference``), so the script is the same text for every output folder: same input,
same bytes. It is ASCII only, so Windows PowerShell 5.1 reads it whatever its code page.
"""

from __future__ import annotations

from pathlib import Path

from .writer import publish_file

__all__ = ["LAB_SCRIPT_NAME", "lab_script", "write_lab_script"]

LAB_SCRIPT_NAME = "Test-ServiceMapSync.ps1"

_SCRIPT = r"""<#
.SYNOPSIS
    Proves the servicemap-sync management packs in this folder on a lab management group.

.DESCRIPTION
    Written by servicemap-sync beside the packs it generates. For every <MP ID>.xml here it
    runs Test-SCOMManagementPack, imports the packs into the management group of
    -ManagementServer, waits for discovery, and reports for each Distributed Application
    whether its instance, its boxes, the boxes' member computers and the arrows between boxes
    exist. The result is shown as a table and saved as JSON (-ReportPath).

    Run it in a lab, on a management server or a machine with the Operations console
    (OperationsManager module), as an Operations Manager administrator.

.PARAMETER ManagementServer
    A management server of the lab management group.

.PARAMETER Folder
    The folder holding the packs (default: this script's folder).

.PARAMETER DiscoveryTimeoutMinutes
    How long to wait for every box to be discovered after import (default 30).

.PARAMETER PollSeconds
    How often to look while waiting (default 60).

.PARAMETER SkipImport
    Do not import; only test and report (e.g. to look again later).

.PARAMETER ReportPath
    Where to save the JSON report (default: ServiceMapSync-lab-<time>.json in the folder).

.EXAMPLE
    .\Test-ServiceMapSync.ps1 -ManagementServer ms01.lab.contoso.com
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string] $ManagementServer,
    [string] $Folder = $PSScriptRoot,
    [ValidateRange(0, 1440)][int] $DiscoveryTimeoutMinutes = 30,
    [ValidateRange(5, 3600)][int] $PollSeconds = 60,
    [switch] $SkipImport,
    [string] $ReportPath
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

function Get-ExpectedDA {
    # What a pack promises, read from its XML: the DA, its boxes, their members and the arrows.
    param([System.IO.FileInfo] $File)
    $doc = New-Object System.Xml.XmlDocument
    $doc.Load($File.FullName)  # honours the encoding the file declares (UTF-8, or UTF-16 from SCOM)
    $mp = $doc.ManagementPack
    if ($null -eq $mp) { return $null }
    $names = @{}
    foreach ($ds in @($doc.SelectNodes('/ManagementPack/LanguagePacks/LanguagePack[@ID="ENU"]/DisplayStrings/DisplayString'))) {
        $names[$ds.GetAttribute('ElementID')] = [string] $ds.Name
    }
    $classes = @($doc.SelectNodes('/ManagementPack/TypeDefinitions/EntityTypes/ClassTypes/ClassType'))
    $da = $classes | Where-Object { $_.GetAttribute('Base') -like '*!Microsoft.SystemCenter.ServiceDesigner.GenericService' } |
        Select-Object -First 1
    if ($null -eq $da) { return $null }
    $boxes = @()
    foreach ($class in $classes) {
        $id = $class.GetAttribute('ID')
        if ($class.GetAttribute('Base') -notlike '*!Microsoft.SystemCenter.ServiceDesigner.ServiceComponentGroup') { continue }
        if ($names.ContainsKey($id) -and $names[$id].EndsWith(' (retired)')) { continue }
        $members = @()
        $discovery = $doc.SelectSingleNode("/ManagementPack/Monitoring/Discoveries/Discovery[@Target='$id']")
        if ($null -ne $discovery) {
            foreach ($rule in @($discovery.SelectNodes('.//MembershipRule[Expression]'))) {
                $members += [pscustomobject]@{
                    Relationship = ($rule.RelationshipClass -replace '^\$MPElement\[Name="(.*)"\]\$$', '$1')
                    Rule         = (@($rule.SelectNodes('.//Property | .//Value | .//Pattern') | ForEach-Object { $_.InnerText.Trim() }) -join ' ')
                }
            }
        }
        $boxes += [pscustomobject]@{ Id = $id; Name = $names[$id]; Members = $members }
    }
    $arrows = @()
    foreach ($rel in @($doc.SelectNodes('/ManagementPack/TypeDefinitions/EntityTypes/RelationshipTypes/RelationshipType'))) {
        $id = $rel.GetAttribute('ID')
        if ($rel.GetAttribute('Base') -notlike '*!System.Reference') { continue }
        if ($names.ContainsKey($id) -and $names[$id].EndsWith(' (retired)')) { continue }
        $arrows += [pscustomobject]@{
            Id = $id; Name = $names[$id]
            Source = $rel.SelectSingleNode('Source').GetAttribute('Type')
            Target = $rel.SelectSingleNode('Target').GetAttribute('Type')
        }
    }
    [pscustomobject]@{
        File = $File.Name; MpId = [string] $mp.Manifest.Identity.ID; Version = [string] $mp.Manifest.Identity.Version
        DA = $da.GetAttribute('ID'); Boxes = $boxes; Arrows = $arrows
    }
}

function Get-Instance {
    # The instance of a singleton class, or $null when the class or its instance is missing.
    param([string] $ClassName)
    $class = Get-SCOMClass -Name $ClassName -ErrorAction SilentlyContinue
    if ($null -eq $class) { return $null }
    Get-SCOMClassInstance -Class $class -ErrorAction SilentlyContinue | Select-Object -First 1
}

function Get-RelatedFrom {
    # Relationship instances of the named type whose source is $Source.
    param($Source, [string] $RelationshipName)
    if ($null -eq $Source) { return @() }
    $relationship = Get-SCOMRelationship -Name $RelationshipName -ErrorAction SilentlyContinue
    if ($null -eq $relationship) { return @() }
    @(Get-SCOMRelationshipInstance -SourceInstance $Source -ErrorAction SilentlyContinue |
        Where-Object { $_.RelationshipId -eq $relationship.Id })
}

Import-Module OperationsManager
New-SCOMManagementGroupConnection -ComputerName $ManagementServer | Out-Null

if (-not $ReportPath) {
    $ReportPath = Join-Path $Folder ('ServiceMapSync-lab-{0}.json' -f (Get-Date -Format 'yyyyMMdd-HHmmss'))
}
$files = @(Get-ChildItem -LiteralPath $Folder -Filter '*.xml' -File | Sort-Object Name)
$expected = @()
foreach ($file in $files) {
    $da = Get-ExpectedDA -File $file
    if ($null -ne $da) { $expected += $da }
}
if ($expected.Count -eq 0) { throw "no servicemap-sync management pack (*.xml with a Distributed Application) in $Folder" }

# 1. SCOM's own verification of every pack
$tests = @{}
foreach ($da in $expected) {
    $path = Join-Path $Folder $da.File
    try {
        $result = Test-SCOMManagementPack -FullName $path 2>&1 | Out-String
        $tests[$da.File] = [pscustomobject]@{ Passed = $true; Output = $result.Trim() }
    } catch {
        $tests[$da.File] = [pscustomobject]@{ Passed = $false; Output = $_.Exception.Message }
    }
    Write-Host ('Test-SCOMManagementPack {0}: {1}' -f $da.File, $(if ($tests[$da.File].Passed) { 'passed' } else { 'FAILED' }))
}

# 2. import the packs that passed
$imports = @{}
if (-not $SkipImport) {
    foreach ($da in $expected) {
        if (-not $tests[$da.File].Passed) { $imports[$da.File] = 'not imported: the test failed'; continue }
        try {
            Import-SCOMManagementPack -Fullname (Join-Path $Folder $da.File)
            $imports[$da.File] = 'imported'
        } catch {
            $imports[$da.File] = 'import failed: ' + $_.Exception.Message
        }
        Write-Host ('Import {0}: {1}' -f $da.File, $imports[$da.File])
    }
}

# 3. wait until every box of every imported DA exists (group populators run after import)
$deadline = (Get-Date).AddMinutes($DiscoveryTimeoutMinutes)
do {
    $missing = 0
    foreach ($da in $expected) {
        foreach ($box in $da.Boxes) {
            if ($null -eq (Get-Instance -ClassName $box.Id)) { $missing++ }
        }
    }
    if ($missing -eq 0 -or (Get-Date) -ge $deadline) { break }
    Write-Host ('waiting for discovery: {0} box(es) not there yet' -f $missing)
    Start-Sleep -Seconds $PollSeconds
} while ($true)

# 4. what exists, per DA
$report = @()
foreach ($da in $expected) {
    $daInstance = Get-Instance -ClassName $da.DA
    $boxRows = @()
    $instances = @{}
    foreach ($box in $da.Boxes) {
        $instance = Get-Instance -ClassName $box.Id
        $instances[$box.Id] = $instance
        $memberRows = @()
        foreach ($member in $box.Members) {
            $found = @(Get-RelatedFrom -Source $instance -RelationshipName $member.Relationship)
            $memberRows += [pscustomobject]@{
                Rule = $member.Rule; Relationship = $member.Relationship; Exists = ($found.Count -gt 0)
                Computers = @($found | ForEach-Object { $_.TargetObject.DisplayName })
            }
        }
        $inDA = @(Get-RelatedFrom -Source $daInstance -RelationshipName "$($da.MpId).ServiceContainsComponent" |
            Where-Object { $null -ne $instance -and $_.TargetObject.Id -eq $instance.Id })
        $boxRows += [pscustomobject]@{
            Id = $box.Id; Name = $box.Name; Exists = ($null -ne $instance); InDA = ($inDA.Count -gt 0)
            HealthState = $(if ($null -ne $instance) { [string] $instance.HealthState } else { '' })
            Members = $memberRows
        }
    }
    $arrowRows = @()
    foreach ($arrow in $da.Arrows) {
        $source = $instances[$arrow.Source]
        $found = @(Get-RelatedFrom -Source $source -RelationshipName $arrow.Id)
        $arrowRows += [pscustomobject]@{ Id = $arrow.Id; Name = $arrow.Name; Exists = ($found.Count -gt 0) }
    }
    $memberChecks = @($boxRows | ForEach-Object { $_.Members } | Where-Object { $null -ne $_ })
    $report += [pscustomobject]@{
        File = $da.File; MpId = $da.MpId; Version = $da.Version
        Test = $tests[$da.File].Passed; TestOutput = $tests[$da.File].Output
        Import = $(if ($SkipImport) { 'skipped' } else { $imports[$da.File] })
        DAInstance = ($null -ne $daInstance)
        DAHealthState = $(if ($null -ne $daInstance) { [string] $daInstance.HealthState } else { '' })
        BoxesFound = @($boxRows | Where-Object { $_.Exists }).Count; BoxesExpected = $boxRows.Count
        MembersFound = @($memberChecks | Where-Object { $_.Exists }).Count; MembersExpected = $memberChecks.Count
        ArrowsFound = @($arrowRows | Where-Object { $_.Exists }).Count; ArrowsExpected = $arrowRows.Count
        Boxes = $boxRows; Arrows = $arrowRows
    }
}

$report | Format-Table -AutoSize File, Test, Import, DAInstance, DAHealthState,
    @{ Label = 'Boxes'; Expression = { '{0}/{1}' -f $_.BoxesFound, $_.BoxesExpected } },
    @{ Label = 'Members'; Expression = { '{0}/{1}' -f $_.MembersFound, $_.MembersExpected } },
    @{ Label = 'Arrows'; Expression = { '{0}/{1}' -f $_.ArrowsFound, $_.ArrowsExpected } } | Out-Host

[pscustomobject]@{
    ManagementServer = $ManagementServer; Folder = $Folder; Finished = (Get-Date).ToString('o')
    DiscoveryTimeoutMinutes = $DiscoveryTimeoutMinutes; Packs = $report
} | ConvertTo-Json -Depth 8 | Set-Content -LiteralPath $ReportPath -Encoding UTF8
Write-Host "report: $ReportPath"
# A member may be missing for good reasons (the computer is not managed by this lab);
# a missing DA instance, box or arrow, or a failed test or import, is a defect to report.
$failed = @($report | Where-Object { -not $_.Test -or -not $_.DAInstance -or $_.BoxesFound -lt $_.BoxesExpected -or
    $_.ArrowsFound -lt $_.ArrowsExpected -or ($_.Import -ne 'imported' -and $_.Import -ne 'skipped') })
if ($failed.Count -gt 0) { exit 1 }
exit 0
"""


def lab_script() -> str:
    """The text of ``Test-ServiceMapSync.ps1`` (the same for every output folder; ASCII, CRLF-free)."""
    return _SCRIPT


def write_lab_script(directory: Path) -> Path:
    """Write ``Test-ServiceMapSync.ps1`` into ``directory`` atomically, unless it is there already
    as it should be (every sync calls this; the text only changes with servicemap-sync).

    Raises:
        PublishError: the write failed (see :func:`~servicemap_sync.publish.writer.publish_file`).
    """
    path = Path(directory) / LAB_SCRIPT_NAME
    data = _SCRIPT.encode("ascii")
    try:
        if path.read_bytes() == data:
            return path
    except OSError:
        pass  # missing or unreadable: write it
    return publish_file(Path(directory), LAB_SCRIPT_NAME, data)

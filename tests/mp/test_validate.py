"""SCOM-scope rules of the management-pack validator.

``build_da_mp`` builds, with lxml, a small per-server DA following the guide's skeleton
(shared/docs/scom-management-packs.md §4) plus a display string for every element and
without the root folder (a house rule); each test breaks one rule on purpose.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from lxml.builder import E

from servicemap_sync.mp.validate import Problem, validate_bytes, validate_document, validate_file

MP_ID = "Contoso.SvcMapDA.web01"
SD = "SD!Microsoft.SystemCenter.ServiceDesigner"
REFERENCES = (("System", "System.Library", "7.5.8501.0"), ("SC", "Microsoft.SystemCenter.Library", "7.0.8433.0"),
              ("Windows", "Microsoft.Windows.Library", "7.5.8501.0"),
              ("Health", "System.Health.Library", "7.0.8433.0"),
              ("SD", "Microsoft.SystemCenter.ServiceDesigner.Library", "7.0.8433.0"))


def mpelement(name: str) -> str:
    return f'$MPElement[Name="{name}"]$'


def class_type(class_id: str, base: str) -> etree._Element:
    return E.ClassType(ID=class_id, Accessibility="Public", Abstract="false", Base=base, Hosted="false",
                       Singleton="true", Extension="false")


def relationship(rel_id: str, base: str, source: str, target: str) -> etree._Element:
    return E.RelationshipType(E.Source(ID="Source", Type=source), E.Target(ID="Target", Type=target),
                              ID=rel_id, Accessibility="Public", Abstract="false", Base=base)


def populator(disc_id: str, target: str, rel: str, *rules: etree._Element) -> etree._Element:
    return E.Discovery(
        E.Category("Discovery"), E.DiscoveryTypes(E.DiscoveryRelationship(TypeID=rel)),
        E.DataSource(E.RuleId("$MPElement$"), E.GroupInstanceId("$Target/Id$"), E.MembershipRules(*rules),
                     ID="GP", TypeID="SC!Microsoft.SystemCenter.GroupPopulator"),
        ID=disc_id, Enabled="true", Target=target, ConfirmDelivery="false", Remotable="true", Priority="Normal")


def rollup(mon_id: str, target: str, rel: str) -> etree._Element:
    return E.DependencyMonitor(
        E.Category("AvailabilityHealth"), E.Algorithm("WorstOf"), E.MemberUnAvailable("Error"),
        ID=mon_id, Accessibility="Public", Enabled="true", Target=target,
        ParentMonitorID="Health!System.Health.AvailabilityState", Remotable="true", Priority="Normal",
        RelationshipType=rel, MemberMonitor="Health!System.Health.AvailabilityState")


def build_da_mp(components: int = 2, mp_id: str = MP_ID) -> etree._Element:
    """A valid DA MP with ``components`` component groups, one computer each."""
    service, contains, members = f"{mp_id}.Service", f"{mp_id}.ServiceContainsGroup", f"{mp_id}.GroupContainsComputer"
    groups = [f"{mp_id}.CG.Group{i}" for i in range(components)]
    computer = "Windows!Microsoft.Windows.Computer"
    classes = [class_type(service, f"{SD}.GenericService"),
               *(class_type(g, f"{SD}.ServiceComponentGroup") for g in groups)]
    relationships = [relationship(contains, "System!System.Containment", service, f"{SD}.ServiceComponentGroup"),
                     relationship(members, "System!System.Containment", f"{SD}.ServiceComponentGroup", computer),
                     relationship(f"{mp_id}.GroupConnectsToGroup", "System!System.Reference",
                                  f"{SD}.ServiceComponentGroup", f"{SD}.ServiceComponentGroup")]
    discoveries = [populator(f"{service}.Discovery", service, contains, *(
        E.MembershipRule(E.MonitoringClass(mpelement(g)), E.RelationshipClass(mpelement(contains)))
        for g in groups))]
    discoveries += [populator(f"{g}.Discovery", g, members, E.MembershipRule(
        E.MonitoringClass(mpelement(computer)), E.RelationshipClass(mpelement(members)),
        E.Expression(E.SimpleExpression(
            E.ValueExpression(E.Property(f'$MPElement[Name="{computer}"]/PrincipalName$')),
            E.Operator("Equal"), E.ValueExpression(E.Value(f"host{i}.contoso.com"))))))
        for i, g in enumerate(groups)]
    monitors = [rollup(f"{service}.Availability.Rollup", service, contains),
                *(rollup(f"{g}.Availability.Rollup", g, members) for g in groups)]
    view = E.View(E.Category("Operations"), ID=f"{mp_id}.Diagram", Accessibility="Public", Enabled="true",
                  Target=service, TypeID="SC!Microsoft.SystemCenter.DiagramViewType", Visible="true")
    root = E.ManagementPack(
        E.Manifest(E.Identity(E.ID(mp_id), E.Version("1.0.0.7")), E.Name(mp_id), E.References(*(
            E.Reference(E.ID(ref_id), E.Version(version), E.PublicKeyToken("31bf3856ad364e35"), Alias=alias)
            for alias, ref_id, version in REFERENCES))),
        E.TypeDefinitions(E.EntityTypes(E.ClassTypes(*classes), E.RelationshipTypes(*relationships))),
        E.Monitoring(E.Discoveries(*discoveries), E.Monitors(*monitors)),
        E.Presentation(E.Views(view), E.FolderItems(E.FolderItem(
            ElementID=view.get("ID"), ID=f"{mp_id}.Diagram.Item", Folder="SC!Microsoft.SystemCenter.Monitoring.ViewFolder.Root"))),
        ContentReadable="true", SchemaVersion="2.0", OriginalSchemaVersion="2.0")
    ids = [mp_id, *(el.get("ID") for el in root.iter("ClassType", "RelationshipType", "Discovery",
                                                   "DependencyMonitor", "View"))]
    root.append(E.LanguagePacks(E.LanguagePack(E.DisplayStrings(*(
        E.DisplayString(E.Name(f"name of {i}"), ElementID=i) for i in ids)), ID="ENU", IsDefault="true")))
    return root

"""SCOM-scope rules of the management-pack validator, part 1: element order, unknown
elements, references and aliases (part 2: ``test_validate_values.py``).

``build_da_mp`` builds, with lxml, a small per-server DA following the guide's skeleton
(shared/docs/scom-management-packs.md §4) plus a display string for every element and
without the root folder (a house rule); each test breaks one rule on purpose.
"""

from __future__ import annotations

import pytest
from lxml import etree
from lxml.builder import E

from servicemap_sync.mp.validate import Problem, validate_document

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


ASPECTS = ("Availability", "Configuration", "Performance", "Security")


def rollup(mon_id: str, target: str, rel: str, aspect: str = "Availability") -> etree._Element:
    return E.DependencyMonitor(
        E.Category(f"{aspect}Health"), E.Algorithm("WorstOf"), E.MemberUnAvailable("Error"),
        ID=mon_id, Accessibility="Public", Enabled="true", Target=target,
        ParentMonitorID=f"Health!System.Health.{aspect}State", Remotable="true", Priority="Normal",
        RelationshipType=rel, MemberMonitor=f"Health!System.Health.{aspect}State")


def rollups(target: str, rel: str) -> list[etree._Element]:
    """The four aspects' rollups of one layer (the house rule wants all four)."""
    return [rollup(f"{target}.{aspect}.Rollup", target, rel, aspect) for aspect in ASPECTS]


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
    monitors = [*rollups(service, contains), *(m for g in groups for m in rollups(g, members))]
    view = E.View(E.Category("Operations"), ID=f"{mp_id}.Diagram", Accessibility="Public", Enabled="true",
                  Target=service, TypeID="SC!Microsoft.SystemCenter.DiagramViewType", Visible="true")
    root = E.ManagementPack(
        E.Manifest(E.Identity(E.ID(mp_id), E.Version("1.0.0.7")), E.Name(mp_id), E.References(*(
            E.Reference(E.ID(ref_id), E.Version(version), E.PublicKeyToken("31bf3856ad364e35"), Alias=alias)
            for alias, ref_id, version in REFERENCES))),
        E.TypeDefinitions(E.EntityTypes(E.ClassTypes(*classes), E.RelationshipTypes(*relationships))),
        E.Monitoring(E.Discoveries(*discoveries), E.Monitors(*monitors)),
        E.Presentation(E.Views(view), E.FolderItems(E.FolderItem(
            ElementID=view.get("ID"), ID=f"{mp_id}.Diagram.Item",
            Folder="SC!Microsoft.SystemCenter.Monitoring.ViewFolder.Root"))),
        ContentReadable="true", SchemaVersion="2.0", OriginalSchemaVersion="2.0")
    ids = [mp_id, *(el.get("ID") for el in root.iter("ClassType", "RelationshipType", "Discovery",
                                                   "DependencyMonitor", "View"))]
    root.append(E.LanguagePacks(E.LanguagePack(E.DisplayStrings(*(
        E.DisplayString(E.Name(f"name of {i}"), ElementID=i) for i in ids)), ID="ENU", IsDefault="true")))
    return root


def scom(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.scope == "scom"]


def only(problems: list[Problem], rule: str, scope: str = "scom") -> Problem:
    """The single problem of this rule (the fixture is valid, so it is the one we caused)."""
    found = [p for p in problems if p.rule == rule and p.scope == scope]
    assert len(found) == 1, problems
    return found[0]


def rename(root: etree._Element, old: str, new: str) -> None:
    """Change an element ID and every attribute that names it."""
    for el in root.iter(etree.Element):
        for attr, value in el.items():
            if value == old:
                el.set(attr, new)


def first(root: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return next(el for el in root.iter(tag) if all(el.get(k) == v for k, v in attrs.items()))


def section(root: etree._Element, tag: str) -> etree._Element:
    return next(el for el in root if el.tag == tag)


# --- the valid fixture --------------------------------------------------------------------


def test_skeleton_da_is_valid_in_both_scopes() -> None:
    root = build_da_mp()
    assert validate_document(root, filename=f"{MP_ID}.xml") == []


def test_problem_str_and_sorting_are_deterministic() -> None:
    root = build_da_mp()
    first(root, "ClassType").set("Abstract", "True")
    first(root, "Discovery").set("Target", "Nope")
    problems = validate_document(root)
    assert problems == sorted(problems) == validate_document(root)
    text = str(only(problems, "bool-case"))
    assert text.startswith("scom bool-case at ManagementPack/TypeDefinitions/EntityTypes/ClassTypes/"
                           f"ClassType[@ID='{MP_ID}.Service']: ")


# --- element order and unknown elements ----------------------------------------------------


def test_top_level_order() -> None:
    root = build_da_mp()
    root.insert(1, section(root, "Monitoring"))  # Monitoring before TypeDefinitions
    p = only(validate_document(root), "order")
    assert "TypeDefinitions" in p.message and "Monitoring" in p.message
    assert p.element.startswith("ManagementPack/") and "line" not in p.element


@pytest.mark.parametrize(("parent", "moved", "before"), [
    ("Monitoring", "Monitors", "Discoveries"),
    ("Manifest", "Name", "Identity"),
    ("Reference", "PublicKeyToken", "ID"),
    ("DependencyMonitor", "Algorithm", "Category"),
    ("DependencyMonitor", "MemberUnAvailable", "Algorithm"),
    ("Discovery", "DataSource", "DiscoveryTypes"),
    ("MembershipRule", "RelationshipClass", "MonitoringClass"),
    ("RelationshipType", "Target", "Source"),
    ("DisplayString", "Description", "Name"),
    ("EntityTypes", "RelationshipTypes", "ClassTypes"),
])
def test_inner_order(parent: str, moved: str, before: str) -> None:
    root = build_da_mp()
    for ds in root.iter("DisplayString"):
        ds.append(E.Description("text"))
    container = first(root, parent)
    container.insert(list(container).index(container.find(before)), container.find(moved))
    problems = validate_document(root)
    assert {p.rule for p in problems} == {"order"}
    assert any(f"must come before <{moved}>" in p.message for p in problems)
    assert all(f"/{parent}" in p.element for p in problems)


def test_module_types_order() -> None:
    root = build_da_mp()
    types = root.find("TypeDefinitions")
    types.append(E.ModuleTypes(E.WriteActionModuleType(ID=f"{MP_ID}.WA", Accessibility="Internal"),
                               E.DataSourceModuleType(ID=f"{MP_ID}.DS", Accessibility="Internal")))
    p = only(validate_document(root, house_rules=False), "order")
    assert "DataSourceModuleType" in p.message and f"[@ID='{MP_ID}.DS']" in p.element


def test_member_unavailable_misspelling_is_unknown() -> None:
    root = build_da_mp()
    first(root, "MemberUnAvailable").tag = "MemberUnavailable"
    p = only(validate_document(root), "unknown-element")
    assert p.element.endswith("/MemberUnavailable")
    assert "MemberUnAvailable" in p.message


@pytest.mark.parametrize(("parent", "tag"), [("ManagementPack", "Forms"), ("Presentation", "Forms"),
                                             ("Discovery", "Description"), ("DisplayString", "Title")])
def test_unknown_child(parent: str, tag: str) -> None:
    root = build_da_mp()
    first(root, parent).append(etree.Element(tag))
    assert only(validate_document(root), "unknown-element").element.endswith(f"/{tag}")


def test_missing_and_repeated_sections() -> None:
    root = build_da_mp()
    root.remove(section(root, "Manifest"))
    assert "needs a <Manifest>" in only(validate_document(root), "missing-element").message
    root = build_da_mp()
    root.insert(3, E.Monitoring())
    assert "at most one <Monitoring>" in only(validate_document(root), "order").message
    root = build_da_mp()
    first(root, "DependencyMonitor").remove(first(root, "Algorithm"))
    assert "needs a <Algorithm>" in only(validate_document(root), "missing-element").message


def test_comments_are_ignored() -> None:
    root = build_da_mp()
    first(root, "DependencyMonitor").insert(0, etree.Comment('$MPElement[Name="Nope"]$ Foo!Bar'))
    root.insert(0, etree.Comment("top"))
    assert validate_document(root) == []


# --- references and aliases ---------------------------------------------------------------


@pytest.mark.parametrize("use", [
    ("Discovery", "Target", "Foo!Some.Class"),
    ("MonitoringClass", None, '$MPElement[Name="Foo!Some.Class"]$'),
    ("MonitoringClass", None, "$MPElement[Name='Foo!Some.Class']/PrincipalName$"),
    ("Category", None, "Foo!Some.Category"),
])
def test_undeclared_alias(use: tuple[str, str | None, str]) -> None:
    tag, attr, value = use
    root = build_da_mp()
    el = first(root, tag)
    el.set(attr, value) if attr else setattr(el, "text", value)
    p = only(validate_document(root), "alias-undeclared")
    assert "'Foo'" in p.message and f"/{tag}" in p.element


def test_alias_like_text_in_a_script_is_no_alias() -> None:
    root = build_da_mp()
    first(root, "DataSource").append(E.ScriptBody('Write-Host "Done!"\nexit 0'))
    first(root, "DataSource").append(E.Note("Hello!"))
    assert validate_document(root) == []


def test_duplicate_alias_and_duplicate_reference() -> None:
    root = build_da_mp()
    refs = first(root, "References")
    refs.append(E.Reference(E.ID("Other.Library"), E.Version("1.0.0.0"), E.PublicKeyToken("0123456789abcdef"),
                            Alias="SC"))
    p = only(validate_document(root), "alias-duplicate")
    assert "[@Alias='SC']" in p.element
    root = build_da_mp()
    refs = first(root, "References")
    refs.append(E.Reference(E.ID("Microsoft.SystemCenter.Library"), E.Version("7.0.8433.0"),
                            E.PublicKeyToken("31bf3856ad364e35"), Alias="SC2"))
    p = only(validate_document(root, house_rules=False), "reference-duplicate")
    assert "[@Alias='SC2']" in p.element and "'SC'" in p.message


def test_references_are_required_even_when_empty() -> None:
    """The Manifest schema reference lists References as required; it may hold no Reference."""
    mp_id = "Contoso.Standalone"
    root = E.ManagementPack(
        E.Manifest(E.Identity(E.ID(mp_id), E.Version("1.0.0.0")), E.Name(mp_id), E.References()),
        E.LanguagePacks(E.LanguagePack(E.DisplayStrings(E.DisplayString(E.Name("Standalone"), ElementID=mp_id)),
                                       ID="ENU", IsDefault="true")),
        ContentReadable="true", SchemaVersion="2.0")
    assert validate_document(root, filename=f"{mp_id}.xml") == []
    section(root, "Manifest").remove(first(root, "References"))
    missing = only(validate_document(root, filename=f"{mp_id}.xml"), "missing-element")
    assert "References" in missing.message and missing.element.endswith("Manifest")


def test_without_references_every_alias_is_undeclared_too() -> None:
    root = build_da_mp()
    manifest = section(root, "Manifest")
    manifest.remove(manifest.find("References"))
    problems = validate_document(root)
    assert {p.rule for p in problems} == {"missing-element", "alias-undeclared"}
    undeclared = [p for p in problems if p.rule == "alias-undeclared"]
    assert sorted(p.message.split("'")[1] for p in undeclared) == sorted(alias for alias, _, _ in REFERENCES)


def test_references_are_checked_when_present() -> None:
    root = build_da_mp()
    first(root, "References").append(E.Reference(E.ID("Other.Library"), E.Version("1.0"),
                                                 E.PublicKeyToken("0123456789abcdef"), Alias="Other"))
    problems = validate_document(root)
    assert only(problems, "version").element == only(problems, "alias-unused", scope="house").element
    assert "[@Alias='Other']" in only(problems, "version").element
    first(root, "References").append(E.Reference(E.ID("Other.Library"), E.PublicKeyToken("0123456789abcdef"),
                                                 Alias="Other"))
    assert "[@Alias='Other']" in only(validate_document(root), "alias-duplicate").element


@pytest.mark.parametrize(("tag", "attr"), [("Discovery", "Target"), ("DependencyMonitor", "RelationshipType"),
                                           ("FolderItem", "ElementID"), ("DisplayString", "ElementID"),
                                           ("DiscoveryRelationship", "TypeID"), ("View", "Target")])
def test_dangling_local_reference(tag: str, attr: str) -> None:
    root = build_da_mp()
    first(root, tag).set(attr, "Contoso.Missing")
    p = only(validate_document(root, house_rules=False), "dangling-ref")
    assert f"{attr}='Contoso.Missing'" in p.message and f"/{tag}" in p.element


def test_dangling_relationship_end_and_folder() -> None:
    root = build_da_mp()
    first(root, "Source").set("Type", "Contoso.Missing")
    assert "/Source" in only(validate_document(root, house_rules=False), "dangling-ref").element
    root = build_da_mp()
    section(root, "Presentation").insert(1, E.Folders(E.Folder(ID=f"{MP_ID}.Folder", Accessibility="Public",
                                                                ParentFolder="Contoso.Missing")))
    assert "ParentFolder='Contoso.Missing'" in only(validate_document(root, house_rules=False),
                                                    "dangling-ref").message


def test_dangling_mpelement_token_reported_at_every_use() -> None:
    root = build_da_mp()
    for el in root.iter("RelationshipClass"):
        el.text = mpelement(f"{MP_ID}.Missing")
    problems = [p for p in validate_document(root) if p.rule == "mpelement-ref"]
    assert len(problems) == 3 and all(p.element.endswith("/RelationshipClass") for p in problems)
    assert f"'{MP_ID}.Missing'" in problems[0].message


def test_mp_id_and_local_names_resolve() -> None:
    root = build_da_mp()
    first(root, "RuleId").text = mpelement(f"{MP_ID}.Service.Discovery")
    assert validate_document(root) == []

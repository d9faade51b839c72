"""House rules of the validator: display strings, ID segments, unused aliases, the DA shape."""

from __future__ import annotations

import pytest
from lxml import etree
from lxml.builder import E

from servicemap_sync.mp.retire import RETIRED_MARK
from servicemap_sync.mp.validate import Problem, validate_document
from test_validate import MP_ID, SD, build_da_mp, class_type, first, populator, relationship, rename, rollup, section

SERVICE = f"{MP_ID}.Service"
GROUP0 = f"{MP_ID}.CG.Group0"
CONTAINS = f"{MP_ID}.ServiceContainsGroup"
MEMBERS = f"{MP_ID}.GroupContainsComputer"


def house(problems: list[Problem], rule: str) -> list[Problem]:
    assert [p for p in problems if p.scope == "scom"] == [], problems
    return [p for p in problems if p.rule == rule]


def da_shape(root: etree._Element) -> list[Problem]:
    return house(validate_document(root), "da-shape")


def the_one_da_shape_problem(root: etree._Element, element_id: str, words: str) -> None:
    """The document has exactly one ``da-shape`` problem, at ``element_id``, saying ``words``."""
    [problem] = da_shape(root)
    assert f"[@ID='{element_id}']" in problem.element and words in problem.message, problem


def by_id(root: etree._Element, element_id: str) -> etree._Element:
    return next(el for el in root.iter(etree.Element) if el.get("ID") == element_id)


def drop(root: etree._Element, element_id: str) -> None:
    """Remove an element and its display string."""
    element = by_id(root, element_id)
    element.getparent().remove(element)
    strings = first(root, "DisplayStrings")
    for ds in [ds for ds in strings if ds.get("ElementID") == element_id]:
        strings.remove(ds)


def add_display_string(root: etree._Element, element_id: str) -> None:
    first(root, "DisplayStrings").append(E.DisplayString(E.Name(element_id), ElementID=element_id))


# --- display strings, IDs, aliases --------------------------------------------------------


def test_missing_display_strings() -> None:
    root = build_da_mp()
    strings = first(root, "DisplayStrings")
    for ds in list(strings):
        if ds.get("ElementID") in (MP_ID, MEMBERS):
            strings.remove(ds)
    strings.append(E.DisplayString(E.Name("sub"), ElementID=MEMBERS, SubElementID="Source"))  # does not count
    problems = house(validate_document(root), "display-string")
    assert sorted(p.element.split("/")[-1] for p in problems) == [
        "Identity", f"RelationshipType[@ID='{MEMBERS}']"]
    assert any(f"MP '{MP_ID}'" in p.message for p in problems)


def test_no_enu_language_pack_is_one_problem() -> None:
    root = build_da_mp()
    first(root, "LanguagePack").set("ID", "DEU")
    [problem] = house(validate_document(root), "display-string")
    assert problem.element == "ManagementPack" and "ENU" in problem.message


def test_id_segments_start_with_a_letter() -> None:
    root = build_da_mp()
    rename(root, f"{MP_ID}.Diagram", f"{MP_ID}.1Diagram")
    [problem] = house(validate_document(root), "id-segment")
    assert f"[@ID='{MP_ID}.1Diagram']" in problem.element
    root = build_da_mp(mp_id="Contoso.SvcMapDA.10_0_0_1")
    assert house(validate_document(root), "id-segment")[0].element.endswith("Manifest/Identity")


def test_unused_alias() -> None:
    root = build_da_mp()
    first(root, "References").append(E.Reference(E.ID("System.Image.Library"), E.Version("7.5.8501.0"),
                                                 E.PublicKeyToken("31bf3856ad364e35"), Alias="Image"))
    [problem] = house(validate_document(root), "alias-unused")
    assert "[@Alias='Image']" in problem.element


def test_schema_version_and_content_readable_are_written() -> None:
    root = build_da_mp()
    del root.attrib["SchemaVersion"]
    [problem] = house(validate_document(root), "required-attr")
    assert problem.element == "ManagementPack"


# --- DA shape -------------------------------------------------------------------------------


def test_the_skeleton_has_the_da_shape() -> None:
    assert da_shape(build_da_mp(components=3)) == []


def test_one_concrete_singleton_da() -> None:
    root = build_da_mp()
    by_id(root, SERVICE).set("Singleton", "false")
    extra = class_type(f"{MP_ID}.Second", "SD2!Microsoft.SystemCenter.ServiceDesigner.GenericService")
    first(root, "ClassTypes").append(extra)
    first(root, "References").append(E.Reference(E.ID("Microsoft.SystemCenter.ServiceDesigner.Library.Copy"),
                                                 E.Version("7.0.8433.0"), E.PublicKeyToken("31bf3856ad364e35"),
                                                 Alias="SD2"))
    add_display_string(root, f"{MP_ID}.Second")
    problems = da_shape(root)
    assert sorted(p.element.split("'")[1] for p in problems) == sorted([SERVICE, f"{MP_ID}.Second"])
    assert any("only one class" in p.message for p in problems)


def test_component_must_be_concrete_singleton() -> None:
    root = build_da_mp()
    by_id(root, GROUP0).set("Abstract", "true")
    the_one_da_shape_problem(root, GROUP0, "concrete")


def test_component_must_be_a_member_of_the_da() -> None:
    root = build_da_mp(components=2)
    rules = first(by_id(root, f"{SERVICE}.Discovery"), "MembershipRules")
    rules.remove(rules[0])
    the_one_da_shape_problem(root, GROUP0, "not a member of the DA")


def test_a_retired_component_may_be_out_of_the_da_and_others_may_not() -> None:
    root = build_da_mp(components=2)
    rules = first(by_id(root, f"{SERVICE}.Discovery"), "MembershipRules")
    rules.remove(rules[1])
    rules.remove(rules[0])
    name = first(next(ds for ds in first(root, "DisplayStrings") if ds.get("ElementID") == GROUP0), "Name")
    name.text += RETIRED_MARK
    # only the component that is out of the DA without being retired
    the_one_da_shape_problem(root, f"{MP_ID}.CG.Group1", "not a member of the DA")


def test_membership_through_a_relationship_not_starting_at_the_da_does_not_count() -> None:
    root = build_da_mp(components=1)
    first(by_id(root, f"{SERVICE}.Discovery"), "RelationshipClass").text = f'$MPElement[Name="{MEMBERS}"]$'
    assert [p.element for p in da_shape(root)] == [f"ManagementPack/TypeDefinitions/EntityTypes/ClassTypes/"
                                                   f"ClassType[@ID='{GROUP0}']"]


def test_component_discovery_must_be_a_group_populator() -> None:
    root = build_da_mp(components=1)
    first(by_id(root, f"{GROUP0}.Discovery"), "DataSource").set("TypeID", "Windows!Microsoft.Windows.Discovery")
    problems = da_shape(root)
    assert any(f"Discovery[@ID='{GROUP0}.Discovery']" in p.element and "GroupPopulator" in p.message
               for p in problems)


def test_component_with_own_members_needs_a_discovery() -> None:
    root = build_da_mp(components=1)
    own = f"{MP_ID}.Group0ContainsComputer"
    first(root, "RelationshipTypes").append(
        relationship(own, "System!System.Containment", GROUP0, "Windows!Microsoft.Windows.Computer"))
    add_display_string(root, own)
    drop(root, f"{GROUP0}.Discovery")
    the_one_da_shape_problem(root, GROUP0, "no GroupPopulator discovery")


def test_health_rollups_exist() -> None:
    root = build_da_mp(components=1)
    drop(root, f"{SERVICE}.Availability.Rollup")
    the_one_da_shape_problem(root, SERVICE, "up to the DA")
    root = build_da_mp(components=1)
    drop(root, f"{GROUP0}.Availability.Rollup")
    the_one_da_shape_problem(root, GROUP0, f"'{MEMBERS}'")


@pytest.mark.parametrize(("alias", "library", "flagged"), [
    ("SC", "Microsoft.SystemCenter.Library", True), ("MSCL", "Microsoft.SystemCenter.Library", True),
    ("Other", "Other.Library", False)])
def test_no_folder_at_the_monitoring_root(alias: str, library: str, flagged: bool) -> None:
    root = build_da_mp()
    if alias != "SC":
        first(root, "References").append(E.Reference(E.ID(library), E.Version("1.0.0.0"),
                                                     E.PublicKeyToken("31bf3856ad364e35"), Alias=alias))
    folder = f"{MP_ID}.Folder"
    section(root, "Presentation").insert(1, E.Folders(E.Folder(
        ID=folder, Accessibility="Public", ParentFolder=f"{alias}!Microsoft.SystemCenter.Monitoring.ViewFolder.Root")))
    add_display_string(root, folder)
    problems = [p for p in validate_document(root) if p.rule == "da-shape"]
    assert [p.element for p in problems] == (
        [f"ManagementPack/Presentation/Folders/Folder[@ID='{folder}']"] if flagged else [])


def test_da_shape_only_applies_to_generic_service_das() -> None:
    root = build_da_mp(components=1)
    by_id(root, SERVICE).set("Base", f"{SD}.Service")  # e.g. the AzureLocal MP: not ours
    by_id(root, SERVICE).set("Singleton", "false")
    drop(root, f"{SERVICE}.Availability.Rollup")
    assert da_shape(root) == []


def test_many_components_one_rollup_each() -> None:
    root = build_da_mp(components=4)
    monitors = first(root, "Monitors")
    monitors.append(rollup(f"{GROUP0}.Second.Rollup", GROUP0, MEMBERS))
    add_display_string(root, f"{GROUP0}.Second.Rollup")
    discoveries = first(root, "Discoveries")
    discoveries.append(populator(f"{GROUP0}.Extra.Discovery", GROUP0, MEMBERS))
    add_display_string(root, f"{GROUP0}.Extra.Discovery")
    assert da_shape(root) == []

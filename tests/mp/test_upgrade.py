"""The upgrade check: will SCOM import the new MP over the old one?"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from lxml.builder import E

from servicemap_sync.mp.validate import check_upgrade, check_upgrade_files

MP_ID = "Contoso.SvcMapDA.web01"
SERVICE = f"{MP_ID}.Service"
GROUP = f"{MP_ID}.CG.Web"
CONTAINS = f"{MP_ID}.ServiceContainsGroup"


def mp(version: str = "1.0.0.1", *, sd_alias: str = "SD", mp_id: str = MP_ID) -> etree._Element:
    """Manifest + the classes and relationships that the upgrade check compares."""
    sd = f"{sd_alias}!Microsoft.SystemCenter.ServiceDesigner"
    return E.ManagementPack(
        E.Manifest(E.Identity(E.ID(mp_id), E.Version(version)), E.Name(mp_id), E.References(
            E.Reference(E.ID("System.Library"), E.Version("7.5.8501.0"), E.PublicKeyToken("31bf3856ad364e35"),
                        Alias="System"),
            E.Reference(E.ID("Microsoft.SystemCenter.ServiceDesigner.Library"), E.Version("7.0.8433.0"),
                        E.PublicKeyToken("31bf3856ad364e35"), Alias=sd_alias))),
        E.TypeDefinitions(E.EntityTypes(
            E.ClassTypes(
                E.ClassType(ID=SERVICE, Accessibility="Public", Abstract="false", Base=f"{sd}.GenericService",
                            Hosted="false", Singleton="true"),
                E.ClassType(E.Property(ID="Port", Type="int", Key="false"),
                            ID=GROUP, Accessibility="Public", Abstract="false",
                            Base=f"{sd}.ServiceComponentGroup", Singleton="true"),
                E.ClassType(ID=f"{MP_ID}.Helper", Accessibility="Internal", Abstract="false",
                            Base="System!System.LogicalEntity")),
            E.RelationshipTypes(E.RelationshipType(
                E.Source(ID="Service", Type=SERVICE), E.Target(ID="Group", Type=f"{sd}.ServiceComponentGroup"),
                ID=CONTAINS, Accessibility="Public", Abstract="false", Base="System!System.Containment")))),
        ContentReadable="true", SchemaVersion="2.0")


def element(root: etree._Element, element_id: str) -> etree._Element:
    return next(el for el in root.iter("ClassType", "RelationshipType") if el.get("ID") == element_id)


def remove(root: etree._Element, element_id: str) -> None:
    el = element(root, element_id)
    el.getparent().remove(el)


def test_same_content_higher_version_is_compatible() -> None:
    assert check_upgrade(mp("1.0.0.1"), mp("1.0.0.2")) == []
    assert check_upgrade(mp("1.0.0.9"), mp("1.0.0.10")) == []  # numeric, not text, order
    assert check_upgrade(mp("1.9.9.9"), mp("2.0.0.0")) == []


@pytest.mark.parametrize("new", ["1.0.0.1", "1.0.0.0", "0.9.9.9", "1.0.0", "x"])
def test_version_must_increase(new: str) -> None:
    [problem] = check_upgrade(mp("1.0.0.1"), mp(new))
    assert (problem.scope, problem.rule) == ("scom", "upgrade")
    assert problem.element == "ManagementPack/Manifest/Identity" and "1.0.0.1" in problem.message


def test_different_mp_id() -> None:
    [problem] = check_upgrade(mp(), mp("1.0.0.2", mp_id="Contoso.SvcMapDA.web02"))
    assert "differs" in problem.message


def test_dropped_public_class_or_relationship() -> None:
    for dropped in (GROUP, CONTAINS):
        new = mp("1.0.0.2")
        remove(new, dropped)
        [problem] = check_upgrade(mp(), new)
        assert f"[@ID='{dropped}']" in problem.element and "removed" in problem.message


def test_dropped_internal_class_is_fine() -> None:
    new = mp("1.0.0.2")
    remove(new, f"{MP_ID}.Helper")
    assert check_upgrade(mp(), new) == []


@pytest.mark.parametrize(("attr", "value"), [
    ("Base", "SD!Microsoft.SystemCenter.ServiceDesigner.Service"), ("Abstract", "true"), ("Singleton", "false"),
    ("Hosted", "true"), ("Accessibility", "Internal")])
def test_changed_class(attr: str, value: str) -> None:
    new = mp("1.0.0.2")
    element(new, GROUP).set(attr, value)
    [problem] = check_upgrade(mp(), new)
    assert f"ClassType[@ID='{GROUP}']" in problem.element
    assert ("must stay Public" if attr == "Accessibility" else f"{attr} ") in problem.message


def test_absent_hosted_means_false_and_aliases_may_be_renamed() -> None:
    new = mp("1.0.0.2", sd_alias="Designer")
    element(new, GROUP).set("Hosted", "false")
    assert check_upgrade(mp(), new) == []


def test_changed_relationship_end() -> None:
    new = mp("1.0.0.2")
    element(new, CONTAINS).find("Target").set("Type", GROUP)
    [problem] = check_upgrade(mp(), new)
    assert f"RelationshipType[@ID='{CONTAINS}']" in problem.element and "Target type" in problem.message


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: p.getparent().remove(p), "was removed"),
    (lambda p: p.set("Type", "string"), "Type=int Key=false to Type=string"),
    (lambda p: p.set("Key", "true"), "Key=true"),
])
def test_class_properties_are_kept(change, message: str) -> None:
    new = mp("1.0.0.2")
    change(element(new, GROUP).find("Property"))
    [problem] = check_upgrade(mp(), new)
    assert "'Port'" in problem.message and message in problem.message


def test_files(tmp_path: Path) -> None:
    old, new, bad = tmp_path / "old.xml", tmp_path / "new.xml", tmp_path / "bad.xml"
    old.write_bytes(etree.tostring(mp("1.0.0.1")))
    new.write_bytes(etree.tostring(mp("1.0.0.2")))
    bad.write_bytes(b"<ManagementPack>")
    assert check_upgrade_files(old, new) == []
    assert [p.rule for p in check_upgrade_files(new, old)] == ["upgrade"]
    assert [p.rule for p in check_upgrade_files(old, bad)] == ["xml"]
    assert [p.rule for p in check_upgrade_files(old, tmp_path / "absent.xml")] == ["file"]

"""SCOM-scope rules of the validator, part 2: IDs, versions, file names, attributes,
language packs and the document as a whole (parsing, encodings, files)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from lxml.builder import E

from servicemap_sync.mp.validate import validate_bytes, validate_document, validate_file
from test_validate import MP_ID, SD, build_da_mp, class_type, first, only, rename, scom, section


# --- IDs ----------------------------------------------------------------------------------


def test_duplicate_id_but_folder_item_and_sub_element_ids_may_repeat() -> None:
    root = build_da_mp()
    first(root, "FolderItem").set("ID", f"{MP_ID}.Diagram")  # = the View ID, as real MPs do
    assert validate_document(root) == []  # also: every discovery has a DataSource ID="GP"
    first(root, "ClassTypes").append(class_type(f"{MP_ID}.Service", f"{SD}.ServiceComponentGroup"))
    p = only(validate_document(root, house_rules=False), "duplicate-id")
    assert f"[@ID='{MP_ID}.Service']" in p.element and "already used at" in p.message


def test_ids_differing_only_in_case_are_duplicates() -> None:
    """SCOM keeps IDs in a case-insensitive column: ``A.B`` and ``a.b`` clash at import."""
    root = build_da_mp()
    first(root, "ClassTypes").append(class_type(f"{MP_ID}.service".lower(), f"{SD}.ServiceComponentGroup"))
    data = etree.tostring(root, pretty_print=True)
    lines = {el.get("ID"): el.sourceline for el in etree.fromstring(data).iter("ClassType")}
    p = only(validate_bytes(data, house_rules=False), "duplicate-id")
    lower, upper = f"{MP_ID}.service".lower(), f"{MP_ID}.Service"
    assert p.element.endswith(f"ClassType[@ID='{lower}'] (line {lines[lower]})")
    assert f"'{lower}'" in p.message and f"'{upper}'" in p.message and f"(line {lines[upper]})" in p.message


def test_element_id_equal_to_the_mp_id_but_for_case() -> None:
    root = build_da_mp()
    rename(root, f"{MP_ID}.Diagram", MP_ID.upper())
    p = only(validate_document(root, house_rules=False), "duplicate-id")
    assert f"'{MP_ID.upper()}' is the MP's own ID '{MP_ID}'" in p.message and "/View[" in p.element
    rename(root, MP_ID.upper(), MP_ID)
    p = only(validate_document(root, house_rules=False), "duplicate-id")
    assert p.message == f"ID '{MP_ID}' is the MP's own ID"


def test_case_differences_alone_are_not_duplicates_of_other_ids() -> None:
    root = build_da_mp()
    rename(root, f"{MP_ID}.Diagram", f"{MP_ID}.DIAGRAM")  # unique, whatever its case
    assert validate_document(root) == []


def test_id_characters_and_length() -> None:
    view = f"{MP_ID}.Diagram"
    root = build_da_mp()
    rename(root, view, "Contoso.web-01")
    p = only(validate_document(root, house_rules=False), "id-chars")
    assert "[@ID='Contoso.web-01']" in p.element
    root = build_da_mp()
    rename(root, view, "A" * 256)
    assert "256" in only(validate_document(root, house_rules=False), "id-length").message
    root = build_da_mp()
    rename(root, view, "A" * 255)
    assert validate_document(root) == []


def test_mp_id_characters() -> None:
    root = build_da_mp(mp_id="Contoso.web 01")
    problems = validate_document(root, house_rules=False)
    assert any(p.rule == "id-chars" and p.element.endswith("Manifest/Identity") for p in problems)


# --- versions and file name ----------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0.0", "1.0.0.0.1", "1.0.a.0", "1.0.0.12345678901", "", "1.0.0.-1"])
def test_bad_version(version: str) -> None:
    root = build_da_mp()
    first(root, "Version").text = version
    assert only(validate_document(root), "version").element.endswith("Manifest/Identity")


def test_bad_reference_version() -> None:
    root = build_da_mp()
    first(root, "Reference", Alias="SD").find("Version").text = "7.0"
    assert "[@Alias='SD']" in only(validate_document(root), "version").element


@pytest.mark.parametrize(("name", "ok"), [
    (f"{MP_ID}.xml", True), (f"{MP_ID}.XML", True), (f"/some/dir/{MP_ID}.xml", True),
    (f"{MP_ID}.xml.template", True), (f"{MP_ID}.mp", True), ("Other.mpb", True),
    (f"{MP_ID}.txt", False), ("Contoso.SvcMapDA.web02.xml", False), (f"{MP_ID.lower()}.xml", False), (".xml", False),
])
def test_file_name_must_be_the_mp_id(name: str, ok: bool) -> None:
    problems = validate_document(build_da_mp(), filename=name)
    assert problems == [] if ok else only(problems, "filename").message.endswith(f"'{MP_ID}.xml' (the MP ID)")


# --- attributes -----------------------------------------------------------------------------


@pytest.mark.parametrize(("tag", "attr", "value", "rule"), [
    ("ClassType", "Abstract", "True", "bool-case"), ("ClassType", "Singleton", "TRUE", "bool-case"),
    ("Discovery", "Enabled", "True", "bool-case"), ("View", "Visible", "yes", "bool-case"),
    ("LanguagePack", "IsDefault", "True", "bool-case"), ("ManagementPack", "ContentReadable", "False", "bool-case"),
    ("ClassType", "Accessibility", "public", "attr-value"), ("RelationshipType", "Abstract", "true",
                                                             "relationship-abstract"),
])
def test_attribute_values(tag: str, attr: str, value: str, rule: str) -> None:
    root = build_da_mp()
    first(root, tag).set(attr, value)
    p = only(validate_document(root, house_rules=False), rule)
    assert p.element.split("[")[0].split(" ")[0].endswith(tag)


def test_enabled_monitoring_levels_and_house_only_booleans() -> None:
    root = build_da_mp()
    first(root, "Discovery").set("Enabled", "onStandardMonitoring")
    first(root, "DependencyMonitor").set("Enabled", "onEssentialMonitoring")
    assert validate_document(root) == []
    first(root, "ClassType").set("Hosted", "0")
    assert scom(validate_document(root)) == []
    assert "Hosted='0'" in only(validate_document(root), "bool-case", scope="house").message


@pytest.mark.parametrize(("tag", "attr", "scope"), [
    ("ClassType", "Base", "scom"), ("RelationshipType", "Accessibility", "scom"),
    ("DependencyMonitor", "MemberMonitor", "scom"), ("Discovery", "Enabled", "scom"), ("View", "TypeID", "scom"),
    ("FolderItem", "Folder", "scom"), ("ClassType", "Singleton", "house"), ("ClassType", "Hosted", "house"),
])
def test_required_attributes(tag: str, attr: str, scope: str) -> None:
    root = build_da_mp()
    del first(root, tag).attrib[attr]
    problems = validate_document(root)
    if scope == "house":
        assert scom(problems) == []
    assert attr in only(problems, "required-attr", scope=scope).message


@pytest.mark.parametrize(("tag", "value"), [("Algorithm", "Worstof"), ("MemberUnAvailable", "Bad")])
def test_dependency_monitor_values(tag: str, value: str) -> None:
    root = build_da_mp()
    first(root, tag).text = value
    assert f"'{value}'" in only(validate_document(root), "attr-value").message


def test_schema_version() -> None:
    root = build_da_mp()
    root.set("SchemaVersion", "3.0")
    assert "SchemaVersion" in only(validate_document(root), "attr-value").message
    root.set("SchemaVersion", "1.0")
    assert scom(validate_document(root)) == [] and only(validate_document(root), "required-attr", "house")


# --- language packs ---------------------------------------------------------------------------


def test_two_default_language_packs_and_duplicate_ids() -> None:
    root = build_da_mp()
    packs = section(root, "LanguagePacks")
    packs.append(E.LanguagePack(E.DisplayStrings(), ID="DEU", IsDefault="true"))
    assert "[@ID='DEU']" in only(validate_document(root), "language-default").element
    packs[-1].set("IsDefault", "false")
    packs.append(E.LanguagePack(E.DisplayStrings(), ID="DEU", IsDefault="false"))
    assert only(validate_document(root), "language-duplicate")


# --- the document as a whole -------------------------------------------------------------------


def test_default_namespace_and_wrong_root() -> None:
    root = etree.fromstring(etree.tostring(build_da_mp()).replace(
        b"<ManagementPack ", b'<ManagementPack xmlns="urn:x" ', 1))
    assert [p.rule for p in validate_document(root)] == ["namespace"]
    assert [p.rule for p in validate_document(E.ManagementPackFragment())] == ["root"]


def test_house_rules_off_keeps_only_scom() -> None:
    root = build_da_mp()
    first(root, "ClassType").set("ID", f"{MP_ID}.1bad")
    assert {p.scope for p in validate_document(root)} == {"scom", "house"}
    assert {p.scope for p in validate_document(root, house_rules=False)} == {"scom"}


def test_validate_bytes_reports_line_numbers_and_encodings() -> None:
    root = build_da_mp()
    first(root, "Discovery").set("Target", "Nope")
    data = etree.tostring(root, pretty_print=True, encoding="utf-8", xml_declaration=True)
    p = only(validate_bytes(data), "dangling-ref")
    line = data[:data.index(b'Target="Nope"')].count(b"\n") + 1
    assert p.element.endswith(f"(line {line})")
    assert validate_bytes(b"\xef\xbb\xbf" + etree.tostring(build_da_mp())) == []
    utf16 = etree.tostring(build_da_mp(), encoding="utf-16", xml_declaration=True)
    assert utf16.startswith(b"\xff\xfe") and validate_bytes(utf16) == []


def test_validate_bytes_is_safe_and_reports_parse_errors() -> None:
    p = validate_bytes(b"<ManagementPack><Manifest></ManagementPack>", filename="x.xml")
    assert [(q.rule, q.scope) for q in p] == [("xml", "scom")] and p[0].element.startswith("x.xml (line ")
    bomb = (b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            b"<ManagementPack>&b;</ManagementPack>")
    assert [q.rule for q in validate_bytes(bomb)] == ["xml"]
    external = (b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b"<ManagementPack>&x;</ManagementPack>")
    assert "DOCTYPE" in validate_bytes(external)[0].message


def test_validate_file_uses_the_file_name(tmp_path: Path) -> None:
    data = etree.tostring(build_da_mp())
    (tmp_path / f"{MP_ID}.xml").write_bytes(data)
    (tmp_path / "renamed.xml").write_bytes(data)
    assert validate_file(tmp_path / f"{MP_ID}.xml") == []
    assert only(validate_file(tmp_path / "renamed.xml"), "filename")
    missing = validate_file(tmp_path / "absent.xml")
    assert [(p.rule, p.scope) for p in missing] == [("file", "scom")]


def test_display_string_needs_an_element_id() -> None:
    root = build_da_mp()
    del first(root, "DisplayString").attrib["ElementID"]
    p = only(validate_document(root), "required-attr")
    assert "ElementID" in p.message and "/DisplayString" in p.element

"""Upgrade safety: boxes and arrows that disappear are retired, carried forward, re-activated."""

from __future__ import annotations

import re

import pytest
from lxml import etree

from servicemap_sync.errors import RenderError, ValidationError
from servicemap_sync.mp.validate import check_upgrade, validate_bytes
from test_render import JAVA, MP_ID, SQLSERVR, W3WP_BOX, by_label, names, parse, render, rules_of, token, web_map


@pytest.fixture(scope="module")
def versions():
    """v1 full map; v2 and v3 without java on app01; v4 with it again."""
    v1 = render(web_map(), "1.0.0.1")
    v2 = render(web_map(without=(JAVA,)), "1.0.0.2", previous=v1.xml)
    v3 = render(web_map(without=(JAVA,)), "1.0.0.3", previous=v2.xml)
    v4 = render(web_map(), "1.0.0.4", previous=v3.xml)
    return v1, v2, v3, v4


def app01_ids(v1) -> tuple[str, str]:
    box = by_label(v1)["app01"]
    arrow = next(rel for rel in _references(parse(v1.xml)) if rel.find("Source").get("Type") == box)
    return box, arrow.get("ID")


def _references(root: etree._Element) -> list[etree._Element]:
    return [r for r in root.iter("RelationshipType") if r.get("Base") == "System!System.Reference"]


def _definition(root: etree._Element, element_id: str) -> bytes:
    element = next(el for el in root.iter("ClassType", "RelationshipType") if el.get("ID") == element_id)
    return etree.tostring(element)


def test_every_version_is_an_upgrade_of_the_one_before(versions) -> None:
    for old, new in zip(versions, versions[1:]):
        assert check_upgrade(parse(old.xml), parse(new.xml)) == []
        assert validate_bytes(new.xml, filename=new.filename, house_rules=False) == []


def test_vanished_peer_is_retired_not_removed(versions) -> None:
    v1, v2, _v3, _v4 = versions
    box, arrow = app01_ids(v1)
    assert v2.retired == frozenset({box})
    assert box not in v2.components
    assert all(box not in (a, b) for a, b, _p in v2.arrows)
    old, new = parse(v1.xml), parse(v2.xml)
    for element_id in (box, arrow):
        assert _definition(new, element_id) == _definition(old, element_id)
    assert names(new)[box] == "app01 (retired)"
    assert names(new)[arrow] == "java on app01 → w3wp on web01 :443 (retired)"


def test_retired_types_are_out_of_the_da(versions) -> None:
    v1, v2, _v3, _v4 = versions
    box, arrow = app01_ids(v1)
    root = parse(v2.xml)
    mentioned = {token(r.findtext(tag)) for r in root.iter("MembershipRule")
                 for tag in ("MonitoringClass", "RelationshipClass")}
    assert box not in mentioned and arrow not in mentioned
    assert not [d for d in root.iter("Discovery") if d.get("Target") == box]
    assert not [m for m in root.iter("DependencyMonitor") if m.get("Target") == box]
    assert box not in {token(r.findtext("MonitoringClass")) for r in rules_of(root, MP_ID + ".Service")}


def test_retired_types_are_carried_forward_marked_once(versions) -> None:
    v1, v2, v3, _v4 = versions
    box, arrow = app01_ids(v1)
    assert v3.retired == v2.retired == frozenset({box})
    shown = names(parse(v3.xml))
    assert shown[box] == "app01 (retired)"
    assert shown[arrow].endswith("(retired)") and not shown[arrow].endswith("(retired) (retired)")
    assert v3.content_hash == v2.content_hash  # same content, only the version moved on


def test_returning_peer_is_reactivated_under_the_same_id(versions) -> None:
    v1, _v2, _v3, v4 = versions
    box, arrow = app01_ids(v1)
    assert v4.retired == frozenset()
    assert v4.components == v1.components and v4.arrows == v1.arrows
    assert names(parse(v4.xml))[box] == "app01"
    assert v4.content_hash == v1.content_hash


def test_losing_one_of_two_processes_behind_an_arrow_keeps_the_arrow() -> None:
    v1 = render(web_map(), "1.0.0.1")
    v2 = render(web_map(without=(SQLSERVR,)), "1.0.0.2", previous=v1.xml)
    assert v2.retired == frozenset() and v2.arrows == v1.arrows
    shown = set(names(parse(v2.xml)).values())
    assert "w3wp on web01 → sqlagent on sql01 :1433" in shown
    assert W3WP_BOX in v2.components.values()


def test_previous_must_be_this_mp() -> None:
    other = re.sub(rb"ServiceMapSync\.web01\.contoso\.com", b"ServiceMapSync.web02", render(web_map()).xml)
    with pytest.raises(RenderError, match="previous management pack"):
        render(web_map(), "1.0.0.2", previous=other)
    with pytest.raises(RenderError, match="not well-formed"):
        render(web_map(), "1.0.0.2", previous=b"<ManagementPack>")


def test_version_must_still_increase() -> None:
    v1 = render(web_map(), "1.0.0.5")
    with pytest.raises(ValidationError, match="higher"):
        render(web_map(), "1.0.0.5", previous=v1.xml)

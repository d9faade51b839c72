"""What we know of SCOM's (non-public) MP schema, and the checks driven by it.

The tables come from the guide (``shared/docs/scom-management-packs.md`` §1, §2, §7) and
the "Management Pack Schema Reference" pages it cites: content models (child order,
counts), required attributes, boolean and enumerated attribute values. Where the guide
gives no order (inside ``Rule``, ``ClassType``, unknown monitor types…) nothing is
checked rather than guessed.

``Manifest/References`` is required, though it may hold no ``Reference``: the schema
reference page for Manifest (learn:jj130527) lists it as a required element.

Speed: the containers that repeat once per component or arrow (``RelationshipType``,
``Discovery``, ``DependencyMonitor``, overrides, ``MembershipRule``, ``DisplayString``) share a few
shapes (tag and child tags, recorded by ``mp_index``'s walk), so each distinct shape is
checked once and its containers one by one only when it is wrong. The attribute tables
live in ``mp_index``, whose walk screens every MP element against them: only the suspects
are checked here.
"""

from __future__ import annotations

from collections.abc import Iterator

from lxml import etree

from servicemap_sync.mp.mp_index import (
    ATTRIBUTE_VALUES, BOOLEAN, HOUSE, HOUSE_REQUIRED, MEMBERSHIP_RULE, REQUIRED, SCOM, SHAPED_ELEMENTS,
    VALUE_OVERRIDES, Emit, MpIndex, children, shape,
)

_MANY = 1 << 30
#: container tag → its children in schema order as (tag, min, max)
CONTENT: dict[str, tuple[tuple[str, int, int], ...]] = {
    "ManagementPack": (("Manifest", 1, 1), ("TypeDefinitions", 0, 1), ("Categories", 0, 1),
                       ("Monitoring", 0, 1), ("ConfigurationGroups", 0, 1), ("Templates", 0, 1),
                       ("PresentationTypes", 0, 1), ("Presentation", 0, 1), ("Reporting", 0, 1),
                       ("LanguagePacks", 0, 1), ("Resources", 0, 1)),
    "Manifest": (("Identity", 1, 1), ("Name", 1, 1), ("References", 1, 1)),
    "Identity": (("ID", 1, 1), ("Version", 1, 1)),
    "References": (("Reference", 0, _MANY),),
    "Reference": (("ID", 1, 1), ("Version", 1, 1), ("PublicKeyToken", 1, 1)),
    "TypeDefinitions": (("EntityTypes", 0, 1), ("DataTypes", 0, 1), ("SchemaTypes", 0, 1),
                        ("SecureReferences", 0, 1), ("ModuleTypes", 0, 1), ("MonitorTypes", 0, 1)),
    "EntityTypes": (("ClassTypes", 0, 1), ("RelationshipTypes", 0, 1)),
    "ClassTypes": (("ClassType", 0, _MANY),),
    "RelationshipTypes": (("RelationshipType", 0, _MANY),),
    "ModuleTypes": (("DataSourceModuleType", 0, _MANY), ("ProbeActionModuleType", 0, _MANY),
                    ("ConditionDetectionModuleType", 0, _MANY), ("WriteActionModuleType", 0, _MANY)),
    "Monitoring": (("Discoveries", 0, 1), ("Rules", 0, 1), ("Tasks", 0, 1), ("Monitors", 0, 1),
                   ("Diagnostics", 0, 1), ("Recoveries", 0, 1), ("Overrides", 0, 1)),
    "Presentation": (("ConsoleTasks", 0, 1), ("Views", 0, 1), ("Folders", 0, 1), ("FolderItems", 0, 1),
                     ("ImageReferences", 0, 1), ("StringResources", 0, 1)),
    "Discovery": (("Category", 1, 1), ("DiscoveryTypes", 1, 1), ("DataSource", 1, 1)),
    "DependencyMonitor": (("Category", 1, 1), ("AlertSettings", 0, 1), ("Algorithm", 1, 1),
                          ("AlgorithmParameter", 0, 1), ("MemberInMaintenance", 0, 1),
                          ("MemberUnAvailable", 0, 1)),
    # the integration pack's monitors (servicemap_sync.mp.integration): the order of
    # examples/Microsoft.SQLServer.Windows.RunAs.Addendum.xml; the later children are not required
    # here, as the guide does not say they are
    "UnitMonitor": (("Category", 1, 1), ("AlertSettings", 0, 1), ("OperationalStates", 0, 1),
                    ("Configuration", 0, 1)),
    "MembershipRule": (("MonitoringClass", 1, 1), ("RelationshipClass", 1, 1), ("Expression", 0, 1),
                       ("IncludeList", 0, 1), ("ExcludeList", 0, 1)),
    "RelationshipType": (("Source", 1, 1), ("Target", 1, 1), ("Property", 0, _MANY)),
    "LanguagePacks": (("LanguagePack", 0, _MANY),),
    "DisplayStrings": (("DisplayString", 0, _MANY),),
    "DisplayString": (("Name", 1, 1), ("Description", 0, 1)),
    # Module and Parameter are attributes (guide §5): a <Module> child is an unknown element
    **dict.fromkeys(VALUE_OVERRIDES, (("Value", 1, 1),)),
}
#: containers whose children come in any order: tag → the children allowed
CHOICES = {"Overrides": VALUE_OVERRIDES | {"CategoryOverride", "MonitoringOverride"}}
#: sections and collections (below the root) whose content model is checked when present
_NESTED = frozenset({"TypeDefinitions", "EntityTypes", "ClassTypes", "RelationshipTypes", "ModuleTypes",
                     "Monitoring", "Presentation", "Overrides"})

_MONITOR_VALUES = {
    "Algorithm": ("WorstOf", "BestOf", "Percentage"),
    "MemberInMaintenance": ("Uninitialized", "Success", "Warning", "Error"),
    "MemberUnAvailable": ("Uninitialized", "Success", "Warning", "Error"),
}


def check_content(el: etree._Element, emit: Emit) -> bool:
    """Order, unknown children and counts of a container with a known content model.

    Args:
        el: the container; its tag must be a key of ``CONTENT`` or ``CHOICES``.
        emit: where problems go.

    Returns:
        True when ``el`` is fine.
    """
    allowed = CHOICES.get(el.tag)
    if allowed is not None:
        return _check_choice(el, allowed, emit)
    spec = CONTENT[el.tag]
    order = {t: i for i, (t, _, _) in enumerate(spec)}
    counts = dict.fromkeys(order, 0)
    last, last_tag, ok = -1, "", True
    for c in children(el):
        pos = order.get(c.tag)
        if pos is None:
            ok = False
            emit(SCOM, "unknown-element", c, f"<{c.tag}> is not allowed in <{el.tag}>; expected {', '.join(order)}")
            continue
        counts[c.tag] += 1
        if pos < last:
            ok = False
            emit(SCOM, "order", c, f"<{c.tag}> must come before <{last_tag}> in <{el.tag}> "
                                   f"(order: {', '.join(order)})")
        else:
            last, last_tag = pos, c.tag
    for t, low, high in spec:
        if not low <= counts[t] <= high:
            ok = False
            emit(SCOM, "missing-element" if counts[t] < low else "order", el,
                 f"<{el.tag}> needs a <{t}> child" if counts[t] < low
                 else f"<{el.tag}> allows at most one <{t}>, found {counts[t]}")
    if el.tag == "DependencyMonitor":
        ok = _check_monitor_values(el, emit) and ok
    return ok


def _check_choice(el: etree._Element, allowed: frozenset[str], emit: Emit) -> bool:
    """Unknown children of a container whose children come in any order; True if none."""
    ok = True
    for c in children(el):
        if c.tag not in allowed:
            ok = False
            emit(SCOM, "unknown-element", c,
                 f"<{c.tag}> is not allowed in <{el.tag}>; expected one of {', '.join(sorted(allowed))}")
    return ok


def _check_monitor_values(monitor: etree._Element, emit: Emit) -> bool:
    """``Algorithm`` / ``MemberUnAvailable`` / ``MemberInMaintenance`` spelling; True if fine."""
    ok = True
    for c in monitor.iterchildren(*_MONITOR_VALUES):
        value = (c.text or "").strip()
        if value not in _MONITOR_VALUES[c.tag]:
            ok = False
            emit(SCOM, "attr-value", c, f"<{c.tag}> '{value}' must be one of {', '.join(_MONITOR_VALUES[c.tag])}")
    return ok


def _singletons(index: MpIndex) -> Iterator[etree._Element]:
    """Containers checked one by one: the skeleton, the manifest, language packs."""
    root = index.root
    yield root
    stack = [s for s in children(root) if s.tag in _NESTED or s.tag == "LanguagePacks"]
    while stack:
        el = stack.pop()
        yield el
        stack.extend(c for c in children(el) if c.tag in _NESTED)
    if index.manifest is not None:
        yield index.manifest
        yield from (part for part in children(index.manifest) if part.tag in ("Identity", "References"))
    yield from (ref.element for ref in index.references)
    # the other DisplayStrings hold only DisplayString elements: nothing to report
    yield from index.odd_display_containers


def check_structure(index: MpIndex, emit: Emit) -> None:
    """Content models of every container whose order the guide gives."""
    for el in _singletons(index):
        check_content(el, emit)
    wrong = {found for found, el in index.shapes.items() if not check_content(el, _ignore)}
    if wrong:
        for el in shaped(index):
            if shape(el) in wrong:
                check_content(el, emit)
    for el in index.unnamed_strings:
        check_attrs(el, emit)


def shaped(index: MpIndex) -> Iterator[etree._Element]:
    """Every container whose shape ``mp_index`` records: the MP elements in
    ``SHAPED_ELEMENTS``, every ``MembershipRule`` outside the language packs, every
    ``DisplayStrings/DisplayString``. Walks the tree again: only run when a shape is wrong."""
    for tag in sorted(SHAPED_ELEMENTS):
        yield from index.tagged(tag)
    for section in children(index.root):
        if section.tag != "LanguagePacks":
            yield from section.iter(MEMBERSHIP_RULE)
    for pack in index.language_packs:
        for strings in pack.iterchildren("DisplayStrings"):
            yield from strings.iterchildren("DisplayString")


def check_element_attrs(index: MpIndex, emit: Emit) -> None:
    """:func:`check_attrs` on the MP elements ``mp_index``'s walk found suspect (the others pass)."""
    for el in index.attribute_suspects:
        check_attrs(el, emit)


def _ignore(scope: str, rule: str, el: etree._Element, message: str) -> None:
    """An ``Emit`` that drops the problems (what is wrong is checked again, reporting)."""


def check_attrs(el: etree._Element, emit: Emit) -> bool:
    """Required attributes and the spelling of booleans / enumerations on one element.

    Returns:
        True when nothing was reported.
    """
    tag, ok = el.tag, True
    for attr in REQUIRED.get(tag, ()):
        if el.get(attr) is None:
            ok = False
            emit(SCOM, "required-attr", el, f"<{tag}> needs the {attr} attribute")
    for attr in HOUSE_REQUIRED.get(tag, ()):
        if el.get(attr) is None:
            ok = False
            emit(HOUSE, "required-attr", el, f"write {attr} explicitly (true/false)")
    for attr, value in el.items():
        allowed = ATTRIBUTE_VALUES.get(attr)
        if allowed is None or value in allowed:
            continue
        ok = False
        if allowed is BOOLEAN and value in ("1", "0"):
            emit(HOUSE, "bool-case", el, f"{attr}='{value}': write true/false")
        else:
            rule = "attr-value" if attr == "Accessibility" else "bool-case"
            emit(SCOM, rule, el, f"{attr}='{value}' must be one of {', '.join(allowed)}")
    return ok

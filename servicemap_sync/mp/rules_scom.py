"""The rules SCOM's import enforces, emulated (SCOM's XSD is not public).

Sources: ``shared/docs/scom-management-packs.md`` §1, §2, §7 and the "Management Pack
Schema Reference" pages it cites. Scope ``"scom"`` means "import would reject this".
Where a house rule tightens a SCOM rule on the very same attribute, it is checked here
too and reported with scope ``"house"``:

* ``id-segment`` — every dot-separated ID segment starts with a letter (the XSD pattern
  is unknown; the guide says be conservative). ``id-chars``/``id-length`` stay SCOM.
* ``alias-unused`` — a declared reference nobody uses (harmless to SCOM).
* ``bool-case`` — ``"1"``/``"0"``: valid ``xs:boolean`` values, but we write
  ``true``/``false`` as VSAE does. Any other spelling (``True``) is a SCOM problem.
* ``required-attr`` — ``ClassType`` ``Hosted``/``Singleton`` (the schema reference gives
  them a default of false) and the root's ``SchemaVersion="2.0"``/``ContentReadable``.

IDs are compared case-insensitively for uniqueness (SCOM stores them in a case-insensitive
database column), references case-sensitively (as the XSD's keys do).

The schema tables (content models, required attributes, attribute values) and the
checks they drive live in ``schema``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePath

from lxml import etree

from servicemap_sync.mp import schema
from servicemap_sync.mp.releases import DEFAULT_RELEASE, LIBRARIES
from servicemap_sync.mp.mp_index import (
    ALIAS_USE, HOUSE, REF_ATTRS, SCOM, TOKEN, Emit, MpIndex, child, child_text, children, parse_version, where,
)

_SCHEMA_VERSIONS = frozenset({"1.0", "1.1", "2.0"})
_ID = re.compile(r"[A-Za-z0-9._]+")
_HOUSE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*")
_HOUSE_IDS = re.compile(f"(?:{_HOUSE_ID.pattern}\n)+")
_MAX_ID = 255
_ENDS = frozenset({"Source", "Target"})
#: an override's reference attribute → what a local element it names must be (learn:jj130092)
_OVERRIDE_REFERENTS = {
    "Context": ("ClassType",),
    "Rule": ("Rule",),
    "Monitor": ("UnitMonitor", "AggregateMonitor", "DependencyMonitor"),
    "Discovery": ("Discovery",),
    "Diagnostic": ("Diagnostic",),
    "Recovery": ("Recovery",),
    "SecureReference": ("SecureReference",),
}
_GUID = re.compile(r"(\{)?[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?(1)\})")
_DECIMAL = r"\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
#: OverrideableParameter ParameterType → what an override's <Value> must look like (guide §5)
_PARAMETER_VALUES = {
    "int": re.compile(r"\s*[+-]?[0-9]+\s*"),
    "decimal": re.compile(_DECIMAL + r"\s*"),
    "double": re.compile(_DECIMAL + r"(?:[eE][+-]?[0-9]+)?\s*|\s*(?:-?INF|NaN)\s*"),
    "bool": re.compile(r"\s*(?:true|false|1|0)\s*"),
}


def check(index: MpIndex, filename: str | None, emit: Emit, release: str = DEFAULT_RELEASE) -> None:
    """Run every SCOM rule (and the house refinements above) on an indexed document;
    ``release`` is the oldest SCOM release it must import into."""
    schema.check_structure(index, emit)
    _check_ids(index, emit)
    _check_manifest(index, filename, emit)
    _check_reference_releases(index, release, emit)
    _check_uses(index, emit)
    _check_attributes(index, emit)
    _check_relationships(index, emit)
    _check_overrides(index, emit)
    _check_language_packs(index, emit)


def _check_id(value: str, el: etree._Element, emit: Emit) -> None:
    if _HOUSE_ID.fullmatch(value) and len(value) <= _MAX_ID:
        return
    if not _ID.fullmatch(value):
        emit(SCOM, "id-chars", el, f"ID '{value}' may only use A-Z a-z 0-9 . _")
    elif len(value) > _MAX_ID:
        emit(SCOM, "id-length", el, f"ID is {len(value)} characters; it must be shorter than 256")
    if not _HOUSE_ID.fullmatch(value):
        emit(HOUSE, "id-segment", el, f"ID '{value}': every dot-separated segment must start with a letter")


def _check_ids(index: MpIndex, emit: Emit) -> None:
    identity, mp_id = index.identity, index.mp_id
    if mp_id is not None and identity is not None:
        _check_id(mp_id, identity, emit)
    ids = index.elements.keys()
    # one regex over all IDs; only when it fails are they checked one by one
    if ids and not (_HOUSE_IDS.fullmatch("\n".join(ids) + "\n") and max(map(len, ids)) <= _MAX_ID):
        for el_id, el in index.elements.items():
            _check_id(el_id, el, emit)
    for el, first in index.duplicates:
        emit(SCOM, "duplicate-id", el, f"ID '{el.get('ID')}' is already used at {where(first)}")
    # the same, ignoring case: one lower() over all IDs; pairs are looked for only when it finds some
    folded = "\n".join(ids if mp_id is None else (mp_id, *ids)).lower().split("\n")
    if len(set(folded)) != len(folded):
        _check_case_duplicates(index, mp_id, emit)


def _check_case_duplicates(index: MpIndex, mp_id: str | None, emit: Emit) -> None:
    """IDs equal but for case to the MP ID or to an earlier element's ID (document order)."""
    seen: dict[str, str | None] = {} if mp_id is None else {mp_id.lower(): None}  # None: the MP itself
    for el_id, el in index.elements.items():
        first = seen.setdefault(el_id.lower(), el_id)
        if first is None:
            same = "" if el_id == mp_id else f" '{mp_id}' but for case (SCOM IDs are case-insensitive)"
            emit(SCOM, "duplicate-id", el, f"ID '{el_id}' is the MP's own ID{same}")
        elif first != el_id:
            emit(SCOM, "duplicate-id", el, f"ID '{el_id}' differs only in case from '{first}' at "
                                           f"{where(index.elements[first])} (SCOM IDs are case-insensitive)")


def _check_version(text: str | None, el: etree._Element, what: str, emit: Emit) -> None:
    if parse_version(text) is None:
        emit(SCOM, "version", el, f"{what} '{text}' must be four numbers of at most 10 digits (a.b.c.d)")


def _check_manifest(index: MpIndex, filename: str | None, emit: Emit) -> None:
    """Identity version, file name, and one alias per reference / one reference per MP."""
    identity = index.identity
    if identity is not None and child(identity, "Version") is not None:
        _check_version(child_text(identity, "Version"), identity, "Version", emit)
    if filename is not None and index.mp_id is not None and identity is not None:
        _check_filename(index.mp_id, filename, identity, emit)
    by_alias: dict[str, etree._Element] = {}
    by_mp: dict[str, str] = {}
    for ref in index.references:
        _check_version(ref.version, ref.element, "Reference Version", emit)
        if ref.alias in by_alias:
            emit(SCOM, "alias-duplicate", ref.element, f"alias '{ref.alias}' is declared twice")
            continue
        by_alias[ref.alias] = ref.element
        if ref.mp_id in by_mp:
            emit(SCOM, "reference-duplicate", ref.element,
                 f"'{ref.mp_id}' is already referenced as alias '{by_mp[ref.mp_id]}'; use one alias per MP")
        else:
            by_mp[ref.mp_id] = ref.alias
        if ref.alias not in index.used_aliases:
            emit(HOUSE, "alias-unused", ref.element, f"alias '{ref.alias}' is declared but never used")


def _check_reference_releases(index: MpIndex, release: str, emit: Emit) -> None:
    """``reference-release``: a reference's Version is a minimum, so one above what ``release``
    has (``releases.LIBRARIES``) is refused by a management group of that release."""
    for ref in index.references:
        have = LIBRARIES.get(ref.mp_id, {}).get(release)
        wanted = parse_version(ref.version)
        if have is None or wanted is None:
            continue
        if wanted > parse_version(have):
            emit(SCOM, "reference-release", ref.element,
                 f"'{ref.mp_id}' {ref.version} is above what SCOM {release} has ({have}): a reference "
                 "version is a minimum, so import there would fail; reference the lowest version that "
                 "has what the pack uses, or validate for a later release")


def _check_filename(mp_id: str, filename: str, identity: etree._Element, emit: Emit) -> None:
    """``<MP ID>.xml``; ``.mp``/``.mpb`` are not checked; ``X.xml.template`` compares ``X``."""
    name = PurePath(filename).name
    lower = name.lower()
    if lower.endswith((".mp", ".mpb")):
        return
    cut = len(name) - 4 if lower.endswith(".xml") else lower.rfind(".xml.")
    if (name[:cut] if cut > 0 else None) != mp_id:
        emit(SCOM, "filename", identity, f"file '{name}' must be named '{mp_id}.xml' (the MP ID)")


def _check_uses(index: MpIndex, emit: Emit) -> None:
    """Undeclared aliases and local names that this MP does not define."""
    undeclared = index.used_aliases - {ref.alias for ref in index.references}
    dangling = index.local_names - index.elements.keys() - {index.mp_id}
    if not undeclared and not dangling:
        return
    alias_uses: dict[str, list[etree._Element]] = {}
    for el, kind, name in _locate_uses(index.root, undeclared, dangling):
        if kind == "alias":
            alias_uses.setdefault(name, []).append(el)
        elif kind == "$token":
            emit(SCOM, "mpelement-ref", el, f"$MPElement/$Target token names '{name}', which this MP does "
                                            "not define (use Alias!ID for elements of other MPs)")
        else:
            emit(SCOM, "dangling-ref", el, f"{kind}='{name}' names no element defined in this MP "
                                           "(use Alias!ID for elements of other MPs)")
    for alias, uses in alias_uses.items():
        emit(SCOM, "alias-undeclared", uses[0],
             f"alias '{alias}' is used {len(uses)} time(s) but not declared in Manifest/References")


# -- locating uses: only run when one is wrong -----------------------------------------------

def _locate_uses(root: etree._Element, aliases: set[str], names: set[str]) -> Iterator[tuple[etree._Element, str, str]]:
    """Every use of the given aliases / local names: (element, kind, alias or name).

    ``kind`` is ``"alias"``, the reference attribute's name, or ``"$token"``.
    """
    for el, attr, value in _strings(root):
        for kind, name in _uses(attr, value):
            if name in (aliases if kind == "alias" else names):
                yield el, kind, name


def _strings(root: etree._Element) -> Iterator[tuple[etree._Element, str, str]]:
    """Every string that may refer to an element: ``(element, attribute or "" for text, value)``.

    The strings ``mp_index`` collects, with their elements: every reference attribute
    (``REF_ATTRS``) and every text or other attribute holding ``!`` or ``$``; the manifest
    and display text are skipped (a Name like "Hello!World" is no alias use); from the
    language packs only DisplayString / KnowledgeArticle ``ElementID`` count.
    """
    for section in children(root):
        if section.tag == "Manifest":
            continue
        if section.tag == "LanguagePacks":
            for el in section.iter("DisplayString", "KnowledgeArticle"):
                element_id = el.get("ElementID")
                if element_id is not None:
                    yield el, "ElementID", element_id
            continue
        for el in section.iter(etree.Element):
            text = el.text
            if text is not None and ("$" in text or "!" in text):
                yield el, "", text
            for name, value in el.items():
                if name in REF_ATTRS or "!" in value or "$" in value:
                    yield el, name, value


def _uses(attr: str, value: str) -> list[tuple[str, str]]:
    """What one string refers to: ``("alias", A)`` for each ``A!X``, ``(kind, X)`` for a local X.

    ``kind`` is the reference attribute's name for its value (``A!X`` or a local X without
    ``$``), or ``"$token"`` for a name inside a ``$…[Name="X"]…$`` token. Other texts and
    attributes count only when the whole value is ``Alias!X`` (so "Hello!" in a script is
    no alias use).
    """
    if attr in REF_ATTRS:
        alias, bang, _ = value.partition("!")
        if bang:
            return [("alias", alias)]
        return [(attr, value)] if value and "$" not in value else []
    m = ALIAS_USE.fullmatch(value)
    if m is not None:
        return [("alias", m.group(1))]
    found = []
    for double, single in TOKEN.findall(value):
        alias, bang, _ = (double or single).partition("!")
        if bang:
            found.append(("alias", alias))
        elif alias:
            found.append(("$token", alias))
    return found


def _check_attributes(index: MpIndex, emit: Emit) -> None:
    """Required attributes, boolean spelling and enumerations (MP elements, root, packs…)."""
    root = index.root
    schema.check_attrs(root, emit)
    version = root.get("SchemaVersion")
    if version is not None and version not in _SCHEMA_VERSIONS:
        emit(SCOM, "attr-value", root, f"SchemaVersion='{version}' must be one of 1.0, 1.1, 2.0")
    elif version != "2.0" or root.get("ContentReadable") is None:
        emit(HOUSE, "required-attr", root, 'write SchemaVersion="2.0" and ContentReadable="true"')
    schema.check_element_attrs(index, emit)
    for el in [*index.folder_items, *index.language_packs, *(ref.element for ref in index.references)]:
        schema.check_attrs(el, emit)


def _check_relationships(index: MpIndex, emit: Emit) -> None:
    """Abstract='false', and each end (the first Source / Target child) names a class.

    ``end_types`` holds every end type: when those are fine, the ends are not looked at one
    by one.
    """
    elements = index.elements
    relationships = index.tagged("RelationshipType")
    if (all(rel.get("Abstract") in (None, "false") for rel in relationships)
            and all(end and ("!" in end or end in elements) for end in index.end_types)):
        return
    for rel in relationships:
        if rel.get("Abstract") not in (None, "false"):
            emit(SCOM, "relationship-abstract", rel, "a RelationshipType must have Abstract='false'")
        seen = set()
        for end in rel:
            end_tag = end.tag
            if end_tag not in _ENDS or end_tag in seen:
                continue
            seen.add(end_tag)
            type_ref = end.get("Type")
            if type_ref is None:
                type_ref = (end.text or "").strip()
            if not type_ref:
                emit(SCOM, "required-attr", end, f"<{end_tag}> needs the Type attribute (a class ID)")
            elif "!" not in type_ref and type_ref not in elements:
                emit(SCOM, "dangling-ref", end, f"Type='{type_ref}' names no element defined in this MP")


def _check_overrides(index: MpIndex, emit: Emit) -> None:
    """What each override names (guide §5, §7.8): its Context a class, its Rule / Monitor /
    Discovery / … that kind of workflow, each a local ID or ``Alias!ID``; ContextInstance a
    GUID; and, for a configuration override of a workflow of this MP, its Module and
    Parameter (:func:`_check_parameter`). A local name defined nowhere is a ``dangling-ref``
    and an undeclared alias ``alias-undeclared`` (:func:`_check_uses`)."""
    for tag in sorted(schema.CHOICES["Overrides"]):
        for override in index.tagged(tag):
            instance = override.get("ContextInstance")
            if instance is not None and not _GUID.fullmatch(instance):
                emit(SCOM, "attr-value", override, f"ContextInstance='{instance}' must be a GUID")
            for attr, kinds in _OVERRIDE_REFERENTS.items():
                value = override.get(attr)
                referent = None if value is None else _override_referent(index, override, attr, value, kinds, emit)
                if referent is not None and attr != "Context" and tag.endswith("ConfigurationOverride"):
                    _check_parameter(index, override, referent, emit)


def _override_referent(index: MpIndex, override: etree._Element, attr: str, value: str,
                       kinds: tuple[str, ...], emit: Emit) -> etree._Element | None:
    """The element of this MP that an override's ``attr`` names, when it is one of ``kinds``."""
    alias, bang, name = value.rpartition("!")
    if not (_ID.fullmatch(name) and (not bang or _ID.fullmatch(alias))):
        emit(SCOM, "override-ref", override, f"{attr}='{value}' must be an element ID or Alias!ID")
        return None
    found = None if bang else index.elements.get(value)
    if found is not None and found.tag in kinds:
        return found
    if found is not None or (not bang and value == index.mp_id):
        what = "the MP itself" if found is None else f"a <{found.tag}>"
        emit(SCOM, "override-target", override, f"{attr}='{value}' is {what}; it must name a {' or '.join(kinds)}")
    return None


def _check_parameter(index: MpIndex, override: etree._Element, workflow: etree._Element, emit: Emit) -> None:
    """Module and Parameter of a configuration override of a workflow of this MP.

    The Module must be one of the workflow's modules; a monitor has none (guide §5), its
    parameters are its monitor type's. When that module or monitor type is defined here too,
    the Parameter must be one of its OverrideableParameters and the Value fit its type.
    """
    if workflow.tag.endswith("Monitor"):
        type_id = workflow.get("TypeID")
    else:
        module = override.get("Module")
        if module is None:
            return
        modules = {m.get("ID"): m.get("TypeID") for m in workflow.iterdescendants(etree.Element)
                   if m.get("TypeID") is not None and m.get("ID") is not None}
        if module not in modules:
            emit(SCOM, "override-module", override, f"Module='{module}' is not a module of '{workflow.get('ID')}' "
                                                    f"(its modules: {', '.join(sorted(modules)) or 'none'})")
            return
        type_id = modules[module]
    module_type = index.elements.get(type_id or "")
    parameter = override.get("Parameter")
    if module_type is None or parameter is None:
        return
    declared = {p.get("ID"): p.get("ParameterType") for p in module_type.iter("OverrideableParameter")}
    if parameter not in declared:
        emit(SCOM, "override-parameter", override,
             f"Parameter='{parameter}' is not an OverrideableParameter of '{type_id}' "
             f"(it declares: {', '.join(sorted(filter(None, declared))) or 'none'})")
        return
    kind = declared[parameter]
    value = child_text(override, "Value")
    pattern = _PARAMETER_VALUES.get(kind or "")
    if value is not None and pattern is not None and not pattern.fullmatch(value):
        emit(SCOM, "override-value", override, f"<Value> '{value}' is not a valid {kind} "
                                               f"(ParameterType of '{parameter}')")


def _check_language_packs(index: MpIndex, emit: Emit) -> None:
    seen: set[str] = set()
    defaults = 0
    for pack in index.language_packs:
        pack_id = pack.get("ID", "")
        if pack_id in seen:
            emit(SCOM, "language-duplicate", pack, f"LanguagePack '{pack_id}' is declared twice")
        seen.add(pack_id)
        if pack.get("IsDefault") == "true":
            defaults += 1
            if defaults > 1:
                emit(SCOM, "language-default", pack, "only one LanguagePack may have IsDefault='true'")

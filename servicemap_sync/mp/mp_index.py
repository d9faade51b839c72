"""What the management-pack rules look at, and what they report.

SCOM's schema (an XSD embedded in a Microsoft DLL) is not public, so
``servicemap_sync.mp.validate`` re-implements the checks its import runs. Every rule
module needs the same facts about a document: the MP ID, the declared references, which
elements the MP defines (by ID), which aliases it uses and which local names it refers
to. :func:`index_document` gathers them once:

* a shallow walk over the skeleton (sections → collections → elements) finds the *MP
  elements* — the things that carry a management-pack-wide unique ID;
* one pass over every element collects the strings that refer to elements: reference
  attributes such as ``Target`` or ``TypeID`` (``Alias!ID`` or a local ID), whole texts
  or attributes of the form ``Alias!ID``, and ``$MPElement[Name="…"]$`` /
  ``$Target/Property[Type="…"]/…$`` tokens.

The pass only fills sets; each distinct string is interpreted once afterwards, and the
elements behind a bad name are looked up only when there is one (:func:`locate_uses`).
Everything is linear in the document size.

Also here: :class:`Problem` (one finding), :func:`where` (a readable location) and
:func:`parse_version` (shared with the upgrade check).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from lxml import etree

SCOM = "scom"
HOUSE = "house"

#: Attributes whose value names another element: ``Alias!ID`` or a local ID.
REF_ATTRS = frozenset({
    "Base", "Target", "TypeID", "RelationshipType", "MemberMonitor", "ParentMonitorID",
    "Context", "Rule", "Monitor", "Discovery", "Diagnostic", "Recovery", "Folder",
    "ParentFolder", "ElementID", "ImageID", "AlertMessage", "RunAs", "SecureReference",
})

#: How deep below each top-level section the MP elements sit (``Monitoring/Rules/Rule``
#: is 2). ``EntityTypes`` adds one level; ``FolderItems`` are not elements: widely
#: imported MPs reuse a View ID as the FolderItem ID.
_ELEMENT_DEPTH = {
    "TypeDefinitions": 2, "Categories": 1, "Monitoring": 2, "ConfigurationGroups": 1,
    "Templates": 1, "PresentationTypes": 2, "Presentation": 2, "Reporting": 2, "Resources": 1,
}

_ALIAS_USE = re.compile(r"\s*([A-Za-z0-9_]+)!([A-Za-z0-9._]+)\s*")
#: ``$MPElement[Name="X"]$``, ``$Target/Host/Property[Type='A!X']/P$``, ``$RunAs[Name="A!X"]/…$``.
_TOKEN = re.compile(r"\$[A-Za-z]+(?:/[A-Za-z]+)*\[(?:Name|Type)=(?:\"([^\"\n]*)\"|'([^'\n]*)')\]")
_VERSION = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,10}){3}")
_KEY_ATTRS = ("ID", "ElementID", "Alias")


#: how a rule reports: ``emit(scope, rule, element, message)``
Emit = Callable[[str, str, "etree._Element", str], None]


@dataclass(frozen=True, order=True)
class Problem:
    """One finding about a management pack.

    Attributes:
        scope: ``"scom"`` when SCOM's import would reject the MP, ``"house"`` for our own
            rules (display quality, the DA shape we generate).
        rule: a short rule id such as ``"order"`` or ``"dangling-ref"``.
        element: where, as a readable path with IDs (and the line when known).
        message: what is wrong and what is expected.
    """

    scope: str
    rule: str
    element: str
    message: str

    def __str__(self) -> str:
        return f"{self.scope} {self.rule} at {self.element}: {self.message}"


@dataclass(frozen=True)
class Reference:
    """One ``Manifest/References/Reference``."""

    alias: str
    mp_id: str
    version: str
    element: etree._Element


@dataclass
class MpIndex:
    """Facts about one document, gathered in one walk; read by every rule module."""

    root: etree._Element
    mp_id: str | None = None
    manifest: etree._Element | None = None
    references: list[Reference] = field(default_factory=list)
    #: every MP element (an element of a collection), in document order
    defined: list[etree._Element] = field(default_factory=list)
    #: ID → first element defining it
    elements: dict[str, etree._Element] = field(default_factory=dict)
    by_tag: dict[str, list[etree._Element]] = field(default_factory=dict)
    folder_items: list[etree._Element] = field(default_factory=list)
    language_packs: list[etree._Element] = field(default_factory=list)
    #: aliases used anywhere (``Alias!X``)
    used_aliases: set[str] = field(default_factory=set)
    #: local names referred to (reference attributes, ``$MPElement[Name="X"]$`` tokens)
    local_names: set[str] = field(default_factory=set)
    #: (element, first element with the same ID)
    duplicates: list[tuple[etree._Element, etree._Element]] = field(default_factory=list)
    #: the containers MP elements sit in (``Discoveries``, ``ClassTypes``…)
    collections: list[etree._Element] = field(default_factory=list)

    def tagged(self, tag: str) -> list[etree._Element]:
        """MP elements with this tag, in document order."""
        return self.by_tag.get(tag, [])

    def alias_targets(self) -> dict[str, str]:
        """Alias → referenced MP ID (first declaration wins)."""
        out: dict[str, str] = {}
        for ref in self.references:
            out.setdefault(ref.alias, ref.mp_id)
        return out


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """``"1.0.0.7"`` → ``(1, 0, 0, 7)``; None unless exactly four parts of ≤ 10 digits."""
    if text is None or not _VERSION.fullmatch(text):
        return None
    return tuple(int(part) for part in text.split("."))


def children(el: etree._Element) -> Iterator[etree._Element]:
    """Child elements, skipping comments and processing instructions."""
    for child in el:
        if isinstance(child.tag, str):
            yield child


def child(el: etree._Element, tag: str) -> etree._Element | None:
    """The first child element with this tag (for the few children MP elements have, a
    plain loop beats ``find`` and ``iterchildren(tag)``)."""
    for c in el:
        if c.tag == tag:
            return c
    return None


def child_text(el: etree._Element, tag: str) -> str | None:
    """Stripped text of the first child with this tag (None when absent)."""
    c = child(el, tag)
    return None if c is None else (c.text or "").strip()


def token_names(text: str) -> list[str]:
    """Names inside ``$…[Name="…"]$`` / ``[Type="…"]`` tokens of a text."""
    return [double or single for double, single in _TOKEN.findall(text)]


def where(el: etree._Element) -> str:
    """A readable location: ``ManagementPack/…/ClassType[@ID='X'] (line 12)``."""
    parts = []
    for node in [el, *el.iterancestors()]:
        label = str(node.tag)
        for key in _KEY_ATTRS:
            value = node.get(key)
            if value is not None:
                label += f"[@{key}='{value}']"
                break
        parts.append(label)
    path = "/".join(reversed(parts))
    return path if el.sourceline is None else f"{path} (line {el.sourceline})"


def index_document(root: etree._Element, *, scan_uses: bool = True) -> MpIndex:
    """Gather the facts every rule needs (see the module docstring).

    Args:
        root: the ``ManagementPack`` element.
        scan_uses: also make the pass over every element for alias uses and local
            references; the upgrade check only needs the manifest and the types.
    """
    index = MpIndex(root=root)
    for section in children(root):
        tag = section.tag
        if tag == "Manifest":
            _index_manifest(index, section)
        elif tag == "LanguagePacks":
            index.language_packs.extend(section.iterchildren("LanguagePack"))
        elif tag in _ELEMENT_DEPTH:
            _index_elements(index, section, _ELEMENT_DEPTH[tag])
    if scan_uses:
        _scan_uses(index)
    return index


def _index_manifest(index: MpIndex, manifest: etree._Element) -> None:
    if index.manifest is not None:
        return
    index.manifest = manifest
    identity = child(manifest, "Identity")
    if identity is not None:
        index.mp_id = child_text(identity, "ID")
    references = child(manifest, "References")
    if references is None:
        return
    for ref in references.iterchildren("Reference"):
        index.references.append(Reference(
            ref.get("Alias", ""), child_text(ref, "ID") or "", child_text(ref, "Version") or "", ref))


def _index_elements(index: MpIndex, container: etree._Element, depth: int) -> None:
    if depth > 1:
        for el in container.iterchildren(etree.Element):
            if el.tag == "FolderItems":
                index.folder_items.extend(el.iterchildren("FolderItem"))
            else:
                _index_elements(index, el, depth if el.tag == "EntityTypes" else depth - 1)
        return
    index.collections.append(container)
    elements, by_tag = index.elements, index.by_tag
    for el in container.iterchildren(etree.Element):
        index.defined.append(el)
        by_tag.setdefault(el.tag, []).append(el)
        el_id = el.get("ID")
        if el_id is not None:
            first = elements.setdefault(el_id, el)
            if first is not el:
                index.duplicates.append((el, first))


def _strings(root: etree._Element) -> Iterator[tuple[etree._Element, str, str]]:
    """Every string that may refer to an element: ``(element, attribute or "" for text, value)``.

    That is every reference attribute (``REF_ATTRS``) and every text or other attribute
    holding ``!`` or ``$``. The manifest and display text are skipped (a Name like
    "Hello!World" is no alias use); from the language packs only DisplayString /
    KnowledgeArticle ``ElementID`` count.
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


def _ref_use(value: str) -> tuple[str, str] | None:
    """A reference attribute's value: ("alias", A) for ``A!X``, ("", X) for a local X."""
    alias, bang, _ = value.partition("!")
    if bang:
        return "alias", alias
    return ("", value) if value and "$" not in value else None


def _uses(attr: str, value: str) -> list[tuple[str, str]]:
    """What one string refers to: ``("alias", A)`` for each ``A!X``, ``(kind, X)`` for a local X.

    ``kind`` is the reference attribute's name for its value, or ``"$token"`` for a name
    inside a ``$…[Name="X"]…$`` token. Other texts and attributes count only when the
    whole value is ``Alias!X`` (so "Hello!" in a script is no alias use).
    """
    if attr in REF_ATTRS:
        use = _ref_use(value)
        return [] if use is None else [(use[0] or attr, use[1])]
    m = _ALIAS_USE.fullmatch(value)
    if m is not None:
        return [("alias", m.group(1))]
    found = []
    for name in token_names(value):
        alias, bang, _ = name.partition("!")
        if bang:
            found.append(("alias", alias))
        elif name:
            found.append(("$token", name))
    return found


def _scan_uses(index: MpIndex) -> None:
    """Fill ``used_aliases`` and ``local_names`` from one pass over every element.

    Strings are only collected (as sets) during the walk and interpreted afterwards,
    once per distinct value: a reference attribute's meaning does not depend on which
    attribute it is, and per-component texts repeat. Token texts are matched by one regex
    call over their concatenation (a token never spans a newline).
    """
    refs: set[str] = set()
    texts: set[str] = set()
    for _, attr, value in _strings(index.root):
        (refs if attr in REF_ATTRS else texts).add(value)
    used, local = index.used_aliases, index.local_names
    for value in refs:
        use = _ref_use(value)
        if use is not None:
            (used if use[0] else local).add(use[1])
    with_tokens = "\n".join(t for t in texts if "$" in t)
    for text in [t for t in texts if "$" not in t] + [with_tokens]:
        for kind, name in _uses("", text):
            (used if kind == "alias" else local).add(name)


def locate_uses(index: MpIndex, aliases: set[str], names: set[str]) -> Iterator[tuple[etree._Element, str, str]]:
    """Every use of the given aliases / local names: (element, kind, alias or name).

    ``kind`` is ``"alias"``, the reference attribute's name, or ``"$token"``.
    """
    for el, attr, value in _strings(index.root):
        for kind, name in _uses(attr, value):
            if name in (aliases if kind == "alias" else names):
                yield el, kind, name

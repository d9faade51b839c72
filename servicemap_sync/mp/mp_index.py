"""What the management-pack rules look at, and what they report.

SCOM's schema (an XSD embedded in a Microsoft DLL) is not public, so
``servicemap_sync.mp.validate`` re-implements the checks its import runs. Every rule
module needs the same facts about a document: the MP ID, the declared references, which
elements the MP defines (by ID), which aliases it uses and which local names it refers
to. :func:`index_document` gathers them in one walk:

* the skeleton (sections → collections → elements) is walked by position; it yields the
  *MP elements* — the things that carry a management-pack-wide unique ID — and the language
  packs with their display strings;
* below the MP elements every element is read once, in one flat loop, for the strings that
  refer to elements: reference attributes such as ``Target`` or ``TypeID`` (``Alias!ID`` or
  a local ID), whole texts or attributes of the form ``Alias!ID``, and
  ``$MPElement[Name="…"]$`` / ``$Target/Property[Type="…"]/…$`` tokens;
* on the way it keeps what the structure rules need, so that no rule walks the tree again:
  the attributes of each MP element and the *shape* (tag and child tags) of each container
  whose content model ``schema`` checks.

Why it is built like this: the rendered MP of a 10,000-connection map has a quarter of a
million elements, and a tree built in memory is slow to walk (its nodes are scattered), so
every node is read once and the hot loop makes no function call per node. Strings are only
added to sets and interpreted once per distinct value afterwards; the elements behind a bad
name (:func:`locate_uses`) and readable locations (:func:`where`) are computed only when
there is a problem.

Also here: :class:`Problem` (one finding) and :func:`parse_version` (shared with the
upgrade check).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
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
#: MP elements whose content model is checked; their shapes are recorded.
SHAPED_ELEMENTS = frozenset({"RelationshipType", "Discovery", "DependencyMonitor"})
#: Checked wherever it occurs outside the language packs.
MEMBERSHIP_RULE = "MembershipRule"
#: Children whose text is part of their parent's shape (``schema`` checks their values).
VALUE_CHILDREN = frozenset({"Algorithm", "MemberInMaintenance", "MemberUnAvailable"})

#: How deep below each top-level section the MP elements sit (``Monitoring/Rules/Rule``
#: is 2). ``EntityTypes`` adds one level; ``FolderItems`` are not elements: widely
#: imported MPs reuse a View ID as the FolderItem ID.
_ELEMENT_DEPTH = {
    "TypeDefinitions": 2, "Categories": 1, "Monitoring": 2, "ConfigurationGroups": 1,
    "Templates": 1, "PresentationTypes": 2, "Presentation": 2, "Reporting": 2, "Resources": 1,
}
#: What :meth:`_Walk.children` notes about the children of an element, by the element's
#: *mode*: the end types of a RelationshipType (``_ENDS``); in a Discovery (``_DISCOVERY``)
#: its first DataSource (``_SOURCE``), that one's MembershipRules (``_RULES``), their
#: MembershipRules (``_RULE``), whose children's texts are kept.
_ENDS, _DISCOVERY, _SOURCE, _RULES, _RULE = 1, 2, 3, 4, 5
_MODES = {"RelationshipType": _ENDS, "Discovery": _DISCOVERY}
#: mode → the child tag that leads to the next mode
_LEADS_TO = {_DISCOVERY: "DataSource", _SOURCE: "MembershipRules", _RULES: MEMBERSHIP_RULE}
#: Elements of a language pack that name an element (by ``ElementID``).
_NAMING = ("DisplayString", "KnowledgeArticle")

_ALIAS_USE = re.compile(r"\s*([A-Za-z0-9_]+)!([A-Za-z0-9._]+)\s*")
#: ``$MPElement[Name="X"]$``, ``$Target/Host/Property[Type='A!X']/P$``, ``$RunAs[Name="A!X"]/…$``.
_TOKEN = re.compile(r"\$[A-Za-z]+(?:/[A-Za-z]+)*\[(?:Name|Type)=(?:\"([^\"\n]*)\"|'([^'\n]*)')\]")
_VERSION = re.compile(r"[0-9]{1,10}(?:\.[0-9]{1,10}){3}")
_KEY_ATTRS = ("ID", "ElementID", "Alias")
_ELEMENT = etree.Element  # iter() filter: elements only (no comments, PIs)


#: how a rule reports: ``emit(scope, rule, element, message)``
Emit = Callable[[str, str, "etree._Element", str], None]
#: a container's tag and child tags (with the text of ``VALUE_CHILDREN``); comments count as
#: their tag function, so a container with comments is checked for itself
Shape = tuple[object, ...]


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
class Membership:
    """A Discovery's first ``DataSource`` (its TypeID) and, for each of that one's
    ``MembershipRules/MembershipRule``, the texts of its last MonitoringClass and
    RelationshipClass children (None when absent): what a GroupPopulator adds."""

    has_source: bool = False
    type_id: str | None = None
    rules: list[tuple[str | None, str | None]] = field(default_factory=list)


@dataclass
class MpIndex:
    """Facts about one document, gathered in one walk; read by every rule module."""

    root: etree._Element
    mp_id: str | None = None
    manifest: etree._Element | None = None
    references: list[Reference] = field(default_factory=list)
    #: every MP element (an element of a collection), in document order
    defined: list[etree._Element] = field(default_factory=list)
    #: attribute key → the first MP element with it: the tag, the attribute names, and the
    #: values of all but ``ID`` and ``REF_ATTRS`` (what ``schema.check_attrs`` depends on)
    attribute_keys: dict[tuple[object, ...], etree._Element] = field(default_factory=dict)
    #: ID → first element defining it
    elements: dict[str, etree._Element] = field(default_factory=dict)
    by_tag: dict[str, list[etree._Element]] = field(default_factory=dict)
    folder_items: list[etree._Element] = field(default_factory=list)
    language_packs: list[etree._Element] = field(default_factory=list)
    #: per language pack: ElementIDs of its ``DisplayStrings/DisplayString`` without SubElementID
    named: list[set[str]] = field(default_factory=list)
    #: ``DisplayStrings`` containers whose children are not all ``DisplayString`` elements
    odd_display_containers: list[etree._Element] = field(default_factory=list)
    #: ``DisplayStrings/DisplayString`` elements without ElementID (a required attribute)
    unnamed_strings: list[etree._Element] = field(default_factory=list)
    #: shape → the first container of that shape, among the *shaped* containers (see
    #: :func:`shaped`); each distinct shape is checked once
    shapes: dict[Shape, etree._Element] = field(default_factory=dict)
    #: every Discovery MP element's membership rules
    memberships: dict[etree._Element, Membership] = field(default_factory=dict)
    #: the Type (else the text) of every Source / Target child of a RelationshipType
    end_types: set[str] = field(default_factory=set)
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


def shape(el: etree._Element) -> Shape:
    """``el``'s tag and child tags, with the text of ``VALUE_CHILDREN`` (see ``Shape``)."""
    return (el.tag, *[(c.tag, c.text) if c.tag in VALUE_CHILDREN else c.tag for c in el])


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
        scan_uses: also read every element for alias uses, local references, shapes and
            attribute keys; the upgrade check only needs the manifest and the types.
    """
    walk = _Walk(MpIndex(root=root), scan_uses)
    for section in root:
        tag = section.tag
        if tag == "Manifest":
            walk.manifest(section)
        elif tag == "LanguagePacks":
            walk.language_packs(section)
        elif tag in _ELEMENT_DEPTH:
            walk.containers(section, _ELEMENT_DEPTH[tag])
        elif isinstance(tag, str) and scan_uses:
            walk.read(section.iter(_ELEMENT))
    return walk.finish()


def shaped(index: MpIndex) -> Iterator[etree._Element]:
    """Every container whose shape is checked: the MP elements in ``SHAPED_ELEMENTS``, every
    ``MembershipRule`` outside the language packs, every ``DisplayStrings/DisplayString``.

    Walks the tree again: only run when a shape is wrong.
    """
    for tag in sorted(SHAPED_ELEMENTS):
        yield from index.tagged(tag)
    for section in children(index.root):
        if section.tag != "LanguagePacks":
            yield from section.iter(MEMBERSHIP_RULE)
    for pack in index.language_packs:
        for strings in pack.iterchildren("DisplayStrings"):
            yield from strings.iterchildren("DisplayString")


class _Walk:
    """One pass over a document, filling an :class:`MpIndex`.

    With ``scan`` it also collects, as sets of distinct strings, the values of reference
    attributes (``refs``) and the texts and other attribute values holding ``!`` or ``$``
    (``texts``), and records shapes and attribute keys. It keeps no per-node data: holding
    a quarter of a million small objects costs more than reading them.
    """

    def __init__(self, index: MpIndex, scan: bool) -> None:
        self.index = index
        self.scan = scan
        self.refs: set[str] = set()
        self.texts: set[str] = set()
        self.membership = Membership()  # of the Discovery being read

    def manifest(self, manifest: etree._Element) -> None:
        """The first Manifest: ID and references; a MembershipRule in any is still shaped."""
        index = self.index
        if self.scan:
            for rule in manifest.iter(MEMBERSHIP_RULE):
                index.shapes.setdefault(shape(rule), rule)
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

    def containers(self, container: etree._Element, depth: int) -> None:
        """A section or collection: the MP elements sit ``depth`` levels below ``container``."""
        index, scan = self.index, self.scan
        if scan:
            self.read((container,))
        if depth > 1:
            for el in container.iterchildren(_ELEMENT):
                if el.tag == "FolderItems":
                    index.folder_items.extend(el.iterchildren("FolderItem"))
                    if scan:
                        self.read(el.iter(_ELEMENT))
                else:
                    self.containers(el, depth if el.tag == "EntityTypes" else depth - 1)
            return
        index.collections.append(container)
        defined, elements, by_tag, duplicates = index.defined, index.elements, index.by_tag, index.duplicates
        for el in container.iterchildren(_ELEMENT):
            tag = el.tag
            defined.append(el)
            by_tag.setdefault(tag, []).append(el)
            el_id = el.get("ID")
            if el_id is not None:
                first = elements.setdefault(el_id, el)
                if first is not el:
                    duplicates.append((el, first))
            if scan:
                self.element(el, tag)

    def element(self, el: etree._Element, tag: str) -> None:
        """An MP element: its attribute key and strings, then :meth:`children`."""
        refs, texts = self.refs, self.texts
        key: list[object] = [tag]
        for name, value in el.items():
            if name in REF_ATTRS:
                refs.add(value)
                key.append(name)
            else:
                if "!" in value or "$" in value:
                    texts.add(value)
                key.append(name if name == "ID" else (name, value))
        self.index.attribute_keys.setdefault(tuple(key), el)
        text = el.text
        if text is not None and ("$" in text or "!" in text):
            texts.add(text)
        shaped = tag in SHAPED_ELEMENTS or tag == MEMBERSHIP_RULE
        if tag == "Discovery":
            self.index.memberships[el] = self.membership = Membership()
        if len(el):
            self.children(el, shaped, _MODES.get(tag, 0))
        elif shaped:
            self.index.shapes.setdefault((tag,), el)

    def children(self, parent: etree._Element, shaped: bool, mode: int) -> None:
        """Read every element below ``parent``, one child level at a time.

        This is the hot loop (most nodes pass here): it reads each child's text and
        attributes inline and calls itself only for children that have children. On the
        way it records ``parent``'s shape when ``shaped``, and what ``mode`` asks for (see
        ``_MODES``): the end types of a RelationshipType, the membership rules of a Discovery.
        """
        refs, texts, membership = self.refs, self.texts, self.membership
        kids: list[object] | None = [parent.tag] if shaped else None
        monitoring = relationship = None
        for el in parent:
            tag = el.tag
            if tag.__class__ is not str:  # a comment or processing instruction
                if kids is not None:
                    kids.append(tag)
                continue
            text = el.text
            if kids is not None:
                kids.append((tag, text) if tag in VALUE_CHILDREN else tag)
            if text is not None and ("$" in text or "!" in text):
                texts.add(text)
            for name, value in el.items():
                if name in REF_ATTRS:
                    refs.add(value)
                elif "!" in value or "$" in value:
                    texts.add(value)
            below = 0
            if mode == _RULE:
                if tag == "RelationshipClass":
                    relationship = text
                elif tag == "MonitoringClass":
                    monitoring = text
            elif mode == _ENDS:
                if tag == "Source" or tag == "Target":
                    end_type = el.get("Type")
                    self.index.end_types.add((text or "").strip() if end_type is None else end_type)
            elif mode and tag == _LEADS_TO[mode] and not (mode == _DISCOVERY and membership.has_source):
                below = mode + 1
                if mode == _DISCOVERY:
                    membership.has_source = True
                    membership.type_id = el.get("TypeID")
            if len(el):
                self.children(el, tag == MEMBERSHIP_RULE, below)
            elif tag == MEMBERSHIP_RULE:
                self.index.shapes.setdefault((tag,), el)
                if below == _RULE:
                    membership.rules.append((None, None))
        if kids is not None:
            self.index.shapes.setdefault(tuple(kids), parent)
        if mode == _RULE:
            membership.rules.append((monitoring, relationship))

    def read(self, nodes: Iterable[etree._Element]) -> None:
        """Collect the strings of ``nodes`` (outside the MP elements) and shape their
        MembershipRules."""
        refs, texts = self.refs, self.texts
        for el in nodes:
            if el.tag == MEMBERSHIP_RULE:
                self.index.shapes.setdefault(shape(el), el)
            text = el.text
            if text is not None and ("$" in text or "!" in text):
                texts.add(text)
            for name, value in el.items():
                if name in REF_ATTRS:
                    refs.add(value)
                elif "!" in value or "$" in value:
                    texts.add(value)

    def language_packs(self, section: etree._Element) -> None:
        """Packs and their display strings; only ``ElementID`` of DisplayString /
        KnowledgeArticle counts as a use (display text like "Hello!World" is none)."""
        index = self.index
        if not self.scan:
            index.language_packs.extend(section.iterchildren("LanguagePack"))
            return
        refs, shapes = self.refs, index.shapes
        for pack in section.iterchildren(_ELEMENT):
            if pack.tag != "LanguagePack":
                self._naming(pack)
                continue
            index.language_packs.append(pack)
            named: set[str] = set()
            index.named.append(named)
            for strings in pack.iterchildren(_ELEMENT):
                if strings.tag != "DisplayStrings":
                    self._naming(strings)
                    continue
                odd = False
                for ds in strings:
                    tag = ds.tag
                    if tag != "DisplayString":
                        if isinstance(tag, str):
                            odd = True
                            self._naming(ds)
                        continue
                    element_id = ds.get("ElementID")
                    if element_id is None:
                        index.unnamed_strings.append(ds)
                    else:
                        refs.add(element_id)
                        if ds.get("SubElementID") is None:
                            named.add(element_id)
                    kids: list[object] = [tag]
                    for part in ds:
                        part_tag = part.tag
                        kids.append((part_tag, part.text) if part_tag in VALUE_CHILDREN else part_tag)
                        if len(part) or part_tag in _NAMING:
                            self._naming(part)
                    shapes.setdefault(tuple(kids), ds)
                if odd:
                    index.odd_display_containers.append(strings)

    def _naming(self, top: etree._Element) -> None:
        """ElementIDs of DisplayString / KnowledgeArticle elements in a language-pack subtree."""
        for el in top.iter(*_NAMING):
            element_id = el.get("ElementID")
            if element_id is not None:
                self.refs.add(element_id)

    def finish(self) -> MpIndex:
        """Interpret the collected strings, each distinct one once."""
        index = self.index
        if not self.scan:
            return index
        refs, texts = self.refs, self.texts
        # a reference attribute is Alias!X or a local X (see _ref_use)
        index.used_aliases = used = {value.partition("!")[0] for value in refs if "!" in value}
        index.local_names = local = {value for value in refs if "!" not in value and "$" not in value}
        local.discard("")
        # other strings: Alias!X as a whole, or tokens (joined: a token never spans a newline)
        for text in texts:
            if "$" not in text:
                for kind, name in _uses("", text):
                    (used if kind == "alias" else local).add(name)
        for name in {double or single for double, single in _TOKEN.findall("\n".join(t for t in texts if "$" in t))}:
            alias, bang, _ = name.partition("!")
            if bang:
                used.add(alias)
            elif name:
                local.add(name)
        return index


def _strings(root: etree._Element) -> Iterator[tuple[etree._Element, str, str]]:
    """Every string that may refer to an element: ``(element, attribute or "" for text, value)``.

    The same strings :class:`_Walk` collects, with their elements: only run to locate a
    problem. That is every reference attribute (``REF_ATTRS``) and every text or other
    attribute holding ``!`` or ``$``; the manifest and display text are skipped (a Name like
    "Hello!World" is no alias use); from the language packs only DisplayString /
    KnowledgeArticle ``ElementID`` count.
    """
    for section in children(root):
        if section.tag == "Manifest":
            continue
        if section.tag == "LanguagePacks":
            for el in section.iter(*_NAMING):
                element_id = el.get("ElementID")
                if element_id is not None:
                    yield el, "ElementID", element_id
            continue
        for el in section.iter(_ELEMENT):
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
    whole value is ``Alias!X`` (so "Hello!" in a script is no alias use). Token texts may
    be joined by newlines and matched at once (a token never spans a newline).
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


def locate_uses(index: MpIndex, aliases: set[str], names: set[str]) -> Iterator[tuple[etree._Element, str, str]]:
    """Every use of the given aliases / local names: (element, kind, alias or name).

    ``kind`` is ``"alias"``, the reference attribute's name, or ``"$token"``.
    """
    for el, attr, value in _strings(index.root):
        for kind, name in _uses(attr, value):
            if name in (aliases if kind == "alias" else names):
                yield el, kind, name

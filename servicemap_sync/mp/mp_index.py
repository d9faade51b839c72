"""What the management-pack rules look at, and what they report.

SCOM's schema (an XSD embedded in a Microsoft DLL) is not public, so
``servicemap_sync.mp.validate`` re-implements the checks its import runs. Every rule
module needs the same facts about a document: the MP ID, the declared references, which
elements the MP defines (by ID), which aliases it uses and which local names it refers
to. :func:`index_document` gathers them in one walk:

* the skeleton (sections → collections → elements) is walked by position; it yields the
  *MP elements* — the things that carry a management-pack-wide unique ID — and the language
  packs with their display strings;
* every element is read once for the strings that refer to elements: reference
  attributes such as ``Target`` or ``TypeID`` (``Alias!ID`` or a local ID), whole texts or
  attributes of the form ``Alias!ID``, and ``$MPElement[Name="…"]$`` /
  ``$Target/Property[Type="…"]/…$`` tokens;
* on the way it keeps what the other rules need, so that none walks the tree again: the MP
  elements whose attributes may be wrong, the *shape* (tag and child tags) of each container whose
  content model ``schema`` checks, the end types of relationships, the membership rules
  of discoveries.

Why it is built like this: the rendered MP of a 10,000-connection map has a quarter of a
million elements, and a tree built in memory is slow to walk (its nodes are scattered). So
each collection is read by one flat loop with no function call per node, and nothing is
kept per node: strings go into sets and are interpreted once per distinct value; a
container's child tags are taken from the same flat stream (:meth:`_Walk.stream`);
readable locations (:func:`where`) and the elements behind a bad name are found only when
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
#: Overrides that set one ``<Value>`` of a workflow's configuration or property, or of a
#: secure reference (learn:jj130092; guide §5); with ``CategoryOverride`` and
#: ``MonitoringOverride``, what ``Monitoring/Overrides`` may hold.
VALUE_OVERRIDES = frozenset({
    *(f"{kind}{form}Override" for kind in ("Rule", "Monitor", "Discovery", "Diagnostic", "Recovery")
      for form in ("Configuration", "Property")),
    "SecureReferenceOverride",
})
#: MP elements whose content model is checked.
SHAPED_ELEMENTS = frozenset({"RelationshipType", "Discovery", "DependencyMonitor", "UnitMonitor", *VALUE_OVERRIDES})
#: Checked wherever it occurs outside the language packs.
MEMBERSHIP_RULE = "MembershipRule"
#: Children whose text is part of their parent's shape (``schema`` checks their values).
VALUE_CHILDREN = frozenset({"Algorithm", "MemberInMaintenance", "MemberUnAvailable"})
#: ``$MPElement[Name="X"]$``, ``$Target/Host/Property[Type='A!X']/P$``, ``$RunAs[Name="A!X"]/…$``.
TOKEN = re.compile(r"\$[A-Za-z]+(?:/[A-Za-z]+)*\[(?:Name|Type)=(?:\"([^\"\n]*)\"|'([^'\n]*)')\]")
#: ``$MPElement[Name="`` … ``"]$``: the canonical token text (its name is recognised without a regex)
_MPELEMENT_OPEN, _MPELEMENT_CLOSE = len('$MPElement[Name="'), len('"]$')
_MPELEMENT_MIN = _MPELEMENT_OPEN + _MPELEMENT_CLOSE
#: A whole text or non-reference attribute that is an alias use.
ALIAS_USE = re.compile(r"\s*([A-Za-z0-9_]+)!([A-Za-z0-9._]+)\s*")

#: tag → attributes the schema reference marks required (ClassType jj130264, RelationshipType
#: jj130250, DependencyMonitor ee533964, View jj130064, overrides jj130092 and guide §5, where
#: ``Module`` is shown on RuleConfigurationOverride only and ``Enforced`` is left optional;
#: Hosted/Singleton default to false, so their absence is only a house problem: ``HOUSE_REQUIRED``)
REQUIRED = {
    "ClassType": ("ID", "Accessibility", "Abstract", "Base"),
    "RelationshipType": ("ID", "Accessibility", "Abstract", "Base"),
    "Discovery": ("ID", "Target", "Enabled"),
    "Rule": ("ID", "Target", "Enabled"),
    "DependencyMonitor": ("ID", "Accessibility", "Enabled", "Target", "ParentMonitorID",
                          "RelationshipType", "MemberMonitor"),
    "UnitMonitor": ("ID", "Accessibility", "Enabled", "Target", "ParentMonitorID", "TypeID"),  # the integration pack
    "View": ("ID", "Accessibility", "Enabled", "Target", "TypeID"),
    "Folder": ("ID", "Accessibility", "ParentFolder"),
    "FolderItem": ("ElementID", "Folder"),
    "Reference": ("Alias",),
    "LanguagePack": ("ID",),
    "DisplayString": ("ElementID",),
    "RuleConfigurationOverride": ("ID", "Context", "Rule", "Module", "Parameter"),
    "RulePropertyOverride": ("ID", "Context", "Rule", "Property"),
    "MonitorConfigurationOverride": ("ID", "Context", "Monitor", "Parameter"),
    "MonitorPropertyOverride": ("ID", "Context", "Monitor", "Property"),
    "DiscoveryConfigurationOverride": ("ID", "Context", "Discovery", "Parameter"),
    "DiscoveryPropertyOverride": ("ID", "Context", "Discovery", "Property"),
    "DiagnosticConfigurationOverride": ("ID", "Context", "Diagnostic", "Parameter"),
    "DiagnosticPropertyOverride": ("ID", "Context", "Diagnostic", "Property"),
    "RecoveryConfigurationOverride": ("ID", "Context", "Recovery", "Parameter"),
    "RecoveryPropertyOverride": ("ID", "Context", "Recovery", "Property"),
    "SecureReferenceOverride": ("ID", "Context", "SecureReference"),
    "CategoryOverride": ("ID", "Context"),
    "MonitoringOverride": ("ID", "Context"),
}
HOUSE_REQUIRED = {"ClassType": ("Hosted", "Singleton")}
BOOLEAN = ("true", "false")
#: attribute → the values SCOM accepts (booleans: exactly lowercase; "1"/"0" is a house problem)
ATTRIBUTE_VALUES = {
    **dict.fromkeys(("Abstract", "Hosted", "Singleton", "Extension", "Remotable", "ConfirmDelivery", "Visible",
                     "Enforced", "IsDefault", "ContentReadable"), BOOLEAN),
    "Enabled": ("true", "false", "onEssentialMonitoring", "onStandardMonitoring", "onAdvancedMonitoring"),
    "Accessibility": ("Public", "Internal"),
}
#: tag → every attribute it must have (SCOM's and ours): what the walk screens for
_MUST_HAVE = {tag: frozenset(REQUIRED.get(tag, ()) + HOUSE_REQUIRED.get(tag, ()))
              for tag in REQUIRED.keys() | HOUSE_REQUIRED.keys()}
_NOTHING: frozenset[str] = frozenset()

#: How deep below each top-level section the MP elements sit (``Monitoring/Rules/Rule``
#: is 2). ``EntityTypes`` adds one level; ``FolderItems`` are not elements: widely
#: imported MPs reuse a View ID as the FolderItem ID.
_ELEMENT_DEPTH = {
    "TypeDefinitions": 2, "Categories": 1, "Monitoring": 2, "ConfigurationGroups": 1,
    "Templates": 1, "PresentationTypes": 2, "Presentation": 2, "Reporting": 2, "Resources": 1,
}
#: Elements of a language pack that name an element (by ``ElementID``).
_NAMING = ("DisplayString", "KnowledgeArticle")
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
    """A Discovery's first ``DataSource`` child (its TypeID) and, for each of that one's
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
    #: the Manifest's Identity element
    identity: etree._Element | None = None
    references: list[Reference] = field(default_factory=list)
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
    # -- what the full walk adds (``scan_uses``) ------------------------------------------
    #: MP elements lacking a ``REQUIRED`` / ``HOUSE_REQUIRED`` attribute or with a value not
    #: in ``ATTRIBUTE_VALUES``: what ``schema.check_attrs`` reports on (nothing else would)
    attribute_suspects: list[etree._Element] = field(default_factory=list)
    #: shape → the first container of that shape among the *shaped* ones (``schema.shaped``)
    shapes: dict[Shape, etree._Element] = field(default_factory=dict)
    #: the Type (else the text) of every Source / Target below a RelationshipType
    end_types: set[str] = field(default_factory=set)
    #: each Discovery MP element's membership rules
    memberships: dict[etree._Element, Membership] = field(default_factory=dict)
    #: text → X for each collected text that is exactly ``$MPElement[Name="X"]$`` (X without
    #: quotes or newlines), which both the token and the house rules' parsers read as X
    mpelement_names: dict[str, str] = field(default_factory=dict)
    #: per language pack: ElementIDs of its ``DisplayStrings/DisplayString`` without SubElementID
    named: list[set[str]] = field(default_factory=list)
    #: ``DisplayStrings`` containers with children other than ``DisplayString`` elements
    odd_display_containers: list[etree._Element] = field(default_factory=list)
    #: ``DisplayStrings/DisplayString`` elements without ElementID (a required attribute)
    unnamed_strings: list[etree._Element] = field(default_factory=list)

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


def end_type(rel: etree._Element, tag: str) -> str | None:
    """The type at one end (``Source``/``Target``) of a RelationshipType: its ``Type``
    attribute (schema 2.0), else its text (1.1)."""
    end = child(rel, tag)
    return None if end is None else end.get("Type", (end.text or "").strip())


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
        scan_uses: also read every element (uses, attribute keys, shapes, end types,
            memberships, display strings); the upgrade check only needs the manifest and
            the types.
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


class _Walk:
    """One pass over a document, filling an :class:`MpIndex`.

    With ``scan`` it also collects, as sets of distinct strings, the values of reference
    attributes (``refs``) and the texts and other attribute values holding ``!`` or ``$``
    (``texts``); :meth:`finish` interprets them.
    """

    def __init__(self, index: MpIndex, scan: bool) -> None:
        self.index = index
        self.scan = scan
        self.refs: set[str] = set()
        self.texts: set[str] = set()

    def manifest(self, manifest: etree._Element) -> None:
        """The first Manifest: ID and references; a MembershipRule in any is still shaped."""
        index = self.index
        if self.scan:
            for rule in manifest.iter(MEMBERSHIP_RULE):
                index.shapes.setdefault(shape(rule), rule)
        if index.manifest is not None:
            return
        index.manifest = manifest
        index.identity = identity = child(manifest, "Identity")
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
        if depth == 1:
            self.collection(container)
            return
        for el in container.iterchildren(_ELEMENT):
            if el.tag == "FolderItems":
                index.folder_items.extend(el.iterchildren("FolderItem"))
                if scan:
                    self.read(el.iter(_ELEMENT))
            else:
                self.containers(el, depth if el.tag == "EntityTypes" else depth - 1)

    def collection(self, container: etree._Element) -> None:
        """A collection: each child is an MP element."""
        index = self.index
        elements, by_tag, duplicates = index.elements, index.by_tag, index.duplicates
        found = []
        for el in container.iterchildren(_ELEMENT):
            tag = el.tag
            found.append((el, tag))
            by_tag.setdefault(tag, []).append(el)
            el_id = el.get("ID")
            if el_id is not None:
                first = elements.setdefault(el_id, el)
                if first is not el:
                    duplicates.append((el, first))
        if self.scan and found:
            self.stream(container, found)

    def stream(self, container: etree._Element, found: list[tuple[etree._Element, str]]) -> None:
        """Read every element below a collection, in document order, in one loop.

        This is the hot loop. Besides the strings it notes the MP elements that may break an
        attribute rule (suspects), the end types of a RelationshipType, and a Discovery's
        first DataSource and the membership rules below it. A *pending* container (a shaped
        MP element, a MembershipRule) takes its child tags from the stream: its ``len()``
        children come next when all but the last are leaves, which the last one's parent
        confirms; otherwise (comments, nested children) :meth:`settle` reads them directly.
        """
        index = self.index
        refs, texts, shapes, values = self.refs, self.texts, index.shapes, ATTRIBUTE_VALUES
        following = iter(found)
        upcoming, upcoming_tag = next(following)
        current: etree._Element | None = None  # the MP element being read
        current_tag = ""
        membership: Membership | None = None  # when it is a Discovery
        source: etree._Element | None = None  # its first DataSource child
        pending: etree._Element | None = None
        left, kids, canonical = 0, [], False
        monitoring = relationship = None
        for el in container.iterdescendants(_ELEMENT):
            if el is upcoming:
                if pending is not None:
                    self.settle(pending, canonical, membership)
                    pending = None
                current, current_tag = el, upcoming_tag
                upcoming, upcoming_tag = next(following, (None, ""))
                must_have = _MUST_HAVE.get(current_tag, _NOTHING)
                present, suspect = 0, False
                for name, value in el.items():
                    if name in must_have:
                        present += 1
                    if name in REF_ATTRS:
                        refs.add(value)
                        continue
                    if "!" in value or "$" in value:
                        texts.add(value)
                    allowed = values.get(name)
                    if allowed is not None and value not in allowed:
                        suspect = True
                if suspect or present != len(must_have):
                    index.attribute_suspects.append(el)
                text = el.text
                if text is not None and ("$" in text or "!" in text):
                    texts.add(text)
                membership = source = None
                if current_tag == "Discovery":
                    index.memberships[el] = membership = Membership()
                if current_tag in SHAPED_ELEMENTS or current_tag == MEMBERSHIP_RULE:
                    left = len(el)
                    if left:
                        pending, kids, canonical = el, [current_tag], False
                    else:
                        shapes.setdefault((current_tag,), el)
                continue
            tag = el.tag
            text = el.text
            if pending is not None:
                kids.append((tag, text) if tag in VALUE_CHILDREN else tag)
                if canonical:
                    if tag == "RelationshipClass":
                        relationship = text
                    elif tag == "MonitoringClass":
                        monitoring = text
                left -= 1
                if not left or len(el):
                    if not left and el.getparent() is pending:
                        shapes.setdefault(tuple(kids), pending)
                        if canonical:
                            membership.rules.append((monitoring, relationship))  # type: ignore[union-attr]
                    else:
                        self.settle(pending, canonical, membership)
                    pending = None
            if tag == MEMBERSHIP_RULE:
                parent = None if source is None else el.getparent()
                is_canonical = (parent is not None and parent.tag == "MembershipRules"
                                and parent.getparent() is source)
                if len(el):  # then no container is pending any more (see above)
                    pending, left, kids, canonical = el, len(el), [tag], is_canonical
                    monitoring = relationship = None
                else:
                    shapes.setdefault((tag,), el)
                    if is_canonical:
                        membership.rules.append((None, None))  # type: ignore[union-attr]
            elif membership is not None:
                if tag == "DataSource" and source is None and el.getparent() is current:
                    source = el
                    membership.has_source = True
                    membership.type_id = el.get("TypeID")
            elif current_tag == "RelationshipType" and (tag == "Source" or tag == "Target"):
                end_type = el.get("Type")
                index.end_types.add((text or "").strip() if end_type is None else end_type)
            if text is not None and ("$" in text or "!" in text):
                texts.add(text)
            for name, value in el.items():
                if name in REF_ATTRS:
                    refs.add(value)
                elif "!" in value or "$" in value:
                    texts.add(value)
        if pending is not None:
            self.settle(pending, canonical, membership)

    def settle(self, container: etree._Element, canonical: bool, membership: Membership | None) -> None:
        """Shape (and, for a rule of a Discovery, read) a container from its children."""
        self.index.shapes.setdefault(shape(container), container)
        if canonical and membership is not None:
            monitoring = relationship = None
            for c in container:
                if c.tag == "RelationshipClass":
                    relationship = c.text
                elif c.tag == "MonitoringClass":
                    monitoring = c.text
            membership.rules.append((monitoring, relationship))

    def read(self, nodes: Iterable[etree._Element]) -> None:
        """Collect the strings of ``nodes`` (outside the collections) and shape their
        MembershipRules (the strings are read as the end of :meth:`stream`'s loop reads them;
        that hot loop keeps its own copy, inline)."""
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
        # a reference attribute is Alias!X, or a local X (without $)
        index.used_aliases = used = {value.partition("!")[0] for value in refs if "!" in value}
        index.local_names = local = {value for value in refs if "!" not in value and "$" not in value}
        local.discard("")
        # another string is an alias use as a whole, or holds tokens; most are exactly
        # $MPElement[Name="X"]$ (kept in mpelement_names), the others are matched all at once
        # (a token never spans a newline)
        canonical = index.mpelement_names
        others = []
        for text in texts:
            if "$" not in text:
                m = ALIAS_USE.fullmatch(text)
                if m is not None:
                    used.add(m.group(1))
                continue
            name = text[_MPELEMENT_OPEN:-_MPELEMENT_CLOSE]
            if (text.startswith('$MPElement[Name="') and text.endswith('"]$') and len(text) >= _MPELEMENT_MIN
                    and '"' not in name and "\n" not in name):
                canonical[text] = name
            else:
                others.append(text)
        names = set(canonical.values())
        names.update(double or single for double, single in TOKEN.findall("\n".join(others)))
        for name in names:
            alias, bang, _ = name.partition("!")
            if bang:
                used.add(alias)
            elif alias:
                local.add(alias)
        return index

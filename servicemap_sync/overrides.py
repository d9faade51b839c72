"""Read the import rule's parameters from an exported SCOM override management pack.

SCOM administrators tune Microsoft's Service Map import rule with overrides: ``Enabled`` as a
``RulePropertyOverride``, ``IntervalSeconds``/``TimeoutSeconds``/``TimeWindowMinutes`` as
``RuleConfigurationOverride`` elements (``Module`` and ``Parameter`` are attributes). Pointing
the sync at the same exported MP keeps one place of truth for those values.

Which override wins when several set one parameter: ``Enforced="true"`` beats not enforced,
as in SCOM; among equals the *last in document order* wins, the way a later override
replaces an earlier one when an administrator edits the MP. Class/group/instance contexts are
not weighed: the sync has one instance of the rule.

Values come back as the raw ``<Value>`` text. Given a ``check`` (:mod:`servicemap_sync.config`
passes one with the bounds of ``SCHEDULE_PARAMETERS``), *every* override aimed at the rule is
range-checked, the losing ones too: an administrator's out-of-range override is a mistake
whether or not another one happens to win today, and it would win as soon as the other is
removed. The error names the override's ID.

``Module`` is read: a ``RuleConfigurationOverride`` configures one module of the rule, and a
parameter of the same name on another module (a write action's ``TimeoutSeconds``, say) is not
the import rule's. The module is ``module`` when the caller knows it; otherwise the data
source, recognised as the module the ``IntervalSeconds`` / ``TimeWindowMinutes`` overrides name
(parameters only a data source has), else the one module the ``TimeoutSeconds`` overrides name.
Overrides of another module are ignored (and not range-checked: they set something else); when
the module cannot be told, the file is refused with the modules found.

The file is untrusted input: it is parsed without entity expansion, DTD loading or network
access, and any DOCTYPE is refused (SCOM never writes one; it is how XXE and "billion laughs"
files start). UTF-8 and UTF-16 (SCOM exports UTF-16LE with a BOM) are both read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from .errors import ConfigError

__all__ = ["RuleOverride", "read_rule_overrides"]

log = logging.getLogger(__name__)

# Element local name → (attribute naming the parameter, parameters the sync honours).
_OVERRIDE_ELEMENTS = {
    "RulePropertyOverride": ("Property", frozenset({"Enabled"})),
    "RuleConfigurationOverride": ("Parameter", frozenset({"IntervalSeconds", "TimeoutSeconds", "TimeWindowMinutes"})),
}
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}  # xs:boolean
#: parameters only the rule's data source has: the module their overrides name is the data source
_SOURCE_PARAMETERS = ("IntervalSeconds", "TimeWindowMinutes")

Check = Callable[[str, str, str], object]
"""``check(parameter, value, where)`` raises :class:`ConfigError` for a value out of range."""


@dataclass(frozen=True)
class RuleOverride:
    """One override of the import rule, as written in the override MP."""

    override_id: str
    parameter: str  # "Enabled" | "IntervalSeconds" | "TimeoutSeconds" | "TimeWindowMinutes"
    value: str
    enforced: bool
    source: str  # e.g. "override MP Contoso.Overrides.xml (override Contoso.Override.Interval)"


def read_rule_overrides(path: Path, *, rule_id: str, module: str | None = None,
                        check: Check | None = None) -> dict[str, RuleOverride]:
    """The winning override per parameter for rule ``rule_id`` (``Rule`` may carry any ``Alias!``).

    Args:
        path: an exported override management pack (XML).
        rule_id: the import rule's ID, e.g. ``Microsoft.SystemCenter.ServiceMap.Import.Rule``.
        module: the ID of the rule's module whose parameters are read (its data source); None:
            recognised from the overrides (module docstring).
        check: called for every override of the rule and module, winning or not, as
            ``check(parameter, raw value, "override <ID>")``; it raises for a bad value.

    Returns:
        Parameter name → override; parameters without an override are absent.

    Raises:
        ConfigError: the file cannot be read, is not well-formed XML, has a DOCTYPE, is not a
            management pack, an override of the rule lacks its ID, ``<Value>`` or ``Module``,
            the module cannot be told, or ``check`` refuses a value.
    """
    root = _parse(path)
    found: list[tuple[RuleOverride, str | None]] = []  # (override, its Module; None for property overrides)
    for element in root.iter(*(f"{{*}}{name}" for name in _OVERRIDE_ELEMENTS)):
        if not _targets(element.get("Rule", ""), rule_id):
            continue
        kind = etree.QName(element).localname
        attribute, honoured = _OVERRIDE_ELEMENTS[kind]
        parameter = element.get(attribute, "")
        if parameter not in honoured:
            log.debug("%s: ignoring override %s of %s %r", path.name, element.get("ID"), attribute, parameter)
            continue
        override = _override(element, parameter, path)
        overridden_module = None
        if kind == "RuleConfigurationOverride":
            overridden_module = element.get("Module")
            if not overridden_module:
                raise ConfigError(f"override management pack {path}, line {element.sourceline}: override "
                                  f"{override.override_id} has no Module (SCOM requires one)")
        found.append((override, overridden_module))
    wanted = module if module is not None else _data_source(found, path, rule_id)
    winners: dict[str, RuleOverride] = {}
    for override, overridden_module in found:
        if overridden_module is not None and overridden_module != wanted:
            log.debug("%s: ignoring override %s of module %s (the rule's is %s)", path.name,
                      override.override_id, overridden_module, wanted)
            continue
        if check is not None:
            check(override.parameter, override.value, f"override {override.override_id}")
        current = winners.get(override.parameter)
        if current is None or override.enforced or not current.enforced:
            winners[override.parameter] = override
    return winners


def _data_source(found: list[tuple[RuleOverride, str | None]], path: Path, rule_id: str) -> str | None:
    """The module the rule's configuration overrides are for (see the module docstring)."""
    for parameters in (_SOURCE_PARAMETERS, ("TimeoutSeconds",)):
        modules = sorted({m for o, m in found if m is not None and o.parameter in parameters})
        if len(modules) == 1:
            return modules[0]
        if len(modules) > 1:
            named = ", ".join(f"{m} ({', '.join(sorted({o.override_id for o, om in found if om == m}))})"
                              for m in modules)
            raise ConfigError(
                f"override management pack {path}: the overrides of {rule_id}'s {' / '.join(parameters)} name "
                f"different modules: {named}; only one is the rule's data source: remove the others' "
                f"overrides or name the module")
    return None


def _parse(path: Path) -> etree._Element:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"override management pack {path}: cannot be read ({exc.strerror or exc})") from exc
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ConfigError(f"override management pack {path}: not well-formed XML ({exc})") from exc
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.doctype:
        raise ConfigError(
            f"override management pack {path}: has a DOCTYPE, which management packs never have "
            f"(refused: it can declare entities)"
        )
    if etree.QName(root).localname != "ManagementPack":
        raise ConfigError(
            f"override management pack {path}: the root element is <{etree.QName(root).localname}>, "
            f"not <ManagementPack>"
        )
    return root


def _targets(rule: str, rule_id: str) -> bool:
    """``Rule="rule_id"`` or ``Rule="Alias!rule_id"`` with any alias."""
    alias, bang, target = rule.partition("!")
    return rule == rule_id or (bool(alias) and bool(bang) and target == rule_id)


def _override(element: etree._Element, parameter: str, path: Path) -> RuleOverride:
    override_id = element.get("ID")
    where = f"override management pack {path}, line {element.sourceline}"
    if not override_id:
        raise ConfigError(f"{where}: <{etree.QName(element).localname}> for {parameter} has no ID")
    value = element.find("{*}Value")
    if value is None:
        raise ConfigError(f"{where}: override {override_id} has no <Value>")
    enforced_text = element.get("Enforced", "false").strip().lower()
    if enforced_text not in _BOOLEANS:
        raise ConfigError(f"{where}: override {override_id} has Enforced={enforced_text!r}, not true or false")
    return RuleOverride(
        override_id=override_id,
        parameter=parameter,
        value=value.text or "",
        enforced=_BOOLEANS[enforced_text],
        source=f"override MP {path.name} (override {override_id})",
    )

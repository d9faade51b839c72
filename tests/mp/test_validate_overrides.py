"""SCOM-scope rules for ``Monitoring/Overrides`` (guide §5 and §7.8).

``build_override_mp`` adds to the DA fixture of ``test_validate.py`` a rule and a unit
monitor whose module / monitor types (defined in the same MP) declare overrideable
parameters, and one override of each common kind, some naming elements of this MP and
some naming elements of referenced MPs through an alias; each test breaks one thing.
"""

from __future__ import annotations

import pytest
from lxml import etree
from lxml.builder import E

from servicemap_sync.mp.validate import validate_bytes, validate_document
from test_validate import MP_ID, build_da_mp, first, only, scom, section

SERVICE = f"{MP_ID}.Service"
RULE = f"{MP_ID}.Collect.Rule"
MONITOR = f"{MP_ID}.Threshold.Monitor"
DATA_SOURCE_TYPE = f"{MP_ID}.Scheduled.DataSource"
MONITOR_TYPE = f"{MP_ID}.Threshold.MonitorType"
GUID = "0f6c9a3e-5b1d-4c2a-9e8f-7a6b5c4d3e2f"


def parameters(*declared: tuple[str, str]) -> etree._Element:
    return E.OverrideableParameters(*(E.OverrideableParameter(ID=name, Selector=f"$Config/{name}$",
                                                              ParameterType=kind) for name, kind in declared))


def build_override_mp() -> etree._Element:
    """The DA fixture plus a rule, a unit monitor, their types and five valid overrides."""
    root = build_da_mp()
    types = section(root, "TypeDefinitions")
    types.append(E.ModuleTypes(E.DataSourceModuleType(
        parameters(("IntervalSeconds", "int"), ("Ratio", "double"), ("Verbose", "bool"), ("Label", "string")),
        ID=DATA_SOURCE_TYPE, Accessibility="Internal", Batching="false")))
    types.append(E.MonitorTypes(E.UnitMonitorType(parameters(("Threshold", "decimal")), ID=MONITOR_TYPE,
                                                  Accessibility="Internal")))
    monitoring = section(root, "Monitoring")
    monitoring.insert(1, E.Rules(E.Rule(
        E.Category("Custom"), E.DataSources(E.DataSource(ID="DS", TypeID=DATA_SOURCE_TYPE)),
        E.WriteActions(E.WriteAction(ID="WA", TypeID="SC!Microsoft.SystemCenter.CollectEvent")),
        ID=RULE, Enabled="true", Target=SERVICE, ConfirmDelivery="false", Remotable="true", Priority="Normal")))
    first(root, "Monitors").append(E.UnitMonitor(
        E.Category("AvailabilityHealth"), ID=MONITOR, Accessibility="Public", Enabled="true", Target=SERVICE,
        ParentMonitorID="Health!System.Health.AvailabilityState", TypeID=MONITOR_TYPE))
    monitoring.append(E.Overrides(
        E.RuleConfigurationOverride(E.Value("1800"), ID=f"{MP_ID}.Override.Interval", Context=SERVICE,
                                    Enforced="false", Rule=RULE, Module="DS", Parameter="IntervalSeconds"),
        E.RulePropertyOverride(E.Value("false"), ID=f"{MP_ID}.Override.Disable", Context=SERVICE,
                               ContextInstance=GUID, Rule="SC!Microsoft.SystemCenter.SomeRule", Property="Enabled"),
        E.MonitorConfigurationOverride(E.Value("0.75"), ID=f"{MP_ID}.Override.Threshold", Enforced="true",
                                       Context="Windows!Microsoft.Windows.Computer", Monitor=MONITOR,
                                       Parameter="Threshold"),
        E.MonitorPropertyOverride(E.Value("false"), ID=f"{MP_ID}.Override.Alert", Context=SERVICE,
                                  Monitor="Health!System.Health.AvailabilityState", Property="GenerateAlert"),
        E.DiscoveryConfigurationOverride(E.Value("3600"), ID=f"{MP_ID}.Override.Discovery", Context=SERVICE,
                                         Discovery=f"{SERVICE}.Discovery", Module="GP", Parameter="AnyParameter")))
    strings = first(root, "DisplayStrings")
    for element in [*root.iter("DataSourceModuleType", "UnitMonitorType", "Rule", "UnitMonitor"),
                    *first(root, "Overrides")]:
        strings.append(E.DisplayString(E.Name(f"name of {element.get('ID')}"), ElementID=element.get("ID")))
    return root


def override(root: etree._Element, name: str) -> etree._Element:
    return next(el for el in root.iter(etree.Element) if el.get("ID") == f"{MP_ID}.Override.{name}")


def test_fixture_is_valid_in_both_scopes() -> None:
    assert validate_document(build_override_mp(), filename=f"{MP_ID}.xml") == []


# --- attributes and content ------------------------------------------------------------------


@pytest.mark.parametrize(("name", "attr"), [
    ("Interval", "Context"), ("Interval", "Rule"), ("Interval", "Module"), ("Interval", "Parameter"),
    ("Disable", "Property"), ("Threshold", "Monitor"), ("Alert", "Property"), ("Discovery", "Discovery"),
    ("Discovery", "ID"),
])
def test_override_needs_its_attributes(name: str, attr: str) -> None:
    root = build_override_mp()
    del override(root, name).attrib[attr]
    p = only(validate_document(root, house_rules=False), "required-attr")
    assert p.message.endswith(f"needs the {attr} attribute") and "/Overrides/" in p.element


def test_module_is_not_required_of_monitor_and_discovery_overrides() -> None:
    root = build_override_mp()
    del override(root, "Discovery").attrib["Module"]
    assert validate_document(root) == []


@pytest.mark.parametrize(("enforced", "scope"), [("True", "scom"), ("yes", "scom"), ("1", "house")])
def test_enforced_is_true_or_false(enforced: str, scope: str) -> None:
    root = build_override_mp()
    override(root, "Interval").set("Enforced", enforced)
    p = only(validate_document(root), "bool-case", scope=scope)
    assert f"Enforced='{enforced}'" in p.message and "[@ID='Contoso.SvcMapDA.web01.Override.Interval']" in p.element
    del override(root, "Interval").attrib["Enforced"]
    assert validate_document(root) == []


def test_override_has_exactly_one_value_and_module_is_no_child() -> None:
    root = build_override_mp()
    target = override(root, "Alert")
    target.remove(target.find("Value"))
    assert "needs a <Value> child" in only(validate_document(root), "missing-element").message
    root = build_override_mp()
    override(root, "Alert").append(E.Value("true"))
    assert "at most one <Value>" in only(validate_document(root), "order").message
    root = build_override_mp()  # the AzureLocal generator's form: Module/Parameter as child elements
    override(root, "Discovery").append(E.Module("GP"))
    p = only(validate_document(root), "unknown-element")
    assert p.element.endswith("/DiscoveryConfigurationOverride[@ID='Contoso.SvcMapDA.web01.Override.Discovery']"
                              "/Module")


def test_unknown_override_kind() -> None:
    root = build_override_mp()
    first(root, "Overrides").append(E.RuleOverride(E.Value("1"), ID=f"{MP_ID}.Override.Bogus", Context=SERVICE,
                                                   Rule=RULE))
    p = only(validate_document(root, house_rules=False), "unknown-element")
    assert "<RuleOverride>" in p.message and "RulePropertyOverride" in p.message


def test_category_and_secure_reference_overrides_are_known() -> None:
    root = build_override_mp()
    overrides = first(root, "Overrides")
    overrides.append(E.SecureReferenceOverride(E.Value("0000"), ID=f"{MP_ID}.Override.RunAs", Context=SERVICE,
                                               SecureReference="Windows!Microsoft.Windows.SomeProfile"))
    overrides.append(E.CategoryOverride(ID=f"{MP_ID}.Override.Category", Context=SERVICE, Monitor=MONITOR,
                                        Value="PerformanceHealth"))
    assert scom(validate_document(root)) == []
    del overrides[-2].attrib["SecureReference"]
    assert "SecureReference" in only(validate_document(root, house_rules=False), "required-attr").message


# --- IDs -----------------------------------------------------------------------------------


def test_override_id_syntax_and_uniqueness() -> None:
    root = build_override_mp()
    override(root, "Alert").set("ID", f"{MP_ID}.Override:Alert")
    assert only(validate_document(root, house_rules=False), "id-chars")
    root = build_override_mp()
    override(root, "Alert").set("ID", RULE)
    p = only(validate_document(root, house_rules=False), "duplicate-id")
    assert "/Overrides/MonitorPropertyOverride" in p.element and "/Rules/Rule" in p.message
    root = build_override_mp()
    override(root, "Alert").set("ID", f"{MP_ID}.OVERRIDE.INTERVAL")
    p = only(validate_document(root, house_rules=False), "duplicate-id")
    assert f"'{MP_ID}.Override.Interval'" in p.message and f"[@ID='{MP_ID}.OVERRIDE.INTERVAL']" in p.element


# --- what an override names ------------------------------------------------------------------


@pytest.mark.parametrize(("name", "attr", "value", "rule"), [
    ("Interval", "Context", f"{MP_ID}.Missing", "dangling-ref"),
    ("Interval", "Rule", f"{MP_ID}.Missing", "dangling-ref"),
    ("Threshold", "Monitor", f"{MP_ID}.Missing", "dangling-ref"),
    ("Disable", "Rule", "Foo!Some.Rule", "alias-undeclared"),
    ("Threshold", "Context", "Foo!Some.Class", "alias-undeclared"),
    ("Disable", "Rule", "SC!", "override-ref"),
    ("Disable", "Rule", "!Some.Rule", "override-ref"),
    ("Interval", "Context", "", "override-ref"),
    ("Alert", "Monitor", "Health!System Health", "override-ref"),
    ("Interval", "Context", RULE, "override-target"),
    ("Interval", "Rule", SERVICE, "override-target"),
    ("Threshold", "Monitor", RULE, "override-target"),
    ("Discovery", "Discovery", MP_ID, "override-target"),
])
def test_override_references(name: str, attr: str, value: str, rule: str) -> None:
    root = build_override_mp()
    override(root, name).set(attr, value)
    p = only(validate_document(root, house_rules=False), rule)
    assert f"[@ID='{MP_ID}.Override.{name}']" in p.element
    assert (f"'{value.partition('!')[0]}'" if rule == "alias-undeclared" else f"{attr}='{value}'") in p.message


def test_override_target_names_the_expected_kind() -> None:
    root = build_override_mp()
    override(root, "Interval").set("Context", f"{SERVICE}.Availability.Rollup")
    p = only(validate_document(root, house_rules=False), "override-target")
    assert "<DependencyMonitor>" in p.message and "ClassType" in p.message


@pytest.mark.parametrize("instance", ["not-a-guid", GUID[:-1], f"{{{GUID}"])
def test_context_instance_is_a_guid(instance: str) -> None:
    root = build_override_mp()
    override(root, "Disable").set("ContextInstance", instance)
    assert "ContextInstance" in only(validate_document(root), "attr-value").message
    override(root, "Disable").set("ContextInstance", f"{{{GUID.upper()}}}")
    assert validate_document(root) == []


# --- modules, parameters and values of this MP's workflows --------------------------------------


def test_module_must_be_one_of_the_rules_modules() -> None:
    root = build_override_mp()
    override(root, "Interval").set("Module", "DataSource")
    p = only(validate_document(root), "override-module")
    assert "Module='DataSource'" in p.message and "DS, WA" in p.message
    root = build_override_mp()
    override(root, "Discovery").set("Module", "DS")
    assert "(its modules: GP)" in only(validate_document(root), "override-module").message


def test_parameter_must_be_declared_by_a_local_module_type() -> None:
    root = build_override_mp()
    override(root, "Interval").set("Parameter", "TimeoutSeconds")
    p = only(validate_document(root), "override-parameter")
    assert f"'{DATA_SOURCE_TYPE}'" in p.message and "IntervalSeconds, Label, Ratio, Verbose" in p.message
    root = build_override_mp()
    override(root, "Threshold").set("Parameter", "Limit")
    assert f"'{MONITOR_TYPE}'" in only(validate_document(root), "override-parameter").message
    root = build_override_mp()  # WA's type is in another MP: nothing to check against
    override(root, "Interval").set("Module", "WA")
    override(root, "Interval").set("Parameter", "Whatever")
    assert validate_document(root) == []


@pytest.mark.parametrize(("parameter", "good", "bad"), [
    ("IntervalSeconds", [" 1800 ", "-5", "+7"], ["1800s", "1.5", ""]),
    ("Ratio", ["0.5", "1e3", "-2.", ".25", "INF"], ["half", "1e", "0x10"]),
    ("Verbose", ["true", "false", "1", "0"], ["True", "yes"]),
    ("Label", ["anything at all", ""], []),
])
def test_value_must_fit_the_parameter_type(parameter: str, good: list[str], bad: list[str]) -> None:
    root = build_override_mp()
    target = override(root, "Interval")
    target.set("Parameter", parameter)
    for value in good:
        target.find("Value").text = value
        assert validate_document(root) == [], value
    for value in bad:
        target.find("Value").text = value
        p = only(validate_document(root), "override-value")
        assert f"'{value}'" in p.message and f"'{parameter}'" in p.message


def test_decimal_parameter_of_a_unit_monitor_type() -> None:
    root = build_override_mp()
    override(root, "Threshold").find("Value").text = "1e3"
    assert "decimal" in only(validate_document(root), "override-value").message


# --- real shapes ---------------------------------------------------------------------------


def test_override_only_mp_like_the_guide_describes() -> None:
    """Manifest + Monitoring/Overrides only, as the guide's §5 example MP: valid SCOM-wise,
    with the line of a broken override reported."""
    mp_id = "Contoso.ServiceMap.Overrides"
    root = E.ManagementPack(
        E.Manifest(E.Identity(E.ID(mp_id), E.Version("1.0.0.0")), E.Name(mp_id), E.References(
            E.Reference(E.ID("Microsoft.SystemCenter.ServiceMap"), E.Version("1.0.0.0"),
                        E.PublicKeyToken("31bf3856ad364e35"), Alias="SM"))),
        E.Monitoring(E.Overrides(E.RuleConfigurationOverride(
            E.Value("1800"), ID=f"{mp_id}.Interval", Context="SM!Microsoft.SystemCenter.ServiceMap.Class",
            Enforced="false", Rule="SM!Microsoft.SystemCenter.ServiceMap.Import.Rule", Module="DS",
            Parameter="IntervalSeconds"))),
        ContentReadable="true", SchemaVersion="2.0")
    data = etree.tostring(root, pretty_print=True)
    assert scom(validate_bytes(data, filename=f"{mp_id}.xml")) == []
    broken = data.replace(b' Module="DS"', b"")
    p = only(validate_bytes(broken, filename=f"{mp_id}.xml"), "required-attr")
    line = broken[:broken.index(b"<RuleConfigurationOverride")].count(b"\n") + 1
    assert p.element.endswith(f"(line {line})")

"""The import rule's parameters from an exported SCOM override management pack."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from servicemap_sync.errors import ConfigError
from servicemap_sync.overrides import RuleOverride, read_rule_overrides

RULE = "Microsoft.SystemCenter.ServiceMap.Import.Rule"
SHARED_EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "scom-mp" / "examples" / "QND.ClusterDisk.Addendum.overrides.xml"


def override_mp(overrides: str, *, references: str | None = None, prolog: str = '<?xml version="1.0" encoding="utf-8"?>') -> str:
    """An override MP as the SCOM console exports it, with ``overrides`` inside <Overrides>."""
    if references is None:
        references = """
      <Reference Alias="SM">
        <ID>Microsoft.SystemCenter.ServiceMap</ID>
        <Version>1.0.0.0</Version>
        <PublicKeyToken>31bf3856ad364e35</PublicKeyToken>
      </Reference>
      <Reference Alias="SystemCenter">
        <ID>Microsoft.SystemCenter.Library</ID>
        <Version>7.0.8433.0</Version>
        <PublicKeyToken>31bf3856ad364e35</PublicKeyToken>
      </Reference>"""
    return f"""{prolog}
<ManagementPack ContentReadable="true" SchemaVersion="2.0" OriginalSchemaVersion="1.1" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <Manifest>
    <Identity>
      <ID>Contoso.ServiceMap.Overrides</ID>
      <Version>1.0.0.3</Version>
    </Identity>
    <Name>Contoso Service Map Overrides</Name>
    <References>{references}
    </References>
  </Manifest>
  <Monitoring>
    <Overrides>{overrides}
    </Overrides>
  </Monitoring>
  <LanguagePacks>
    <LanguagePack ID="ENU" IsDefault="false">
      <DisplayStrings>
        <DisplayString ElementID="Contoso.ServiceMap.Overrides">
          <Name>Contoso Service Map Overrides</Name>
        </DisplayString>
      </DisplayStrings>
    </LanguagePack>
  </LanguagePacks>
</ManagementPack>
"""


def rule_override(override_id: str, parameter: str, value: str, *, enforced: str = "false", rule: str = f"SM!{RULE}") -> str:
    return f"""
      <RuleConfigurationOverride ID="{override_id}" Context="SystemCenter!Microsoft.SystemCenter.AllManagementServersPool" Enforced="{enforced}" Rule="{rule}" Module="DS" Parameter="{parameter}">
        <Value>{value}</Value>
      </RuleConfigurationOverride>"""


def _property(override_id: str, value: str, *, enforced: str = "false", rule: str = f"SM!{RULE}") -> str:
    return f"""
      <RulePropertyOverride ID="{override_id}" Context="SystemCenter!Microsoft.SystemCenter.AllManagementServersPool" Enforced="{enforced}" Rule="{rule}" Property="Enabled">
        <Value>{value}</Value>
      </RulePropertyOverride>"""


def _write(tmp_path: Path, text: str, *, encoding: str = "utf-8", name: str = "Contoso.ServiceMap.Overrides.xml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_all_four_parameters_with_their_source(tmp_path: Path) -> None:
    path = _write(tmp_path, override_mp(
        _property("Contoso.Override.Enabled", "false")
        + rule_override("Contoso.Override.Interval", "IntervalSeconds", "1800")
        + rule_override("Contoso.Override.Timeout", "TimeoutSeconds", "600", enforced="true")
        + rule_override("Contoso.Override.Window", "TimeWindowMinutes", "30")
    ))
    assert read_rule_overrides(path, rule_id=RULE) == {
        "Enabled": RuleOverride("Contoso.Override.Enabled", "Enabled", "false", False,
                                "override MP Contoso.ServiceMap.Overrides.xml (override Contoso.Override.Enabled)"),
        "IntervalSeconds": RuleOverride("Contoso.Override.Interval", "IntervalSeconds", "1800", False,
                                        "override MP Contoso.ServiceMap.Overrides.xml (override Contoso.Override.Interval)"),
        "TimeoutSeconds": RuleOverride("Contoso.Override.Timeout", "TimeoutSeconds", "600", True,
                                       "override MP Contoso.ServiceMap.Overrides.xml (override Contoso.Override.Timeout)"),
        "TimeWindowMinutes": RuleOverride("Contoso.Override.Window", "TimeWindowMinutes", "30", False,
                                          "override MP Contoso.ServiceMap.Overrides.xml (override Contoso.Override.Window)"),
    }


def test_values_are_returned_raw_not_range_checked(tmp_path: Path) -> None:
    path = _write(tmp_path, override_mp(rule_override("O.Window", "TimeWindowMinutes", "90") + rule_override("O.Interval", "IntervalSeconds", " soon ")))
    result = read_rule_overrides(path, rule_id=RULE)
    assert (result["TimeWindowMinutes"].value, result["IntervalSeconds"].value) == ("90", " soon ")


@pytest.mark.parametrize("rule", [RULE, f"SM!{RULE}", f"ServiceMap!{RULE}"])
def test_rule_with_or_without_any_alias(tmp_path: Path, rule: str) -> None:
    path = _write(tmp_path, override_mp(rule_override("O.Interval", "IntervalSeconds", "900", rule=rule)))
    assert read_rule_overrides(path, rule_id=RULE)["IntervalSeconds"].value == "900"


def test_other_rules_parameters_and_elements_are_ignored(tmp_path: Path) -> None:
    path = _write(tmp_path, override_mp(
        rule_override("O.OtherRule", "IntervalSeconds", "60", rule="SM!Microsoft.SystemCenter.ServiceMap.Other.Rule")
        + rule_override("O.Prefix", "IntervalSeconds", "61", rule=f"SM!{RULE}.Extra")
        + rule_override("O.EmptyAlias", "IntervalSeconds", "62", rule=f"!{RULE}")
        + rule_override("O.OtherParameter", "SyncTime", "02:00")
        + _property("O.OtherRuleEnabled", "false", rule="SM!Some.Other.Rule")
        + f"""
      <MonitorPropertyOverride ID="O.Monitor" Context="SM!X" Enforced="true" Monitor="SM!{RULE}" Property="Enabled">
        <Value>false</Value>
      </MonitorPropertyOverride>
      <RulePropertyOverride ID="O.Priority" Context="SM!X" Enforced="true" Rule="SM!{RULE}" Property="Priority">
        <Value>2</Value>
      </RulePropertyOverride>
      <!-- <RuleConfigurationOverride ID="O.Commented" Rule="SM!{RULE}" Parameter="TimeoutSeconds"><Value>1</Value></RuleConfigurationOverride> -->"""
    ))
    assert read_rule_overrides(path, rule_id=RULE) == {}


def test_enforced_beats_not_enforced_whatever_the_order(tmp_path: Path) -> None:
    path = _write(tmp_path, override_mp(
        rule_override("O.A", "IntervalSeconds", "600", enforced="true")
        + rule_override("O.B", "IntervalSeconds", "900")
        + _property("O.C", "true")
        + _property("O.D", "false", enforced="1")
        + _property("O.E", "true")
    ))
    result = read_rule_overrides(path, rule_id=RULE)
    assert (result["IntervalSeconds"].override_id, result["IntervalSeconds"].enforced) == ("O.A", True)
    assert (result["Enabled"].override_id, result["Enabled"].value) == ("O.D", "false")


def test_among_equals_the_last_in_document_order_wins(tmp_path: Path) -> None:
    path = _write(tmp_path, override_mp(
        rule_override("O.Z", "TimeoutSeconds", "100") + rule_override("O.A", "TimeoutSeconds", "200")
        + rule_override("O.M", "TimeWindowMinutes", "10", enforced="true") + rule_override("O.B", "TimeWindowMinutes", "20", enforced="true")
    ))
    result = read_rule_overrides(path, rule_id=RULE)
    assert (result["TimeoutSeconds"].override_id, result["TimeoutSeconds"].value) == ("O.A", "200")
    assert (result["TimeWindowMinutes"].override_id, result["TimeWindowMinutes"].value) == ("O.B", "20")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8-sig", "utf-8"])
def test_scom_export_encodings(tmp_path: Path, encoding: str) -> None:
    prolog = '<?xml version="1.0" encoding="utf-16"?>' if encoding.startswith("utf-16") else '<?xml version="1.0" encoding="utf-8"?>'
    text = override_mp(rule_override("Contoso.Intervalle.Réglé", "IntervalSeconds", "1200"), prolog=prolog)
    if encoding == "utf-16-le":
        text = "\ufeff" + text  # BOM written by hand, as SCOM does, with explicit little-endian bytes
    path = _write(tmp_path, text, encoding=encoding)
    assert path.read_bytes()[:2] in (b"\xff\xfe", b"\xef\xbb", b"<?")
    override = read_rule_overrides(path, rule_id=RULE)["IntervalSeconds"]
    assert (override.override_id, override.value) == ("Contoso.Intervalle.Réglé", "1200")


def test_published_override_mp_is_read(tmp_path: Path) -> None:
    if not SHARED_EXAMPLE.is_file():
        pytest.skip("needs ../shared/scom-mp (a published override MP) beside the repo")
    result = read_rule_overrides(SHARED_EXAMPLE, rule_id="QND.ClusterDisk.AvgDiskSecPerTransfer.Collection")
    assert result["Enabled"].value == "true" and result["Enabled"].enforced is False
    assert result["Enabled"].override_id == "OverrideForRule.QND.ClusterDisk.AvgDiskSecPerTransfer.Collection"


def test_external_entity_is_neither_read_nor_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-4711")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        prolog = (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            f'<!DOCTYPE ManagementPack SYSTEM "http://127.0.0.1:{port}/mp.dtd" [\n'
            f'  <!ENTITY secret SYSTEM "{secret.as_uri()}">\n'
            f'  <!ENTITY % remote SYSTEM "http://127.0.0.1:{port}/evil.dtd">\n'
            '  %remote;\n]>'
        )
        path = _write(tmp_path, override_mp(rule_override("O.Leak", "IntervalSeconds", "&secret;"), prolog=prolog))
        with pytest.raises(ConfigError) as caught:
            read_rule_overrides(path, rule_id=RULE)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected: no DTD or entity was fetched
    assert "TOPSECRET" not in str(caught.value) and "DOCTYPE" in str(caught.value) and str(path) in str(caught.value)


def test_billion_laughs_is_refused_without_expansion(tmp_path: Path) -> None:
    levels = ['<!ENTITY l0 "ha">'] + [f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)]
    prolog = '<?xml version="1.0"?>\n<!DOCTYPE ManagementPack [\n' + "\n".join(levels) + "\n]>"
    path = _write(tmp_path, override_mp(rule_override("O.Laugh", "IntervalSeconds", "&l9;"), prolog=prolog))
    with pytest.raises(ConfigError) as caught:
        read_rule_overrides(path, rule_id=RULE)
    # libxml2 may stop it first ("amplification factor"); either way nothing was expanded.
    assert str(path) in str(caught.value) and "haha" not in str(caught.value)


def test_a_plain_doctype_is_refused_too(tmp_path: Path) -> None:
    path = _write(tmp_path, override_mp(rule_override("O.I", "IntervalSeconds", "60"), prolog="<!DOCTYPE ManagementPack>"))
    with pytest.raises(ConfigError, match="has a DOCTYPE"):
        read_rule_overrides(path, rule_id=RULE)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot be read"),
        (b"", "not well-formed XML"),
        (b"<ManagementPack><Monitoring></ManagementPack>", "not well-formed XML"),
        (b"\x00\x01garbage", "not well-formed XML"),
        (b"<Overrides/>", "the root element is <Overrides>, not <ManagementPack>"),
        (override_mp(rule_override("O.I", "IntervalSeconds", "&undeclared;")).encode(), "not well-formed XML"),
        (override_mp(rule_override("", "IntervalSeconds", "60")).encode(), "<RuleConfigurationOverride> for IntervalSeconds has no ID"),
        (override_mp(rule_override("O.I", "IntervalSeconds", "60").replace("<Value>60</Value>", "")).encode(),
         "override O.I has no <Value>"),
        (override_mp(_property("O.E", "false", enforced="yes")).encode(), "override O.E has Enforced='yes', not true or false"),
    ],
)
def test_bad_files_raise_config_error_naming_the_file(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "Broken.Overrides.xml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        read_rule_overrides(path, rule_id=RULE)
    assert str(caught.value).startswith(f"override management pack {path}") and message in str(caught.value)


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        read_rule_overrides(tmp_path, rule_id=RULE)


# --- every override checked, Module read (issue 13) ---------------------------------------------


def _module_override(override_id: str, parameter: str, value: str, module: str, *, enforced: str = "false") -> str:
    return rule_override(override_id, parameter, value, enforced=enforced).replace('Module="DS"', f'Module="{module}"')


def _settings_check(tmp_path: Path, overrides: str):
    """resolve_schedule over an override MP with ``overrides``, as the sync reads it."""
    from servicemap_sync.config import resolve_schedule

    path = _write(tmp_path, override_mp(overrides))
    return resolve_schedule({}, override_mp=path, rule_id=RULE, flags={})


def test_a_losing_override_out_of_range_is_refused_naming_it(tmp_path: Path) -> None:
    # O.Enforced wins, but O.Loser (not enforced, earlier) is still an administrator's mistake
    overrides = (rule_override("O.Loser", "TimeWindowMinutes", "90")
                 + rule_override("O.Enforced", "TimeWindowMinutes", "30", enforced="true"))
    assert read_rule_overrides(_write(tmp_path, override_mp(overrides)), rule_id=RULE)[
        "TimeWindowMinutes"].override_id == "O.Enforced"
    with pytest.raises(ConfigError, match=r"override O\.Loser.*TimeWindowMinutes"):
        _settings_check(tmp_path, overrides)


def test_a_losing_override_that_is_not_a_number_is_refused(tmp_path: Path) -> None:
    overrides = rule_override("O.Text", "IntervalSeconds", "hourly") + rule_override("O.Later", "IntervalSeconds", "600")
    with pytest.raises(ConfigError, match=r"override O\.Text"):
        _settings_check(tmp_path, overrides)
    seen = []
    read_rule_overrides(_write(tmp_path, override_mp(overrides)), rule_id=RULE,
                        check=lambda *args: seen.append(args))
    assert seen == [("IntervalSeconds", "hourly", "override O.Text"), ("IntervalSeconds", "600", "override O.Later")]


def test_an_override_of_another_modules_parameter_does_not_apply(tmp_path: Path) -> None:
    # the data source is DS (it carries IntervalSeconds); WA's TimeoutSeconds is the write action's
    overrides = (rule_override("O.Interval", "IntervalSeconds", "1800")
                 + _module_override("O.WaTimeout", "TimeoutSeconds", "99999", "WA", enforced="true")
                 + rule_override("O.Timeout", "TimeoutSeconds", "120"))
    path = _write(tmp_path, override_mp(overrides))
    result = read_rule_overrides(path, rule_id=RULE)
    assert result["TimeoutSeconds"].override_id == "O.Timeout"
    schedule = _settings_check(tmp_path, overrides)  # 99999 is out of range, but it is not ours
    assert (schedule.timeout_seconds, schedule.interval_seconds) == (120, 1800)
    # a caller that knows the module says so; the other module's overrides are then the foreign ones
    assert read_rule_overrides(path, rule_id=RULE, module="WA")["TimeoutSeconds"].override_id == "O.WaTimeout"
    assert "IntervalSeconds" not in read_rule_overrides(path, rule_id=RULE, module="WA")


def test_property_overrides_have_no_module_and_always_apply(tmp_path: Path) -> None:
    path = _write(tmp_path, override_mp(_property("O.Off", "false") + rule_override("O.Interval", "IntervalSeconds", "60")))
    assert set(read_rule_overrides(path, rule_id=RULE, module="DS")) == {"Enabled", "IntervalSeconds"}


def test_data_source_parameters_on_two_modules_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, override_mp(rule_override("O.A", "IntervalSeconds", "60")
                                        + _module_override("O.B", "TimeWindowMinutes", "30", "Other")))
    with pytest.raises(ConfigError, match=r"different modules: DS \(O\.A\), Other \(O\.B\)"):
        read_rule_overrides(path, rule_id=RULE)


def test_a_configuration_override_without_module_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, override_mp(rule_override("O.NoModule", "IntervalSeconds", "60").replace(' Module="DS"', "")))
    with pytest.raises(ConfigError, match="override O.NoModule has no Module"):
        read_rule_overrides(path, rule_id=RULE)

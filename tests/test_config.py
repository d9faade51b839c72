"""Configuration: precedence, range checks with named keys, secrets kept out of reprs."""

from __future__ import annotations

from pathlib import Path

import pytest

from servicemap_sync.config import MAX_MP_ID_PREFIX, load_settings, settings_from_dict
from servicemap_sync.errors import ConfigError
from servicemap_sync.mp.ids import MAX_PREFIX_LENGTH, mp_id

AZURE = {
    "tenant_id": "00000000-0000-4000-8000-000000000001", "client_id": "00000000-0000-4000-8000-000000000002",
    "subscription_id": "00000000-0000-4000-8000-000000000003", "resource_group": "rg", "workspace_name": "ws",
}


AZURE_TOML = "[azure]\n" + "".join(f'{key} = "{value}"\n' for key, value in AZURE.items())


def settings(sync: dict | None = None, *, env: dict | None = None, flags: dict | None = None, **sections):
    raw = {"azure": dict(AZURE), "sync": sync or {}, **sections}
    return settings_from_dict(raw, base=Path("/base"), env=env if env is not None else {"AZURE_CLIENT_SECRET": "x"},
                              flags=flags or {})


def test_defaults_follow_microsofts_import_rule() -> None:
    s = settings().schedule
    assert (s.enabled, s.interval_seconds, s.timeout_seconds, s.time_window_minutes) == (True, 3600, 300, 60)
    assert set(s.sources.values()) == {"built-in default"}


def test_flags_win_over_config() -> None:
    s = settings({"interval_seconds": 600}, flags={"IntervalSeconds": 120, "TimeWindowMinutes": None}).schedule
    assert s.interval_seconds == 120 and s.sources["IntervalSeconds"] == "command-line flag"
    assert s.time_window_minutes == 60


@pytest.mark.parametrize("key, value, fragment", [
    ("time_window_minutes", 61, "1..60"),
    ("time_window_minutes", 0, "1..60"),
    ("timeout_seconds", "soon", "whole number"),
    ("interval_seconds", True, "not a number"),
    ("enabled", "maybe", "boolean"),
])
def test_bad_schedule_values_name_key_value_and_range(key, value, fragment) -> None:
    with pytest.raises(ConfigError) as err:
        settings({key: value})
    assert f"sync.{key}" in str(err.value) and str(value) in str(err.value) and fragment in str(err.value)


def test_secret_comes_from_env_then_file_then_config(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file\n")
    raw = {"azure": {**AZURE, "client_secret_file": str(secret_file), "client_secret": "from-config"}}
    from_env = settings_from_dict(raw, base=tmp_path, env={"AZURE_CLIENT_SECRET": "from-env"}, flags={})
    from_file = settings_from_dict(raw, base=tmp_path, env={}, flags={})
    assert from_env.azure.client_secret == "from-env"
    assert from_file.azure.client_secret == "from-file"
    assert "from-env" not in repr(from_env) and "from-file" not in repr(from_file)


def test_missing_secret_names_the_ways_to_give_one() -> None:
    with pytest.raises(ConfigError, match="AZURE_CLIENT_SECRET"):
        settings(env={})


def test_missing_required_key_is_named() -> None:
    raw = {"azure": {k: v for k, v in AZURE.items() if k != "workspace_name"}}
    with pytest.raises(ConfigError, match="azure.workspace_name is missing"):
        settings_from_dict(raw, base=Path("/"), env={"AZURE_CLIENT_SECRET": "x"}, flags={})


def test_http_endpoints_are_refused() -> None:
    with pytest.raises(ConfigError, match="azure.authority_host"):
        settings_from_dict({"azure": {**AZURE, "authority_host": "http://login"}}, base=Path("/"),
                           env={"AZURE_CLIENT_SECRET": "x"}, flags={})


def test_scope_is_derived_from_the_arm_url() -> None:
    raw = {"azure": {**AZURE, "resource_manager_url": "https://management.usgovcloudapi.net/"}}
    s = settings_from_dict(raw, base=Path("/"), env={"AZURE_CLIENT_SECRET": "x"}, flags={})
    assert s.azure.arm_scope == "https://management.usgovcloudapi.net/.default"


def test_servers_file_adds_names_and_relative_paths_follow_the_config(tmp_path: Path) -> None:
    (tmp_path / "servers.txt").write_text("# group\nweb01.contoso.com\nSQL01.contoso.com  # db\n\nweb01.CONTOSO.com\n")
    config = tmp_path / "servicemap-sync.toml"
    config.write_text(
        AZURE_TOML +
        '[sync]\nservers=["app01"]\nservers_file="servers.txt"\n[output]\ndirectory="mps"\n'
    )
    s = load_settings(config, env={"AZURE_CLIENT_SECRET": "x"})
    assert s.servers == ("app01", "web01.contoso.com", "SQL01.contoso.com")
    assert s.output_directory == tmp_path / "mps"
    assert s.state_path == tmp_path / "state.db"


def test_invalid_toml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[azure\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad, env={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml", env={})


def test_unknown_section_and_bad_prefix_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"\[azur\]"):
        settings(azur={})
    with pytest.raises(ConfigError, match="mp_id_prefix"):
        settings(output={"mp_id_prefix": "1-bad"})


def test_the_prefix_length_limit_is_the_renderers() -> None:
    assert MAX_MP_ID_PREFIX == MAX_PREFIX_LENGTH
    longest = "P" * MAX_PREFIX_LENGTH
    assert settings(output={"mp_id_prefix": longest}).mp_id_prefix == longest
    mp_id(longest, "web01")  # the renderer takes it too
    with pytest.raises(ConfigError, match=f"at most {MAX_PREFIX_LENGTH} characters"):
        settings(output={"mp_id_prefix": longest + "P"})


@pytest.mark.parametrize("section, key", [("sync", "interval_secondz"), ("azure", "tenantid"), ("output", "dir")])
def test_a_misspelt_key_is_refused_naming_it_and_the_right_ones(section: str, key: str) -> None:
    raw = {"azure": dict(AZURE), section: {key: 5}} if section != "azure" else {"azure": {**AZURE, key: "x"}}
    with pytest.raises(ConfigError) as err:
        settings_from_dict(raw, base=Path("/"), env={"AZURE_CLIENT_SECRET": "x"}, flags={})
    message = str(err.value)
    assert f"unknown key {section}.{key}" in message
    assert {"sync": "interval_seconds", "azure": "tenant_id", "output": "directory"}[section] in message


def test_example_config_parses(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / "samples" / "config.example.toml"
    s = load_settings(example, env={"AZURE_CLIENT_SECRET": "x"})
    assert s.schedule.time_window_minutes == 60 and s.servers == ("web01.contoso.com", "sql01.contoso.com")
    assert s.large_map_bytes == 1024 * 1024


def test_worker_processes_default_to_the_cores_up_to_four_and_are_range_checked(monkeypatch) -> None:
    for cores, expected in ((None, 0), (1, 0), (2, 2), (16, 4)):
        monkeypatch.setattr("os.cpu_count", lambda cores=cores: cores)
        assert settings().processes == expected
    chosen = settings({"processes": 0, "large_map_kb": 256})
    assert (chosen.processes, chosen.large_map_bytes) == (0, 256 * 1024)
    assert settings().large_map_bytes == 1024 * 1024
    for key, value in (("processes", 33), ("processes", -1), ("large_map_kb", -5)):
        with pytest.raises(ConfigError, match=f"sync.{key} = {value} is out of range"):
            settings({key: value})


def test_a_utf8_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    config = tmp_path / "bom.toml"
    config.write_bytes(b"\xef\xbb\xbf" + (AZURE_TOML + '[sync]\nservers = ["w\u00e9b01"]\n').encode("utf-8"))
    assert load_settings(config, env={"AZURE_CLIENT_SECRET": "x"}).servers == ("w\u00e9b01",)


def test_a_utf16_file_is_refused_with_save_as_utf8(tmp_path: Path) -> None:
    config = tmp_path / "ps.toml"
    config.write_bytes(AZURE_TOML.encode("utf-16"))  # what PowerShell 5's Out-File writes
    with pytest.raises(ConfigError) as err:
        load_settings(config, env={"AZURE_CLIENT_SECRET": "x"})
    assert str(config) in str(err.value) and "UTF-16" in str(err.value) and "save it as UTF-8" in str(err.value)


@pytest.mark.parametrize("content, fragment", [
    (b"\x7fELF\x02\x01\x01\x00\x00\x00", "not a text file"),
    (b"[azure]\ntenant_id = \"caf\xe9\"\n", "not UTF-8 text (byte 0xe9 on line 2)"),
])
def test_a_file_that_is_not_utf8_text_gets_a_clear_message(tmp_path: Path, content: bytes, fragment: str) -> None:
    config = tmp_path / "odd.toml"
    config.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        load_settings(config, env={"AZURE_CLIENT_SECRET": "x"})
    assert fragment in str(err.value) and str(config) in str(err.value)


def test_a_folder_given_as_the_configuration_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder, not a file"):
        load_settings(tmp_path, env={"AZURE_CLIENT_SECRET": "x"})


def test_servers_file_from_windows_notepad_with_bom_and_crlf(tmp_path: Path) -> None:
    (tmp_path / "servers.txt").write_bytes(b"\xef\xbb\xbfweb01.contoso.com\r\nsql01\r\n")
    s = settings({"servers_file": str(tmp_path / "servers.txt")})
    assert s.servers == ("web01.contoso.com", "sql01")


@pytest.mark.parametrize("key, value", [
    ("subscription_id", "my-subscription"), ("client_id", "11111111-1111-1111-1111-11111111111"),
    ("tenant_id", "not a tenant"),
])
def test_ids_must_be_guids(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_dict({"azure": {**AZURE, key: value}}, base=Path("/"), env={"AZURE_CLIENT_SECRET": "x"},
                           flags={})
    assert f"azure.{key} = {value!r}" in str(err.value) and "GUID" in str(err.value)


def test_a_tenant_may_be_given_by_its_domain_name() -> None:
    s = settings_from_dict({"azure": {**AZURE, "tenant_id": "contoso.onmicrosoft.com"}}, base=Path("/"),
                           env={"AZURE_CLIENT_SECRET": "x"}, flags={})
    assert s.azure.tenant_id == "contoso.onmicrosoft.com"


def test_the_secret_source_is_named_never_the_secret(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("hunter2\n")
    raw = {"azure": {**AZURE, "client_secret_file": str(secret_file)}}
    from_file = settings_from_dict(raw, base=tmp_path, env={}, flags={})
    from_env = settings_from_dict(raw, base=tmp_path, env={"AZURE_CLIENT_SECRET": "hunter3"}, flags={})
    assert from_file.azure.secret_source == f"azure.client_secret_file {secret_file}"
    assert from_env.azure.secret_source == "the AZURE_CLIENT_SECRET environment variable"
    assert "hunter" not in from_file.azure.secret_source + from_env.azure.secret_source


def test_the_scom_releases_are_the_renderers() -> None:
    from servicemap_sync.config import SCOM_RELEASES
    from servicemap_sync.mp import RELEASES

    assert SCOM_RELEASES == RELEASES


@pytest.mark.parametrize("mp, fragment", [
    ({"scom_version": "2007"}, "mp.scom_version"), ({"box_rollup": "Percentage"}, "mp.box_rollup"),
    ({"da_rollup": "Percentage 0"}, "1..100"), ({"da_rollup": "MostOf"}, "WorstOf, BestOf"),
])
def test_bad_mp_settings_are_refused(mp: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        settings(mp=mp)


def test_mp_settings_are_read() -> None:
    s = settings(mp={"scom_version": "2019", "box_rollup": "Percentage 60"})
    assert (s.scom_version, s.da_rollup, s.box_rollup) == ("2019", ("WorstOf", None), ("Percentage", 60))

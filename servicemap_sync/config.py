"""Settings from the TOML file, the environment, an override management pack and flags.

This is the only module that reads TOML or ``os.environ`` (callers pass ``env`` in, so tests
can hand it a dict). Everything is checked once, here, before any request is made: a bad
value stops the start with a :class:`~servicemap_sync.errors.ConfigError` that names the key,
the value and the allowed range.

The four scheduling parameters follow Microsoft's import rule and its override precedence:
built-in defaults < ``[sync]`` < the override management pack < command-line flags.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULT_RULE_ID = "Microsoft.SystemCenter.ServiceMap.Import.Rule"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
DEFAULT_RESOURCE_MANAGER = "https://management.azure.com"
DEFAULT_LOGS_QUERY = "https://api.loganalytics.io"
#: SCOM releases a pack can be rendered for (``mp.releases.RELEASES``; a test keeps them equal)
SCOM_RELEASES = ("2012R2", "2016", "2019", "2022", "2025")
ROLLUPS = ("WorstOf", "BestOf", "Percentage")
#: where maps come from (``servicemap_sync.sources.base.KINDS``; config sits below sources)
SOURCE_KINDS = ("servicemap", "vminsights", "netstat")

#: parameter -> (config key, default, low, high, why the bound)
SCHEDULE_PARAMETERS: dict[str, tuple[str, int | bool, int, int, str]] = {
    "Enabled": ("enabled", True, 0, 1, "true or false"),
    "IntervalSeconds": ("interval_seconds", 3600, 1, 604800, "1..604800 seconds (one week)"),
    "TimeoutSeconds": ("timeout_seconds", 300, 1, 3600, "1..3600 seconds"),
    "TimeWindowMinutes": ("time_window_minutes", 60, 1, 60, "1..60 minutes: Service Map maps cover at most one hour"),
}


@dataclass(frozen=True)
class AzureSettings:
    """Where to sign in and which workspace to read. The secret itself is never stored here."""

    tenant_id: str
    client_id: str
    subscription_id: str
    resource_group: str
    workspace_name: str
    authority_host: str = DEFAULT_AUTHORITY
    resource_manager_url: str = DEFAULT_RESOURCE_MANAGER
    logs_query_url: str = DEFAULT_LOGS_QUERY
    certificate_path: Path | None = None
    client_secret: str | None = field(default=None, repr=False)
    #: where the secret (or certificate) came from, for sign-in errors: never the secret itself
    secret_source: str = "the AZURE_CLIENT_SECRET environment variable"
    ca_bundle: str | None = None

    @property
    def arm_scope(self) -> str:
        """Token scope derived from the ARM URL, so sovereign clouds and the emulator just work."""
        return self.resource_manager_url.rstrip("/") + "/.default"


@dataclass(frozen=True)
class Schedule:
    """The effective values of the import rule's parameters and where each came from."""

    enabled: bool
    interval_seconds: int
    timeout_seconds: int
    time_window_minutes: int
    sources: Mapping[str, str]


@dataclass(frozen=True)
class DiagramSettings:
    """How each graph is shaped (``[[rules]]``, ``[diagram]``), as plain data a worker process can
    take; the graph layer checks and compiles it (``processing.Shaping``)."""

    #: noise rules as (where they came from, their tables as JSON), in order: ``[[rules]]``, then
    #: ``diagram.rules_file``
    rules: tuple[tuple[str, str], ...] = ()
    #: ``diagram.curation_file`` as (its path, its text), or None
    curation: tuple[str, str] | None = None
    max_per_layer: int = 8
    max_boxes: int = 60
    appear_after: int = 1
    retire_after: int = 3


def default_processes() -> int:
    """Worker processes for large maps: one per core up to four; none on a single core, where
    a worker would add the round trip and no second core (see :mod:`servicemap_sync.processing`)."""
    cores = os.cpu_count() or 1
    return 0 if cores < 2 else min(cores, 4)


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, validated."""

    azure: AzureSettings
    servers: tuple[str, ...]
    schedule: Schedule
    output_directory: Path
    state_path: Path
    mp_id_prefix: str
    concurrency: int = 8
    max_response_bytes: int = 64 * 1024 * 1024
    include_self_links: bool = False
    processes: int = field(default_factory=default_processes)
    large_map_bytes: int = 1024 * 1024
    override_mp: Path | None = None
    rule_id: str = DEFAULT_RULE_ID
    config_path: Path | None = None
    keep_reports_days: int = 30
    #: every workspace to read (``[[azure.workspaces]]``); the first is ``azure`` (empty: ``azure`` alone)
    workspaces: tuple[AzureSettings, ...] = ()

    @property
    def all_workspaces(self) -> tuple[AzureSettings, ...]:
        return self.workspaces or (self.azure,)
    #: where machines and maps come from (see :mod:`servicemap_sync.sources`)
    source_kind: str = "servicemap"
    #: netstat: the folder of snapshot files, and the address -> name file for peers
    snapshot_dir: Path | None = None
    hosts_file: Path | None = None
    #: vminsights: servers per batch of queries
    batch_size: int = 100
    #: the SCOM release the packs' references are raised to (the lowest by default)
    scom_version: str = SCOM_RELEASES[0]
    #: health rollup per layer: (algorithm, percentage or None) for the DA and for each box
    da_rollup: tuple[str, int | None] = ("WorstOf", None)
    box_rollup: tuple[str, int | None] = ("WorstOf", None)
    diagram: DiagramSettings = field(default_factory=lambda: DiagramSettings())
    #: machine groups defined here (``[[groups]]``): name -> the members' names
    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: the groups whose DAs are synced (``sync.groups``; ``("*",)`` all of them)
    synced_groups: tuple[str, ...] = ()
    #: a group DA's boxes: each member's processes, or one box per member server
    group_detail: str = "process"
    #: (host, status_path) of the integration management pack, or None for no such pack
    integration: tuple[str, str] | None = None


def default_config_path(env: Mapping[str, str]) -> Path:
    """``SERVICEMAP_SYNC_CONFIG`` if set, else ``./servicemap-sync.toml``."""
    return Path(env.get("SERVICEMAP_SYNC_CONFIG") or "servicemap-sync.toml")


def load_settings(
    path: Path,
    *,
    env: Mapping[str, str],
    flags: Mapping[str, object] | None = None,
    require_credentials: bool = True,
) -> Settings:
    """Read and check the configuration file at ``path``.

    Args:
        path: the TOML file; relative paths inside it are relative to its folder.
        env: the environment (``AZURE_CLIENT_SECRET``, ``REQUESTS_CA_BUNDLE``).
        flags: command-line values for the schedule parameters, keyed by parameter name
            (``IntervalSeconds`` …), and ``source`` for ``--source``; ``None`` values are ignored.
        require_credentials: False for commands that never sign in (``overrides``).

    Raises:
        ConfigError: naming the key, the bad value and what is allowed.
    """
    if not path.exists():
        raise ConfigError(
            f"configuration file {path} not found: pass --config PATH or set SERVICEMAP_SYNC_CONFIG "
            f"(samples/config.example.toml is a commented starting point)"
        )
    try:
        raw = tomllib.loads(read_text_file(path, what="configuration file"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from exc
    return settings_from_dict(raw, base=path.resolve().parent, env=env, flags=flags or {},
                              require_credentials=require_credentials, config_path=path)


def read_text_file(path: Path, *, what: str) -> str:
    """The text of a file an administrator wrote, as Windows editors and PowerShell save them.

    UTF-8 with or without a byte-order mark is read; UTF-16 (PowerShell 5's ``Out-File`` and
    ``>`` default) and files that are not text are refused with what to do, instead of a codec
    error; so is a folder where a file was expected.

    Raises:
        ConfigError: naming ``what``, the path and the fix.
    """
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a folder, not a file: give the path of the file itself")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(
            f"{what} {path} is saved as UTF-16 (PowerShell's default for Out-File and '>'): save it as UTF-8, "
            f"e.g. Get-Content {path.name} | Set-Content -Encoding utf8 {path.name}"
        )
    if b"\x00" in data:
        raise ConfigError(f"{what} {path} is not a text file (it holds NUL bytes): give a UTF-8 text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{what} {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}): save it as UTF-8"
        ) from None


#: Every key each section may hold.
_KNOWN_KEYS = {
    "azure": frozenset({
        "tenant_id", "client_id", "subscription_id", "resource_group", "workspace_name", "authority_host",
        "resource_manager_url", "logs_query_url", "certificate_path", "client_secret_file", "client_secret",
        "workspaces",
    }),
    "source": frozenset({"kind", "snapshot_dir", "hosts_file", "batch_size"}),
    "mp": frozenset({"scom_version", "da_rollup", "box_rollup"}),
    "integration": frozenset({"host", "status_path"}),
    "diagram": frozenset({"max_per_layer", "max_boxes", "appear_after", "retire_after", "curation_file", "rules_file"}),
    "sync": frozenset({
        "servers", "servers_file", "override_mp", "rule_id", "concurrency", "max_response_mb", "include_self_links",
        "processes", "large_map_kb", "groups", "group_detail",
        *(key for key, *_rest in SCHEDULE_PARAMETERS.values()),
    }),
    "output": frozenset({"directory", "state_path", "mp_id_prefix", "keep_reports_days"}),
}


def settings_from_dict(
    raw: Mapping[str, Any],
    *,
    base: Path,
    env: Mapping[str, str],
    flags: Mapping[str, object],
    require_credentials: bool = True,
    config_path: Path | None = None,
) -> Settings:
    """Build :class:`Settings` from already-parsed TOML (see :func:`load_settings`)."""
    for section in raw:
        if section not in _KNOWN_KEYS and section not in ("rules", "groups"):
            raise ConfigError(f"unknown section [{section}]: allowed sections are "
                              f"{', '.join(f'[{name}]' for name in _KNOWN_KEYS)}")
    azure_raw = _section(raw, "azure")
    sync_raw = _section(raw, "sync")
    output_raw = _section(raw, "output")
    source_raw = _section(raw, "source")
    mp_raw = _section(raw, "mp")
    diagram_raw = _section(raw, "diagram")
    integration_raw = _section(raw, "integration")
    if bool(integration_raw) and not {"host", "status_path"} <= set(integration_raw):
        raise ConfigError("[integration] needs both host (the Windows computer that reads the status file) and "
                          "status_path (status.json as that computer sees it)")
    scom_version = _string(mp_raw, "mp.scom_version", SCOM_RELEASES[0]).replace(" ", "").upper()
    if scom_version not in SCOM_RELEASES:
        raise ConfigError(f"mp.scom_version = {mp_raw['scom_version']!r}: allowed {', '.join(SCOM_RELEASES)} (the "
                          f"oldest SCOM release the packs must import into)")
    source_kind = flags.get("source") or _choice(source_raw, "source.kind", "servicemap", SOURCE_KINDS)
    snapshot_dir = _path(source_raw, "source.snapshot_dir", base) if "snapshot_dir" in source_raw else None
    if source_kind == "netstat" and snapshot_dir is None:
        raise ConfigError("source.kind = 'netstat' needs source.snapshot_dir: the folder the snapshot files are "
                          "dropped into")
    # snapshots need no Azure sign-in: [azure] may then be left out
    workspaces = _workspaces(azure_raw, base=base, env=env,
                             require_credentials=require_credentials and source_kind != "netstat")
    azure = workspaces[0]
    servers = _servers(sync_raw, base=base)
    override_mp = _path(sync_raw, "sync.override_mp", base) if "override_mp" in sync_raw else None
    rule_id = _string(sync_raw, "sync.rule_id", DEFAULT_RULE_ID)
    schedule = resolve_schedule(sync_raw, override_mp=override_mp, rule_id=rule_id, flags=flags)
    prefix = _string(output_raw, "output.mp_id_prefix", "ServiceMapSync")
    if not _is_mp_id(prefix):
        raise ConfigError(
            f"output.mp_id_prefix = {prefix!r} is not a valid management-pack ID prefix: use letters, digits, "
            f"'_' and '.', each dot-separated part starting with a letter (e.g. 'Contoso.ServiceMap'), "
            f"at most {MAX_MP_ID_PREFIX} characters"
        )
    return Settings(
        azure=azure,
        servers=servers,
        schedule=schedule,
        output_directory=_path(output_raw, "output.directory", base, default="out"),
        state_path=_path(output_raw, "output.state_path", base, default="state.db"),
        mp_id_prefix=prefix,
        concurrency=_int(sync_raw, "sync.concurrency", 8, 1, 64),
        max_response_bytes=_int(sync_raw, "sync.max_response_mb", 64, 1, 1024) * 1024 * 1024,
        include_self_links=_bool(sync_raw, "sync.include_self_links", False),
        processes=_int(sync_raw, "sync.processes", default_processes(), 0, 32),
        large_map_bytes=_int(sync_raw, "sync.large_map_kb", 1024, 0, 1024 * 1024) * 1024,
        override_mp=override_mp,
        rule_id=rule_id,
        config_path=config_path,
        keep_reports_days=_int(output_raw, "output.keep_reports_days", 30, 0, 36500),
        workspaces=workspaces,
        source_kind=source_kind,
        snapshot_dir=snapshot_dir,
        hosts_file=_path(source_raw, "source.hosts_file", base) if "hosts_file" in source_raw else None,
        batch_size=_int(source_raw, "source.batch_size", 100, 1, 1000),
        scom_version=scom_version,
        da_rollup=_rollup(mp_raw, "mp.da_rollup"),
        box_rollup=_rollup(mp_raw, "mp.box_rollup"),
        diagram=DiagramSettings(
            rules=_rules(raw, diagram_raw, base=base),
            curation=_curation(diagram_raw, base=base),
            max_per_layer=_int(diagram_raw, "diagram.max_per_layer", 8, 1, 1000),
            max_boxes=_int(diagram_raw, "diagram.max_boxes", 60, 2, 10000),
            appear_after=_int(diagram_raw, "diagram.appear_after", 1, 1, 100),
            retire_after=_int(diagram_raw, "diagram.retire_after", 3, 1, 100),
        ),
        groups=_groups(raw.get("groups", [])),
        synced_groups=_synced_groups(sync_raw),
        group_detail=_choice(sync_raw, "sync.group_detail", "process", ("process", "server")),
        integration=(_string(integration_raw, "integration.host", None),
                     _string(integration_raw, "integration.status_path", None)) if integration_raw else None,
    )


def resolve_schedule(
    sync_raw: Mapping[str, Any],
    *,
    override_mp: Path | None,
    rule_id: str,
    flags: Mapping[str, object],
) -> Schedule:
    """Apply defaults < ``[sync]`` < override management pack < flags, checking every layer."""
    values: dict[str, int | bool] = {}
    sources: dict[str, str] = {}
    overrides = {}
    if override_mp is not None:
        from .overrides import read_rule_overrides

        overrides = read_rule_overrides(override_mp, rule_id=rule_id, check=_check_parameter)
    for parameter, (key, default, low, high, allowed) in SCHEDULE_PARAMETERS.items():
        values[parameter], sources[parameter] = default, "built-in default"
        if key in sync_raw:
            values[parameter] = _check(parameter, sync_raw[key], f"sync.{key}", low, high, allowed)
            sources[parameter] = "[sync] in the configuration file"
        if parameter in overrides:
            ov = overrides[parameter]
            values[parameter] = _check(parameter, ov.value, f"override {ov.override_id}", low, high, allowed)
            sources[parameter] = ov.source
        if flags.get(parameter) is not None:
            values[parameter] = _check(parameter, flags[parameter], f"flag for {parameter}", low, high, allowed)
            sources[parameter] = "command-line flag"
    return Schedule(
        enabled=bool(values["Enabled"]),
        interval_seconds=int(values["IntervalSeconds"]),
        timeout_seconds=int(values["TimeoutSeconds"]),
        time_window_minutes=int(values["TimeWindowMinutes"]),
        sources=sources,
    )


def _check_parameter(parameter: str, value: object, where: str) -> int | bool:
    """:func:`_check` with the bounds of ``SCHEDULE_PARAMETERS`` (every override is checked with it)."""
    _key, _default, low, high, allowed = SCHEDULE_PARAMETERS[parameter]
    return _check(parameter, value, where, low, high, allowed)


def _check(parameter: str, value: object, where: str, low: int, high: int, allowed: str) -> int | bool:
    """Coerce one scheduling value (TOML native, or text from an override MP) and range-check it."""
    if parameter == "Enabled":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ConfigError(f"{where}: Enabled = {value!r} is not a boolean: allowed {allowed}")
    if isinstance(value, bool):
        raise ConfigError(f"{where}: {parameter} = {value!r} is not a number: allowed {allowed}")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ConfigError(f"{where}: {parameter} = {value!r} is not a whole number: allowed {allowed}") from None
    if not isinstance(value, int):
        raise ConfigError(f"{where}: {parameter} = {value!r} is not a whole number: allowed {allowed}")
    if not low <= value <= high:
        raise ConfigError(f"{where}: {parameter} = {value} is out of range: allowed {allowed}")
    return value


#: what an ``[[azure.workspaces]]`` entry may hold: its workspace, and optionally its own sign-in
_WORKSPACE_KEYS = frozenset({
    "subscription_id", "resource_group", "workspace_name", "tenant_id", "client_id", "authority_host",
    "resource_manager_url", "logs_query_url", "certificate_path", "client_secret_file", "client_secret",
})
_OWN_CREDENTIAL = ("client_id", "certificate_path", "client_secret_file", "client_secret")


def _workspaces(raw: Mapping[str, Any], *, base: Path, env: Mapping[str, str],
                require_credentials: bool) -> tuple[AzureSettings, ...]:
    """``[azure]`` alone, or one :class:`AzureSettings` per ``[[azure.workspaces]]`` entry: each
    entry names its workspace and inherits the rest of ``[azure]`` (one credential), or brings its
    own sign-in (then ``AZURE_CLIENT_SECRET``, which is ``[azure]``'s, does not apply to it)."""
    entries = raw.get("workspaces")
    common = {k: v for k, v in raw.items() if k != "workspaces"}
    if entries is None:
        return (_azure(common, base=base, env=env, require_credentials=require_credentials),)
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ConfigError("azure.workspaces must be one or more [[azure.workspaces]] tables")
    found = []
    for number, entry in enumerate(entries, 1):
        where = f"[[azure.workspaces]] number {number}"
        unknown = sorted(set(entry) - _WORKSPACE_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]}: the keys it may hold are {', '.join(sorted(_WORKSPACE_KEYS))}")
        for key in ("subscription_id", "resource_group", "workspace_name"):
            if key not in entry:
                raise ConfigError(f"{where}: {key} is missing: each entry names its workspace")
        own = any(key in entry for key in _OWN_CREDENTIAL)
        merged = {**({k: v for k, v in common.items() if k not in _OWN_CREDENTIAL} if own else common), **entry}
        found.append(_azure(merged, base=base, env={k: v for k, v in env.items() if k != "AZURE_CLIENT_SECRET"}
                            if own else env, require_credentials=require_credentials))
    seen: dict[tuple[str, str, str], int] = {}
    for number, ws in enumerate(found, 1):
        key = (ws.subscription_id.lower(), ws.resource_group.lower(), ws.workspace_name.lower())
        if key in seen:
            raise ConfigError(f"[[azure.workspaces]] numbers {seen[key]} and {number} name the same workspace "
                              f"{ws.workspace_name}: list each once")
        seen[key] = number
    return tuple(found)


def _azure(raw: Mapping[str, Any], *, base: Path, env: Mapping[str, str], require_credentials: bool) -> AzureSettings:
    required = ("tenant_id", "client_id", "subscription_id", "resource_group", "workspace_name")
    values = {key: _string(raw, f"azure.{key}", "" if not require_credentials else None) for key in required}
    for key in ("tenant_id", "client_id", "subscription_id"):
        _check_guid(key, values[key])
    defaults = {"authority_host": DEFAULT_AUTHORITY, "resource_manager_url": DEFAULT_RESOURCE_MANAGER,
                "logs_query_url": DEFAULT_LOGS_QUERY}
    for key, default in defaults.items():
        url = _string(raw, f"azure.{key}", default)
        if not url.startswith("https://"):
            raise ConfigError(f"azure.{key} = {url!r} must be an https:// URL (Entra ID and Azure only speak TLS)")
        values[key] = url.rstrip("/")
    certificate = _path(raw, "azure.certificate_path", base) if "certificate_path" in raw else None
    secret = None
    secret_source = f"the certificate azure.certificate_path {certificate}"
    if certificate is None:
        secret = env.get("AZURE_CLIENT_SECRET") or None
        secret_source = "the AZURE_CLIENT_SECRET environment variable"
        if secret is None and "client_secret_file" in raw:
            secret_path = _path(raw, "azure.client_secret_file", base)
            secret = read_text_file(secret_path, what="azure.client_secret_file").strip() or None
            secret_source = f"azure.client_secret_file {secret_path}"
            if secret is None:
                raise ConfigError(f"azure.client_secret_file {secret_path} is empty: put the client secret in it")
        if secret is None and "client_secret" in raw:
            secret = _string(raw, "azure.client_secret", None)
            secret_source = "azure.client_secret in the configuration file"
        if secret is None and require_credentials:
            raise ConfigError(
                "no client secret: set the AZURE_CLIENT_SECRET environment variable, azure.client_secret_file, "
                "or azure.certificate_path"
            )
    return AzureSettings(
        certificate_path=certificate,
        client_secret=secret,
        secret_source=secret_source,
        ca_bundle=env.get("REQUESTS_CA_BUNDLE") or None,
        **values,
    )


_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_DOMAIN = re.compile(r"(?=.{4,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}")


def _check_guid(key: str, value: str) -> None:
    """Subscription and client IDs are GUIDs; a tenant is a GUID or one of its domain names
    (``contoso.onmicrosoft.com``), as Entra ID accepts both. Empty means "not needed here"."""
    if not value or _GUID.fullmatch(value) or (key == "tenant_id" and _DOMAIN.fullmatch(value)):
        return
    allowed = "a GUID or the tenant's domain name (contoso.onmicrosoft.com)" if key == "tenant_id" else "a GUID"
    raise ConfigError(
        f"azure.{key} = {value!r} is not {allowed}, like 00000000-0000-0000-0000-000000000000: copy it from the "
        f"app registration's or the workspace's Overview page in the Azure portal"
    )


def _servers(raw: Mapping[str, Any], *, base: Path) -> tuple[str, ...]:
    servers = raw.get("servers", [])
    if not isinstance(servers, list) or not all(isinstance(s, str) for s in servers):
        raise ConfigError(f"sync.servers = {servers!r} must be a list of server names")
    names = [s.strip() for s in servers if s.strip()]
    if "servers_file" in raw:
        path = _path(raw, "sync.servers_file", base)
        lines = read_text_file(path, what="sync.servers_file").splitlines()
        names += [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name.lower(), name)
    return tuple(seen.values())


def _rules(raw: Mapping[str, Any], diagram: Mapping[str, Any], *, base: Path) -> tuple[tuple[str, str], ...]:
    """``[[rules]]`` of the configuration, then the ``[[rules]]`` of ``diagram.rules_file``."""
    found = []
    if "rules" in raw:
        found.append(("[[rules]]", _rule_tables(raw["rules"], "[[rules]]")))
    if "rules_file" in diagram:
        path = _path(diagram, "diagram.rules_file", base)
        try:
            document = tomllib.loads(read_text_file(path, what="diagram.rules_file"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"diagram.rules_file {path} is not valid TOML: {exc}") from None
        unknown = sorted(set(document) - {"rules"})
        if unknown:
            raise ConfigError(f"diagram.rules_file {path}: unknown table [{unknown[0]}]: it holds [[rules]] only")
        found.append((str(path), _rule_tables(document.get("rules", []), str(path))))
    return tuple(found)


def _rule_tables(tables: object, where: str) -> str:
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{where} must be an array of tables ([[rules]] … action = \"drop\")")
    return json.dumps(tables, sort_keys=True, default=str)


def _curation(diagram: Mapping[str, Any], *, base: Path) -> tuple[str, str] | None:
    if "curation_file" not in diagram:
        return None
    path = _path(diagram, "diagram.curation_file", base)
    return str(path), read_text_file(path, what="diagram.curation_file")


def _groups(tables: object) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``[[groups]]``: ``name`` and ``servers`` each, names unique (case-insensitively)."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError("groups must be [[groups]] tables, each with name = \"...\" and servers = [...]")
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for number, table in enumerate(tables, 1):
        where = f"[[groups]] number {number}"
        unknown = sorted(set(table) - {"name", "servers"})
        name, servers = table.get("name"), table.get("servers")
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]}: a group has name and servers")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}: name is missing: give the application's name")
        if not isinstance(servers, list) or not servers or not all(isinstance(x, str) and x.strip() for x in servers):
            raise ConfigError(f"{where} ({name}): servers must be a list of server names")
        if name.strip().lower() in found:
            raise ConfigError(f"{where}: a group named {name!r} is defined twice")
        found[name.strip().lower()] = (name.strip(), tuple(x.strip() for x in servers))
    return tuple(found.values())


def _synced_groups(raw: Mapping[str, Any]) -> tuple[str, ...]:
    groups = raw.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, str) and g.strip() for g in groups):
        raise ConfigError(f"sync.groups = {groups!r} must be a list of group names, or [\"*\"] for every group")
    return tuple(g.strip() for g in groups)


def _choice(raw: Mapping[str, Any], key: str, default: str, allowed: tuple[str, ...]) -> str:
    value = _string(raw, key, default)
    if value not in allowed:
        raise ConfigError(f"{key} = {value!r}: allowed {', '.join(allowed)}")
    return value


def _rollup(raw: Mapping[str, Any], key: str) -> tuple[str, int | None]:
    """``"WorstOf"``, ``"BestOf"`` or ``"Percentage 60"`` as (algorithm, percentage)."""
    text = _string(raw, key, "WorstOf")
    algorithm, _, rest = text.partition(" ")
    if algorithm not in ROLLUPS or (algorithm == "Percentage") != bool(rest.strip()):
        raise ConfigError(f"{key} = {text!r}: allowed WorstOf, BestOf or 'Percentage N' (N 1..100)")
    if algorithm != "Percentage":
        return algorithm, None
    percentage = rest.strip().rstrip("%")
    if not percentage.isdigit() or not 1 <= int(percentage) <= 100:
        raise ConfigError(f"{key} = {text!r}: the percentage must be a whole number 1..100")
    return algorithm, int(percentage)


def _section(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """A section, refused if it holds a key we do not read: a misspelt key would otherwise
    leave its setting at the default without a word."""
    section = raw.get(name, {})
    if not isinstance(section, dict):
        raise ConfigError(f"[{name}] must be a table")
    known = _KNOWN_KEYS[name]
    for key in section:
        if key not in known:
            raise ConfigError(f"unknown key {name}.{key}: the keys of [{name}] are {', '.join(sorted(known))}")
    return section


def _string(raw: Mapping[str, Any], key: str, default: str | None) -> str:
    short = key.split(".", 1)[1]
    if short not in raw:
        if default is None:
            raise ConfigError(f"{key} is missing: add it to the configuration file")
        return default
    value = raw[short]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} = {value!r} must be a non-empty string")
    return value.strip()


def _int(raw: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = raw.get(key.split(".", 1)[1], default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{key} = {value!r} is out of range: allowed a whole number {low}..{high}")
    return value


def _bool(raw: Mapping[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key.split(".", 1)[1], default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key} = {value!r} must be true or false")
    return value


def _path(raw: Mapping[str, Any], key: str, base: Path, default: str | None = None) -> Path:
    value = _string(raw, key, default)
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


#: ``mp.ids.MAX_PREFIX_LENGTH`` (config sits below the mp layer; a test keeps the two equal), so a
#: prefix the renderer would refuse stops the start instead of failing every server
MAX_MP_ID_PREFIX = 111


def _is_mp_id(value: str) -> bool:
    parts = value.split(".")
    return len(value) <= MAX_MP_ID_PREFIX and all(
        p and p[0].isascii() and p[0].isalpha() and all(c.isascii() and (c.isalnum() or c == "_") for c in p)
        for p in parts
    )

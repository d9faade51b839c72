"""The ``servicemap-sync`` command line: parse, call the library, print, exit.

Exit codes: 0 everything succeeded; 1 the run finished but some servers failed; 2 nothing
could run (configuration, sign-in, workspace or lock). Heavy libraries (Azure SDK, lxml,
networkx) are imported inside the commands so ``--help`` and completion stay instant.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import click

SCHEDULE_FLAGS = (
    ("--enabled/--disabled", "Enabled", None, "Override Enabled."),
    ("--interval-seconds", "IntervalSeconds", int, "Override IntervalSeconds."),
    ("--timeout-seconds", "TimeoutSeconds", int, "Override TimeoutSeconds."),
    ("--time-window-minutes", "TimeWindowMinutes", int, "Override TimeWindowMinutes (1..60)."),
)


class Context:
    """Global options, and the settings loaded from them on demand."""

    def __init__(self, config: Path | None, log_format: str, verbosity: int) -> None:
        self.config = config
        self.log_format = log_format
        self.verbosity = verbosity

    def settings(self, flags: dict[str, object] | None = None, *, require_credentials: bool = True):
        from .config import default_config_path, load_settings

        path = self.config or default_config_path(os.environ)
        return load_settings(path, env=os.environ, flags=flags or {}, require_credentials=require_credentials)


def schedule_options(func):
    """The four import-rule parameters as flags (they win over config and override MP)."""
    for decl, parameter, kind, help_text in reversed(SCHEDULE_FLAGS):
        opts = {"default": None, "help": help_text}
        if kind is not None:
            opts["type"] = kind
        func = click.option(decl, parameter, **opts)(func)
    return func


def _flags(kwargs: dict) -> dict[str, object]:
    return {parameter: kwargs.pop(parameter) for _, parameter, _, _ in SCHEDULE_FLAGS}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(path_type=Path), default=None,
              help="TOML configuration (default: $SERVICEMAP_SYNC_CONFIG, else ./servicemap-sync.toml).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Human-readable lines or one JSON object per line.")
@click.option("-v", "--verbose", count=True, help="More output (-vv: Azure SDK details too).")
@click.option("-q", "--quiet", is_flag=True, help="Warnings and errors only.")
@click.version_option(package_name="servicemap-sync")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, log_format: str, verbose: int, quiet: bool) -> None:
    """Turn Azure Service Map dependency maps into SCOM Distributed Application management packs.

    Example: servicemap-sync --config servicemap-sync.toml sync
    """
    from .logs import configure_logging

    verbosity = -1 if quiet else verbose
    configure_logging(log_format, verbosity)
    ctx.obj = Context(config, log_format, verbosity)


@cli.command()
@schedule_options
@click.option("--force", is_flag=True, help="Publish every server, even unchanged ones.")
@click.pass_obj
def sync(obj: Context, force: bool, **kwargs) -> None:
    """One pass over the Servers Group: fetch, build, render, validate, publish what changed.

    Example: servicemap-sync sync --time-window-minutes 30
    """
    from .service import SyncService

    settings = _load(obj, _flags(kwargs))
    _finish(_guard(lambda: _with_progress(len(settings.servers),
                                          lambda p: SyncService(settings).sync(progress=p, force=force))))


@cli.command()
@schedule_options
@click.pass_obj
def run(obj: Context, **kwargs) -> None:
    """The scheduled service: a sync every IntervalSeconds while Enabled; stops on SIGINT/SIGTERM.

    Example: servicemap-sync --log-format json run
    """
    from .scheduler import run_forever
    from .signals import run_until_signalled

    flags = _flags(kwargs)
    stop = threading.Event()
    # A service's output is its log: each server and each run's summary are log records.
    _guard(lambda: run_until_signalled(lambda: run_forever(lambda: obj.settings(flags), stop=stop), stop))
    sys.exit(0)


@cli.command()
@click.argument("server")
@schedule_options
@click.pass_obj
def rebuild(obj: Context, server: str, **kwargs) -> None:
    """Rebuild and publish one server now, as a new version, whatever changed.

    Example: servicemap-sync rebuild web01.contoso.com
    """
    from .service import SyncService

    settings = _load(obj, _flags(kwargs))
    _finish(_guard(lambda: SyncService(settings).rebuild(server)))


@cli.command()
@click.option("--server", "servers", multiple=True, help="Only this server (repeatable); default: the whole group.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the rendered management packs.")
@schedule_options
@click.pass_obj
def export(obj: Context, servers: tuple[str, ...], out: Path, **kwargs) -> None:
    """Render management packs into --out for review; changes no state and publishes nothing.

    Example: servicemap-sync export --server web01.contoso.com --out review/
    """
    from .service import SyncService

    settings = _load(obj, _flags(kwargs))
    chosen = list(servers) or None
    _finish(_guard(lambda: _with_progress(len(chosen or settings.servers),
                                          lambda p: SyncService(settings).export(out, servers=chosen, progress=p))))


@cli.command()
@click.pass_obj
def servers(obj: Context) -> None:
    """The Servers Group as a table: server, machine, OS, last sync, status and reason.

    Example: servicemap-sync servers
    """
    from .publish import StateStore

    settings = _load(obj, {}, require_credentials=False)
    rows = [("SERVER", "MACHINE", "OS", "LAST SYNC", "VERSION", "STATUS")]
    reasons = []
    with _guard(lambda: StateStore(settings.state_path)) as state:
        for name in settings.servers:
            s = state.get(name)
            failed = bool(s and s.failing)
            status = "never synced" if s is None else ("failed" if failed else "ok")
            rows.append((name, (s and s.machine) or "-", (s and s.os_family) or "-",
                         (s and (s.last_success or s.last_failure)) or "-", (s and s.version) or "-", status))
            if failed:
                reasons.append(f"{name}: {s.last_failure_reason}")
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    for reason in reasons:
        click.echo(f"  {reason}")


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--scom-only", is_flag=True, help="Only SCOM's own import rules, not our house rules.")
@click.option("--upgrade-from", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Also check that FILE can be imported over this older version.")
def validate(files: tuple[Path, ...], scom_only: bool, upgrade_from: Path | None) -> None:
    """Check management-pack XML files; prints each problem with file and element; exit 1 if any.

    Example: servicemap-sync validate out/*.xml
    """
    from .mp.validate import check_upgrade_files, validate_file

    problems = 0
    for path in files:
        found = validate_file(path, house_rules=not scom_only)
        if upgrade_from is not None:
            found += check_upgrade_files(upgrade_from, path)
        for problem in found:
            click.echo(f"{path}: {problem}")
        problems += len(found)
        if not found:
            click.echo(f"{path}: ok")
    sys.exit(1 if problems else 0)


@cli.command()
@schedule_options
@click.pass_obj
def overrides(obj: Context, **kwargs) -> None:
    """The effective Enabled / IntervalSeconds / TimeoutSeconds / TimeWindowMinutes and their sources.

    Example: servicemap-sync overrides
    """
    settings = _load(obj, _flags(kwargs), require_credentials=False)
    s = settings.schedule
    values = {"Enabled": str(s.enabled).lower(), "IntervalSeconds": s.interval_seconds,
              "TimeoutSeconds": s.timeout_seconds, "TimeWindowMinutes": s.time_window_minutes}
    for name, value in values.items():
        click.echo(f"{name:<18} {str(value):<8} {s.sources[name]}")


@cli.command()
@click.option("--data", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Scenario folder (default: the bundled sample estate).")
@click.option("--port", type=int, default=0, help="Port on 127.0.0.1 (default: any free port).")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("emulator"),
              show_default=True, help="Where the CA, a ready configuration and the secret file go.")
def emulator(data: Path | None, port: int, state_dir: Path) -> None:
    """Serve the local HTTPS emulator (Entra ID, ARM workspace, Service Map API) from sample data.

    Example: servicemap-sync emulator --port 8443
    """
    from .demo import serve_emulator

    serve_emulator(data, port=port, state_dir=state_dir, echo=click.echo)


@cli.command()
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("out"),
              show_default=True, help="Where the management packs go.")
@click.pass_obj
def demo(obj: Context, out: Path) -> None:
    """Sync the bundled sample estate through the in-process emulator into ./out.

    Example: servicemap-sync demo && servicemap-sync validate out/*.xml
    """
    from .demo import run_demo

    summary = _guard(lambda: run_demo(out, progress=None))
    _print_summary(summary)
    click.echo(f"management packs: {out.resolve()}")
    for path in sorted(out.glob("*.xml")):
        click.echo(f"  {path}")
    sys.exit(summary.exit_code)


def _load(obj: Context, flags: dict[str, object], *, require_credentials: bool = True):
    return _guard(lambda: obj.settings(flags, require_credentials=require_credentials))


def _guard(action):
    """Run ``action``; errors that mean nothing could run become exit 2 with their message."""
    from .errors import SyncError

    try:
        return action()
    except SyncError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted: servers in hand were finished, the rest were not started", err=True)
        sys.exit(130)


def _with_progress(count: int, action):
    """A progress bar on a terminal for runs of ``count`` > 1 servers; plain log lines otherwise."""
    if not sys.stderr.isatty() or count < 2:
        return action(None)
    with click.progressbar(length=count, label="servers", file=sys.stderr) as bar:
        return action(lambda result: bar.update(1))


def _finish(summary) -> None:
    _print_summary(summary)
    sys.exit(summary.exit_code)


def _print_summary(summary) -> None:
    from .service import EXPORTED, FAILED, PUBLISHED, UNCHANGED

    seconds = (summary.finished - summary.started).total_seconds() if summary.finished else 0.0
    click.echo(
        f"{summary.command}: {summary.written} synced, {summary.count(UNCHANGED)} unchanged, "
        f"{summary.count(FAILED)} failed, {summary.written} management packs written, {seconds:.1f} s"
    )
    for result in sorted(summary.results, key=lambda r: r.server.lower()):
        if result.status in (PUBLISHED, EXPORTED):
            click.echo(f"  wrote {result.path} (version {result.version or '-'})")
    for result in sorted(summary.failures, key=lambda r: r.server.lower()):
        click.echo(f"  FAILED {result.server}: {result.reason}")
    for path in summary.report_paths:
        click.echo(f"  change report: {path}")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="servicemap-sync")

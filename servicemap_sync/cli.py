"""The ``servicemap-sync`` command line: parse, call the library, print, exit.

Exit codes: 0 everything succeeded; 1 the run finished but some servers failed; 2 nothing
could run (configuration, sign-in, workspace or lock); 130 Ctrl-C stopped a run (the servers in
hand were finished and reported). With ``--log-format json`` every message on stderr, fatal
ones and usage errors included, is a JSON record. Heavy libraries (Azure SDK, lxml, networkx)
are imported inside the commands so ``--help`` and completion stay instant.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

import click

from .config import SCOM_RELEASES, SOURCE_KINDS

log = logging.getLogger("servicemap_sync.cli")

SCHEDULE_FLAGS = {
    "Enabled": ("--enabled/--disabled", None, "Override Enabled (false: sync does nothing)."),
    "IntervalSeconds": ("--interval-seconds", int, "Override IntervalSeconds (time between cycles)."),
    "TimeoutSeconds": ("--timeout-seconds", int, "Override TimeoutSeconds (per request)."),
    "TimeWindowMinutes": ("--time-window-minutes", int, "Override TimeWindowMinutes (1..60)."),
}
#: the parameters a one-shot run uses: IntervalSeconds is the service's, Enabled gates sync only
ONE_SHOT = ("TimeoutSeconds", "TimeWindowMinutes")
GLOBAL_OPTIONS = ("--config", "--log-format", "-v", "--verbose", "-q", "--quiet")



class _Command(click.Command):
    """A command that says so when a global option was put after it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            if exc.option_name in GLOBAL_OPTIONS:
                exc.message = (f"{exc.option_name} is a global option: put it before the command, "
                               f"e.g. servicemap-sync {exc.option_name} ... {self.name}")
            raise


class _Cli(click.Group):
    """The group; usage errors come out as JSON records too when ``--log-format json`` was asked for."""

    command_class = _Command

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            if _json_requested(argv):
                _json_line("error", exc.format_message(), exit_code=exc.exit_code)
            else:
                exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code or 0)


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


def schedule_options(*parameters: str):
    """The import-rule parameters a command uses, as flags (they win over config and override MP)."""
    def decorate(func):
        for parameter in reversed(parameters or tuple(SCHEDULE_FLAGS)):
            decl, kind, help_text = SCHEDULE_FLAGS[parameter]
            opts = {"default": None, "help": help_text}
            if kind is not None:
                opts["type"] = kind
            func = click.option(decl, parameter, **opts)(func)
        return func
    return decorate


def fresh_option(func):
    """``--fresh``: draw the data as it is now, ignoring what earlier syncs saw (stability)."""
    return click.option("--fresh", is_flag=True,
                        help="Ignore what earlier syncs saw: arrows appear and leave at once (diagram stability).")(func)


def source_option(func):
    """``--source KIND``: read the maps from this source instead of ``source.kind``."""
    return click.option("--source", "source", type=click.Choice(SOURCE_KINDS), default=None,
                        help="Where maps come from (overrides source.kind): servicemap, vminsights or netstat.")(func)


def _flags(kwargs: dict) -> dict[str, object]:
    return {name: kwargs.pop(name) for name in (*SCHEDULE_FLAGS, "source") if name in kwargs}


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
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

    Global options go before the command. Example: servicemap-sync --config servicemap-sync.toml sync
    """
    from .logs import configure_logging

    verbosity = -1 if quiet else verbose
    configure_logging(log_format, verbosity)
    ctx.obj = Context(config, log_format, verbosity)


@cli.command()
@fresh_option
@source_option
@schedule_options("Enabled", *ONE_SHOT)
@click.option("--force", is_flag=True, help="Publish every server, even unchanged ones.")
@click.pass_obj
def sync(obj: Context, force: bool, fresh: bool, **kwargs) -> None:
    """One pass over the Servers Group: fetch, build, render, validate, publish what changed.

    Does nothing while Enabled is false, as Microsoft's import rule. Example:
    servicemap-sync sync --time-window-minutes 30
    """
    settings = _load(obj, _flags(kwargs))
    if not settings.schedule.enabled:
        _say(f"Enabled is false ({settings.schedule.sources['Enabled']}): the import rule is disabled, nothing "
             f"was synced; pass --enabled, or set sync.enabled = true")
        sys.exit(0)
    service = _service(obj, settings, fresh=fresh)
    _finish(_guard(lambda: _with_progress(len(settings.servers), lambda p: service.sync(progress=p, force=force))))


@cli.command()
@schedule_options()
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
@click.argument("server", required=False)
@click.option("--group", default=None, help="Rebuild this machine group's DA instead of a server.")
@fresh_option
@source_option
@schedule_options(*ONE_SHOT)
@click.pass_obj
def rebuild(obj: Context, server: str | None, group: str | None, fresh: bool, **kwargs) -> None:
    """Rebuild and publish one server of the Servers Group (any spelling of it), or one machine
    group's DA with --group, now, as a new version, whatever changed.

    Example: servicemap-sync rebuild web01.contoso.com
    """
    if (server is None) == (group is None):
        raise click.UsageError("give a SERVER or --group NAME (one of them)")
    settings = _load(obj, _flags(kwargs))
    service = _service(obj, settings, fresh=fresh)
    _finish(_guard(lambda: service.rebuild(server) if server else service.rebuild_group(group)))


@cli.command()
@click.option("--server", "servers", multiple=True, help="Only this server (repeatable); default: the whole group.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the rendered management packs (not the output folder).")
@fresh_option
@source_option
@schedule_options(*ONE_SHOT)
@click.pass_obj
def export(obj: Context, servers: tuple[str, ...], out: Path, fresh: bool, **kwargs) -> None:
    """Render management packs into --out for review, with the versions sync would publish;
    changes no state and publishes nothing.

    Example: servicemap-sync export --server web01.contoso.com --out review/
    """
    settings = _load(obj, _flags(kwargs))
    chosen = list(servers) or None
    service = _service(obj, settings, fresh=fresh)
    _finish(_guard(lambda: _with_progress(len(chosen or settings.servers),
                                          lambda p: service.export(out, servers=chosen, progress=p))))


@cli.command()
@click.option("--server", "servers", multiple=True, help="Only this server (repeatable); default: the whole group.")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 0 when nothing would change, 2 when something would, 1 on an error (as terraform plan).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout, for scripts.")
@fresh_option
@source_option
@schedule_options(*ONE_SHOT)
@click.pass_obj
def plan(obj: Context, servers: tuple[str, ...], detailed_exitcode: bool, as_json: bool, fresh: bool,
         **kwargs) -> None:
    """What the next sync would publish, without publishing or changing any state: per server the
    boxes and arrows it would add and remove and the version it would get, or unchanged.

    Example: servicemap-sync plan --detailed-exitcode
    """
    from .service import FAILED, PUBLISHED, REMOVED

    settings = _load(obj, _flags(kwargs))
    summary = _guard(lambda: _service(obj, settings, fresh=fresh).plan(servers=list(servers) or None))
    results = sorted(summary.results, key=lambda r: r.server.lower())
    changing = [r for r in results if r.status in (PUBLISHED, REMOVED)]
    if as_json:
        import json

        click.echo(json.dumps({"servers": [_plan_entry(r) for r in results],
                               "would_change": len(changing), "failed": summary.count(FAILED)},
                              indent=2, sort_keys=True, ensure_ascii=False))
    else:
        _print_plan(results)
    if summary.failures:
        sys.exit(1)
    sys.exit(2 if detailed_exitcode and changing else 0)


def _plan_entry(result) -> dict:
    entry = result.change.as_dict() if result.change else {
        "server": result.server, "status": result.status, "version": result.version, "mp_id": result.mp_id,
        "reason": result.reason}
    return entry


def _print_plan(results) -> None:
    from .service import FAILED, PUBLISHED, REMOVED, UNCHANGED

    for result in results:
        if result.status == PUBLISHED:
            click.echo(f"~ {result.server}: would publish {result.mp_id} version {result.version}")
            for line in result.change.detail_lines() or ["    no box or arrow changes (the pack's content changed)"]:
                click.echo(line)
        elif result.status == REMOVED:
            click.echo(f"- {result.server}: left the Servers Group; {result.reason}")
        elif result.status == FAILED:
            click.echo(f"! {result.server}: FAILED: {result.reason}")
        else:
            click.echo(f"  {result.server}: unchanged (version {result.version})")
    count = {status: sum(1 for r in results if r.status == status) for status in (PUBLISHED, REMOVED, UNCHANGED, FAILED)}
    click.echo(f"plan: {count[PUBLISHED]} would publish, {count[REMOVED]} would be removed, {count[UNCHANGED]} unchanged, "
               f"{count[FAILED]} failed")


@cli.command()
@click.argument("server")
@click.option("--format", "fmt", type=click.Choice(["json", "graphml", "dot", "mermaid"]), default="json",
              show_default=True, help="json is networkx node-link (see README); graphml for yEd/Gephi; dot for "
                                      "Graphviz; mermaid for Markdown.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file (default: stdout).")
@fresh_option
@source_option
@schedule_options(*ONE_SHOT)
@click.pass_obj
def graph(obj: Context, server: str, fmt: str, out: Path | None, fresh: bool, **kwargs) -> None:
    """The graph a server's management pack is drawn from, in a format other tools read.

    Example: servicemap-sync graph web01.contoso.com --format dot --out web01.dot
    """
    from .graph.readwrite import FORMATS, plain_graph

    settings = _load(obj, _flags(kwargs))
    the_graph = plain_graph(_guard(lambda: _service(obj, settings, fresh=fresh).graph(server)))
    if out is None:
        FORMATS[fmt](the_graph, click.get_text_stream("stdout"))
        return
    try:
        with out.open("w", encoding="utf-8", newline="\n") as handle:
            FORMATS[fmt](the_graph, handle)
    except OSError as exc:
        _fatal(f"--out {out} cannot be written: {exc.strerror}", 2)
    click.echo(f"wrote {out} ({fmt})", err=True)


@cli.command()
@click.argument("server")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of decisions on stdout, for scripts.")
@fresh_option
@source_option
@schedule_options(*ONE_SHOT)
@click.pass_obj
def explain(obj: Context, server: str, as_json: bool, fresh: bool, **kwargs) -> None:
    """Every box and arrow of a server's map, kept, dropped or merged, and the rule, guard,
    curation line or stability step that decided.

    Example: servicemap-sync explain web01.contoso.com --json
    """
    settings = _load(obj, _flags(kwargs))
    shaped = _guard(lambda: _service(obj, settings, fresh=fresh).explain(server))
    if as_json:
        import json

        click.echo(json.dumps(shaped.explanation_records(), indent=2, ensure_ascii=False))
        return
    for d in shaped.explanation:
        click.echo(f"{d.item:<5}  {d.decision:<7}  {d.label}  [{d.by}: {d.name}]" + (f"  {d.detail}" if d.detail else ""))
    counts = shaped.counts()
    click.echo("explain: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    for note in shaped.notes:
        click.echo(f"  note: {note}")


@cli.command()
@click.option("--acknowledge-removed", is_flag=True,
              help="Stop listing removed servers (after their packs were removed from SCOM).")
@click.pass_obj
def servers(obj: Context, acknowledge_removed: bool) -> None:
    """The Servers Group as the last runs left it: each machine once, its FQDN, management pack,
    last success and last attempt; then servers that left the group until acknowledged.

    Example: servicemap-sync servers
    """
    from .publish import StateStore

    settings = _load(obj, {}, require_credentials=False)
    state = _guard(lambda: StateStore(settings.state_path)) if settings.state_path.exists() else None
    try:
        if acknowledge_removed:
            done = state.acknowledge_removed() if state else []
            click.echo(f"acknowledged {len(done)} removed server(s)" + (f": {', '.join(done)}" if done else ""))
            return
        _print_servers(settings, state)
    finally:
        if state is not None:
            state.close()


def _print_servers(settings, state) -> None:
    from .mp.ids import mp_id

    known = state.all() if state else []
    by_server = {s.server.lower(): s for s in known}
    aliases = state.aliases() if state else {}
    server_of = {name.lower(): server for server, names in aliases.items() for name in names}

    def row(s, status: str) -> tuple:
        return (s.server, s.fqdn or "-", s.source or "-", s.mp_id or "-", s.version or "-", s.last_success or "-",
                s.last_attempt or "-", status)

    rows = [("SERVER", "FQDN", "SOURCE", "MP ID", "VERSION", "LAST SUCCESS", "LAST ATTEMPT", "STATUS")]
    notes, shown = [], set()
    for entry in settings.servers:
        s = by_server.get(server_of.get(entry.lower(), entry.lower()))
        if s is not None and s.server.lower() in shown:
            continue  # another spelling of a machine already listed
        if s is None:
            rows.append((entry, "-", "-", "-", "-", "-", "-", "never synced"))
            continue
        shown.add(s.server.lower())
        spellings = [a for a in aliases.get(s.server.lower(), ()) if a.lower() != s.server.lower()]
        rows.append(row(s, "failed" if s.failing else "ok"))
        if spellings:
            notes.append(f"{s.server}: also listed as {', '.join(spellings)}")
        if s.mp_id:
            notes.append(f"{s.server}: {settings.output_directory / (s.mp_id + '.xml')}")
            if s.mp_id.lower() != mp_id(settings.mp_id_prefix, s.server).lower():
                notes.append(f"{s.server}: its management-pack ID {s.mp_id} carries a suffix: another server's name "
                             f"gives the same plain ID {mp_id(settings.mp_id_prefix, s.server)}")
        if s.failing:
            notes.append(f"{s.server}: last attempt failed: {s.last_failure_reason}")
        notes.extend(f"{s.server}: warning: {warning}" for warning in s.warnings)
    for s in known:
        if s.server.startswith("group:"):
            rows.append(row(s, "failed" if s.failing else "ok"))
            if s.failing:
                notes.append(f"{s.server}: last attempt failed: {s.last_failure_reason}")
        elif s.removed and not s.removal_acknowledged:
            rows.append(row(s, "removed"))
            notes.append(f"{s.server}: left the group on {s.removed_at}; its pack is in "
                         f"{settings.output_directory / 'removed'}; remove {s.mp_id} from SCOM, then run "
                         f"servicemap-sync servers --acknowledge-removed")
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    for note in notes:
        click.echo(f"  {note}")


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--scom-only", is_flag=True, help="Only SCOM's own import rules, not our house rules.")
@click.option("--upgrade-from", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Also check that FILE can be imported over this older version.")
@click.option("--scom-version", type=click.Choice(SCOM_RELEASES), default=SCOM_RELEASES[0],
              show_default=True, help="The oldest SCOM release the packs must import into (mp.scom_version).")
def validate(files: tuple[Path, ...], scom_only: bool, upgrade_from: Path | None, scom_version: str) -> None:
    """Check management-pack XML files; prints each problem with file and element; exit 1 if any.

    Example: servicemap-sync validate out/*.xml
    """
    from .mp.validate import check_upgrade_files, validate_file

    problems = 0
    for path in files:
        found = validate_file(path, house_rules=not scom_only, scom_version=scom_version)
        if upgrade_from is not None:
            found += check_upgrade_files(upgrade_from, path)
        for problem in found:
            click.echo(f"{path}: {problem}")
        problems += len(found)
        if not found:
            click.echo(f"{path}: ok")
    sys.exit(1 if problems else 0)


@cli.command()
@schedule_options()
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
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Port on 127.0.0.1 (default: any free port).")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("emulator"),
              show_default=True, help="Where the CA, a ready configuration and the secret file go.")
@click.option("--latency", type=click.FloatRange(0, 60), default=0.0, show_default=True,
              help="Seconds added to every ARM and Service Map answer (a slow Azure).")
@click.option("--fault", "faults", multiple=True, metavar="KIND[,key=value...]",
              help="Inject a failure (repeatable), e.g. status,status=429,retry_after=5,operation=generateMap,count=3 "
                   "or delay,seconds=10,machine=m-... (kinds: status delay trickle malformed truncated reset oversize "
                   "dangling).")
def emulator(data: Path | None, port: int, state_dir: Path, latency: float, faults: tuple[str, ...]) -> None:
    """Serve the local HTTPS emulator (Entra ID, ARM workspace, Service Map API) from sample data.

    Example: servicemap-sync emulator --port 8443 --latency 0.2 --fault status,status=503,count=5
    """
    from .demo import serve_emulator

    _guard(lambda: serve_emulator(data, port=port, state_dir=state_dir, echo=click.echo, latency=latency,
                                  faults=faults))


@cli.command()
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("out"),
              show_default=True, help="Where the management packs go.")
@source_option
@click.pass_obj
def demo(obj: Context, out: Path, source: str | None) -> None:
    """Sync the bundled sample estate through the in-process emulator into ./out.

    --source vminsights reads the emulator's Log Analytics tables; --source netstat the bundled
    snapshot files. Example: servicemap-sync demo && servicemap-sync validate out/*.xml
    """
    from .demo import run_demo

    summary = _guard(lambda: run_demo(out, progress=None, log_servers=obj.log_format == "json",
                                      source=source or "servicemap"))
    _print_summary(summary)
    click.echo(f"management packs: {out.resolve()} (the summary lists each; see the diagrams in "
               f"{out.resolve() / 'index.html'})")
    sys.exit(summary.exit_code)


def _load(obj: Context, flags: dict[str, object], *, require_credentials: bool = True):
    return _guard(lambda: obj.settings(flags, require_credentials=require_credentials))


def _service(obj: Context, settings, *, fresh: bool = False):
    """The service for a one-shot command: the text summary lists each server, so servers are
    log records only with JSON logs (each server is told once). A wrong rule or curation line
    stops here, before any request (exit 2)."""
    from .service import SyncService

    return _guard(lambda: SyncService(settings, log_servers=obj.log_format == "json", fresh=fresh))


def _guard(action):
    """Run ``action``; errors that mean nothing could run become exit 2 with their message, and
    Ctrl-C exit 130 after the summary of the servers that were finished."""
    from .errors import SyncError
    from .service import Interrupted

    try:
        return action()
    except SyncError as exc:
        _fatal(str(exc), 2)
    except Interrupted as stopped:
        _print_summary(stopped.summary)
        _fatal("interrupted: the servers in hand were finished and are in the change report; the rest were not "
               "started", stopped.summary.exit_code)
    except KeyboardInterrupt:
        _fatal("interrupted: the servers in hand were finished, the rest were not started", 130)


def _json_format() -> bool:
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_object(Context) if ctx else None
    return obj is not None and obj.log_format == "json"


def _fatal(message: str, code: int):
    """Say why the command stops, as the rest of its output is said, and exit with ``code``."""
    if _json_format():
        log.error(message, extra={"exit_code": code})
    else:
        click.echo(f"error: {message}" if code == 2 else message, err=True)
    sys.exit(code)


def _say(message: str) -> None:
    """A notice on stderr: a log record with JSON logs, a plain line otherwise."""
    if _json_format():
        log.warning(message)
    else:
        click.echo(message, err=True)


def _json_requested(argv: list[str]) -> bool:
    """Whether the global options (before the command) ask for JSON logs."""
    for i, arg in enumerate(argv):
        if arg == "--log-format=json" or (arg == "--log-format" and argv[i + 1:i + 2] == ["json"]):
            return True
        if not arg.startswith("-") and (i == 0 or argv[i - 1] not in ("--config", "--log-format")):
            return False
    return False


def _json_line(level: str, message: str, **fields: object) -> None:
    """One JSON record on stderr, for errors raised before logging is set up (usage errors)."""
    from .logs import JsonFormatter

    record = logging.LogRecord("servicemap_sync.cli", logging.ERROR, __file__, 0, message, None, None)
    record.__dict__.update(fields)
    click.echo(JsonFormatter().format(record), err=True)


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
    from .service import EXPORTED, FAILED, PUBLISHED, REMOVED, UNCHANGED

    seconds = (summary.finished - summary.started).total_seconds() if summary.finished else 0.0
    removed = summary.count(REMOVED)
    click.echo(
        f"{summary.command}: {summary.written} synced, {summary.count(UNCHANGED)} unchanged, "
        f"{summary.count(FAILED)} failed, {summary.written} management packs written"
        + (f", {removed} removed" if removed else "") + (", interrupted" if summary.interrupted else "")
        + f", {seconds:.1f} s"
    )
    for result in sorted(summary.results, key=lambda r: r.server.lower()):
        if result.status in (PUBLISHED, EXPORTED):
            click.echo(f"  wrote {result.path} (version {result.version or '-'})")
    for result in sorted(summary.failures, key=lambda r: r.server.lower()):
        click.echo(f"  FAILED {result.server}: {result.reason}")
    for result in sorted((r for r in summary.results if r.status == REMOVED), key=lambda r: r.server.lower()):
        click.echo(f"  REMOVED {result.server}: left the Servers Group; {result.reason}")
    for path in summary.report_paths:
        click.echo(f"  change report: {path}")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="servicemap-sync")

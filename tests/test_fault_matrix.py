"""The fault matrix: the real CLI against the emulator, one injected failure at a time.

Every case runs ``servicemap-sync --config … sync`` in-process (click's CliRunner) against an
in-process emulator of the bundled sample estate and then checks the same promises:

* the exit code is 0 when everything was published and 1 when some server failed;
* each failing server is named in the summary with a reason that says what went wrong;
* every other server's management pack is published and valid;
* nothing in the output folder is partial: every ``*.xml`` validates and no ``.*.tmp`` is left;
* a failing server's previously published file is still there, byte for byte.

Transient faults (bursts that end) must be absorbed by the retries: exit 0, nothing failed.
"""

from __future__ import annotations

import copy
import errno
import os
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from cli_harness import CliRun, invoke, write_config
from lxml import etree

from servicemap_sync.emulator import Emulator, Fault, Scenario
from servicemap_sync.emulator.faults import FaultBook
from servicemap_sync.mp.ids import mp_id
from servicemap_sync.mp.validate import validate_file
from scenario_lookup import drawn_name, machine_named

PREFIX = "ServiceMapSync"
VICTIM = "sql01.contoso.com"
TRAVERSAL = "../../etc/x"


class Estate:
    """One emulator, one configuration and one output folder under ``root``."""

    def __init__(self, emu: Emulator, root: Path, *, out: Path | None = None) -> None:
        self.emu = emu
        self.root = root
        self.out = out or root / "out"
        self.config = root / "servicemap-sync.toml"
        self.servers = list(emu.scenario.servers_group)
        #: drawn names of servers a test changed in the emulator (the bundled scenario no longer says)
        self.names: dict[str, str] = {}
        self.configure()

    def configure(self, *, servers: list[str] | None = None, state_path: Path | None = None, **sync: object) -> None:
        if servers is not None:
            self.servers = servers
        write_config(self.config, self.emu, output=self.out, servers=self.servers, sync=sync, state_path=state_path)

    def sync(self, *args: str, global_args: tuple[str, ...] = ()) -> CliRun:
        return invoke(self.config, self.emu, "sync", *args, global_args=global_args)

    def path(self, server: str) -> Path:
        """Where ``server``'s pack is published (named for its machine, whatever the spelling)."""
        return self.out / f"{mp_id(PREFIX, self.name(server))}.xml"

    def name(self, server: str) -> str:
        return self.names.get(server) or drawn_name(self.emu.scenario, server)

    def machine(self, server: str) -> str:
        """The Service Map resource name of ``server`` (what a Fault's ``machine`` names)."""
        return machine_named(self.emu.scenario, server)

    def baseline(self) -> dict[str, bytes]:
        """A clean sync; returns every server's published bytes."""
        run = self.sync()
        assert run.exit_code == 0, run.output
        assert_consistent(self, run, failed={})
        return {s: self.path(s).read_bytes() for s in self.servers}


def assert_consistent(estate: Estate, run: CliRun, *, failed: dict[str, str],
                      before: dict[str, bytes] | None = None) -> None:
    """The promises every case shares (see the module docstring).

    ``failed`` maps each server expected to fail to a word its reason must contain.
    """
    assert run.exit_code == (1 if failed else 0), run.output
    reasons = run.failures()
    assert set(reasons) == set(failed), run.output
    for server, word in failed.items():
        assert word.lower() in reasons[server].lower(), (server, reasons[server])
    for server in estate.servers:
        path = estate.path(server)
        if estate.name(server) in failed:
            if before is not None:
                assert path.read_bytes() == before[server], f"{server}: the previous good file was changed"
            continue
        assert validate_file(path) == [], server
        if before is not None:
            assert path.read_bytes() != before[server], f"{server}: --force did not publish a new version"
    for xml in estate.out.rglob("*.xml"):
        if xml.is_file():
            assert validate_file(xml) == [], xml
    assert not [p for p in estate.out.rglob(".*.tmp")], "a temporary file was left behind"
    assert estate.emu.client_secret not in run.output


class _AfterMaps(FaultBook):
    """The emulator's fault book, plus ``action()`` once the ``n``-th generateMap has been authenticated.

    The emulator consults its fault book after checking the token, so the ``n``-th map is still
    answered; what ``action`` changes (a revoked secret, expired tokens) hits the requests after it.
    """

    def __init__(self, n: int, action) -> None:
        super().__init__()
        self._n, self._action, self._seen = n, action, 0

    def take(self, operation: str, machine: str | None) -> Fault | None:
        if operation == "generateMap":
            self._seen += 1  # one worker (concurrency = 1) in the tests that use this
            if self._seen == self._n:
                self._action()
        return super().take(operation, machine)


@pytest.fixture
def estate(sample_emu: Emulator, tmp_path: Path) -> Estate:
    return Estate(sample_emu, tmp_path)


def _statuses(emu: Emulator, operation: str) -> list[int]:
    return [r.status for r in emu.requests if r.operation == operation]


# -- transient faults: the retries absorb them --------------------------------------------------

TRANSIENT = {
    "429-storm": dict(kind="status", status=429, retry_after=1, count=12),
    "500-burst": dict(kind="status", status=500, count=4),
    "502-burst": dict(kind="status", status=502, count=4),
    "503-burst": dict(kind="status", status=503, count=4),
    "connection-reset": dict(kind="reset", count=4),
    "truncated-body": dict(kind="truncated", count=3),
}


@pytest.mark.parametrize("fault", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_a_burst_that_ends_is_retried_and_everything_is_published(estate: Estate, fault: dict) -> None:
    estate.emu.add_fault(Fault(operation="generateMap", **fault))

    run = estate.sync()

    assert_consistent(estate, run, failed={})
    statuses = _statuses(estate.emu, "generateMap")
    assert len(statuses) == len(estate.servers) + fault["count"]  # one retry per injected failure
    unanswered = {"status": fault.get("status"), "reset": 0}.get(fault["kind"])
    if unanswered is not None:
        assert statuses.count(unanswered) == fault["count"]


# -- permanent faults on one server: it fails, the others are published -------------------------

PERMANENT = {
    "429-storm-never-ends": (dict(kind="status", status=429, retry_after=1), {}, "throttled"),
    "503-never-ends": (dict(kind="status", status=503, retry_after=0), {}, "503"),
    "slower-than-timeout": (dict(kind="delay", seconds=1.6), {"timeout_seconds": 1}, "TimeoutSeconds"),
    # every gap under the timeout, the whole answer over it
    "trickles-in-past-timeout": (dict(kind="trickle", seconds=0.3), {"timeout_seconds": 1}, "TimeoutSeconds"),
    "malformed-json": (dict(kind="malformed"), {}, "JSON"),
    "dangling-edge": (dict(kind="dangling"), {}, "p-" + "0" * 36 + "dead"),
    "oversized": (dict(kind="oversize", size=2 * 1024 * 1024), {"max_response_mb": 1}, "max_response_mb"),
}


@pytest.mark.parametrize(("fault", "sync", "word"), PERMANENT.values(), ids=PERMANENT.keys())
def test_a_server_that_keeps_failing_keeps_its_last_good_pack(estate: Estate, fault: dict, sync: dict,
                                                              word: str) -> None:
    estate.configure(**sync)
    before = estate.baseline()
    estate.emu.add_fault(Fault(operation="generateMap", machine=estate.machine(VICTIM), **fault))

    run = estate.sync("--force")

    assert_consistent(estate, run, failed={VICTIM: word}, before=before)


def test_a_fault_on_the_machine_list_stops_the_run_before_any_server(estate: Estate) -> None:
    before = estate.baseline()
    estate.emu.add_fault(Fault(operation="machines", kind="malformed"))

    run = estate.sync("--force")

    assert run.exit_code == 2, run.output
    assert "JSON" in run.stderr
    assert {s: estate.path(s).read_bytes() for s in estate.servers} == before


# -- tokens and secrets ---------------------------------------------------------------------------

def test_short_lived_tokens_are_renewed_not_failed(sample_scenario: Scenario, tmp_path: Path) -> None:
    with Emulator(sample_scenario, token_lifetime=2) as emu:
        estate = Estate(emu, tmp_path)
        run = estate.sync()
        assert_consistent(estate, run, failed={})
        assert emu.stats()["tokens_issued"] > 1


def test_tokens_expiring_mid_run_are_refreshed(estate: Estate) -> None:
    estate.configure(concurrency=1)
    estate.emu.faults = _AfterMaps(3, estate.emu.expire_tokens)
    issued = estate.emu.stats()["tokens_issued"]

    run = estate.sync()

    assert_consistent(estate, run, failed={})
    assert 401 in _statuses(estate.emu, "generateMap")
    assert estate.emu.stats()["tokens_issued"] > issued


def test_a_secret_revoked_mid_run_fails_the_rest_with_a_sign_in_reason(estate: Estate) -> None:
    """Servers already done keep their new packs; the rest fail with a sign-in reason and keep
    their old ones. Exit 1, not 2: the run did publish, and the summary must say which."""
    estate.configure(concurrency=1)
    before = estate.baseline()

    def revoke() -> None:
        estate.emu.revoke_secret()
        estate.emu.expire_tokens()

    estate.emu.faults = _AfterMaps(4, revoke)

    run = estate.sync("--force")

    assert_consistent(estate, run, failed={estate.name(s): "sign-in" for s in estate.servers[4:]}, before=before)


def test_a_secret_revoked_before_the_run_means_nothing_could_run(estate: Estate) -> None:
    before = estate.baseline()
    estate.emu.revoke_secret()
    estate.emu.expire_tokens()

    run = estate.sync("--force")

    assert run.exit_code == 2, run.output
    assert "sign-in failed" in run.stderr
    assert {s: estate.path(s).read_bytes() for s in estate.servers} == before
    assert not list(estate.out.rglob(".*.tmp"))


def test_the_secret_never_appears_in_output_logs_reports_or_state(estate: Estate) -> None:
    secret = estate.emu.client_secret
    estate.configure(concurrency=1)
    outputs = [estate.sync(global_args=("--log-format", "json", "-v")).output]
    estate.emu.add_fault(Fault(operation="generateMap", machine=estate.machine(VICTIM), kind="malformed"))
    estate.emu.add_fault(Fault(operation="generateMap", kind="status", status=401, count=2))
    outputs.append(estate.sync("--force", global_args=("-vv",)).output)

    def revoke() -> None:
        estate.emu.revoke_secret()
        estate.emu.expire_tokens()

    estate.emu.faults = _AfterMaps(2, revoke)
    outputs.append(estate.sync("--force", global_args=("--log-format", "json", "-vv")).output)
    outputs.append(estate.sync(global_args=("--log-format", "json", "-v")).output)

    assert [o for o in outputs if "sign-in failed" in o], "the revoked secret was never reported"
    forms = {secret, quote_plus(secret), secret.encode().hex()}
    for text in outputs:
        assert not [f for f in forms if f in text]
    files = [p for p in estate.root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files) and any(p.parent.name == "reports" for p in files)
    for path in files:
        data = path.read_bytes()
        assert not [f for f in forms if f.encode() in data], path


# -- hostile names and a hostile file system ------------------------------------------------------

def test_a_path_traversal_display_name_stays_inside_the_output_folder(sample_emu: Emulator, tmp_path: Path) -> None:
    estate = Estate(sample_emu, tmp_path, out=tmp_path / "a" / "b" / "out")
    build01 = "m-a18f55fb-cd6d-57a8-9b10-720c323e3d4b"
    machines = copy.deepcopy(list(sample_emu.scenario.machines.values()))
    # no FQDN or computer name: the display name is all there is to name the pack after
    hostile = {"displayName": TRAVERSAL, "fullyQualifiedDomainName": None, "computerName": None}
    for machine in machines:
        if machine["name"] == build01:
            machine["properties"].update(hostile)
    sample_emu.set_machines(machines)
    served = copy.deepcopy(sample_emu.scenario.maps[build01])
    for node in served["nodes"]["machines"]:
        if node["name"] == build01:
            node["properties"].update(hostile)
    sample_emu.set_map(build01, served)
    estate.configure(servers=[*estate.servers, TRAVERSAL])
    estate.names[TRAVERSAL] = TRAVERSAL

    run = estate.sync()

    assert_consistent(estate, run, failed={})
    written = estate.path(TRAVERSAL)
    assert written.parent == estate.out and ".." not in written.name and "/" not in written.name
    strings = etree.parse(str(written)).getroot().findall(".//DisplayString/Name")
    assert any(TRAVERSAL in (s.text or "") for s in strings)
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and estate.out not in p.parents and p != estate.config]
    assert outside == []


def test_a_folder_standing_where_the_pack_goes_fails_only_that_server(estate: Estate) -> None:
    """A real OS failure, even as root: the target name is taken by a directory."""
    estate.out.mkdir(parents=True)
    estate.path(VICTIM).mkdir()

    run = estate.sync()

    assert_consistent(estate, run, failed={VICTIM: estate.path(VICTIM).name})
    assert estate.path(VICTIM).is_dir()


def _is_temp_in(path: object, folder: Path, filename: str = "") -> bool:
    if not isinstance(path, (str, bytes, os.PathLike)):
        return False
    p = Path(os.fsdecode(path))
    return folder in p.parents and p.name.startswith(f".{filename}") and p.name.endswith(".tmp")


def test_a_read_only_output_folder_stops_the_run_before_any_request(estate: Estate, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """chmod does not stop root, so the file system's answer is injected where the writer meets it:
    creating a file in the output folder fails with EROFS, as on a read-only mount. The run must
    stop at once with exit 2 naming the folder (not fetch every map and fail each server alike).
    The state database lives elsewhere, as it must for a read-only share to make sense."""
    estate.configure(state_path=tmp_path / "state" / "state.db")
    before = estate.baseline()
    requests_before = len(estate.emu.requests)
    real_open = os.open

    def read_only_open(path, flags, *args, **kwargs):
        if _is_temp_in(path, estate.out):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only_open)
    run = estate.sync("--force")

    assert run.exit_code == 2, run.output
    assert str(estate.out) in run.stderr and "read-only" in run.stderr and "output.directory" in run.stderr
    assert len(estate.emu.requests) == requests_before, "requests were sent before the folder was checked"
    assert {s: estate.path(s).read_bytes() for s in estate.servers} == before


@pytest.mark.parametrize("failure", ["disk-full-mid-write", "read-only-at-rename"])
def test_a_write_that_fails_at_the_edge_keeps_the_previous_pack(estate: Estate, failure: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC after part of the file is on disk, or EROFS when the finished file is renamed over the
    old one: either way the half-written temporary file must go and the old pack must stay."""
    before = estate.baseline()
    victim = estate.path(VICTIM).name
    real_open, real_write, real_replace = os.open, os.write, os.replace
    doomed: dict[int, bool] = {}  # fd of the victim's temporary file -> part of it written already

    def tracking_open(path, flags, *args, **kwargs):
        fd = real_open(path, flags, *args, **kwargs)
        if _is_temp_in(path, estate.out, victim):
            doomed[fd] = False
        return fd

    def disk_full(fd, data):
        if fd not in doomed:
            return real_write(fd, data)
        if doomed[fd]:
            del doomed[fd]  # the number may be reused once the writer closes it
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        doomed[fd] = True
        return real_write(fd, bytes(data[: len(data) // 2]))  # a short write, as a filling disk gives

    def refusing_replace(src, dst, *args, **kwargs):
        if Path(os.fsdecode(dst)).name == victim:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(dst))
        return real_replace(src, dst, *args, **kwargs)

    if failure == "disk-full-mid-write":
        monkeypatch.setattr(os, "open", tracking_open)
        monkeypatch.setattr(os, "write", disk_full)
        word = "no space"
    else:
        monkeypatch.setattr(os, "replace", refusing_replace)
        word = "read-only"

    run = estate.sync("--force")

    assert_consistent(estate, run, failed={VICTIM: word}, before=before)

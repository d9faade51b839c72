"""What the emulator serves: identities, machines and maps, in memory or on disk.

On disk a scenario is a directory::

    scenario.json            ids, workspace, location and the Servers Group (never a secret)
    machines/<name>.json     one Machine resource each, as GET machines returns it
    maps/<name>.json         the ``map`` object of that machine's single-machine dependency map
    machineGroups/<name>.json  one MachineGroup resource each, as GET machineGroups returns it
    workspaces/<workspace>/  another workspace of the same tenant, in this same layout (one level)

Maps are read (or rendered) only when asked for, so a 10 000-server estate costs nothing
until a map is requested.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from urllib.parse import quote, unquote

logger = logging.getLogger(__name__)

SCENARIO_FILE = "scenario.json"
_IDENTITY_FIELDS = ("tenant_id", "client_id", "subscription_id", "resource_group", "workspace_name", "customer_id",
                    "location")


class LazyMaps(Mapping[str, dict]):
    """Machine name → map, produced on demand by ``load`` (a file read or a render)."""

    def __init__(self, names: list[str], load: Callable[[str], dict]) -> None:
        self._names = names
        self._known = set(names)
        self._load = load

    def __getitem__(self, name: str) -> dict:
        if name not in self._known:
            raise KeyError(name)
        return self._load(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


@dataclass(frozen=True)
class Scenario:
    """A tenant, a workspace and the Service Map data behind it.

    ``machines`` maps machine resource name → Machine JSON; ``maps`` maps machine resource name
    → the ``map`` object of its single-machine dependency map. ``servers_group`` holds server
    names the way a user would type them (FQDN, short name, display name, odd case).
    """

    tenant_id: str
    client_id: str
    subscription_id: str
    resource_group: str
    workspace_name: str
    customer_id: str
    location: str
    servers_group: tuple[str, ...]
    machines: Mapping[str, dict]
    maps: Mapping[str, dict]
    machine_groups: Mapping[str, dict] = field(default_factory=dict)
    other_workspaces: tuple[Scenario, ...] = ()

    @property
    def workspaces(self) -> tuple[Scenario, ...]:
        """Every workspace served: this one (the default) first, then :attr:`other_workspaces`."""
        return (self, *self.other_workspaces)

    @property
    def arm_id(self) -> str:
        """The workspace's ARM resource id."""
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.OperationalInsights/workspaces/{self.workspace_name}")

    def identity(self) -> dict:
        """The ``scenario.json`` content."""
        return {**{f: getattr(self, f) for f in _IDENTITY_FIELDS}, "servers_group": list(self.servers_group)}


def _file_name(machine_name: str) -> str:
    return quote(machine_name, safe="-_.~@!") + ".json"


def _read_json(node: Traversable) -> dict:
    with node.open("rb") as fh:
        return json.load(fh)


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Read a scenario directory; ``None`` loads the bundled sample estate.

    Raises:
        FileNotFoundError: no ``scenario.json`` in the directory.
        ValueError: a field of ``scenario.json`` is missing, or a file is not valid JSON.
    """
    root: Traversable = resources.files("servicemap_sync.samples") / "estate" if path is None else Path(path)
    return _load(root, nested=True)


def _json_files(folder: Traversable) -> list[Traversable]:
    if not folder.is_dir():
        return []
    return [n for n in sorted(folder.iterdir(), key=lambda n: n.name) if n.name.endswith(".json")]


def _load(root: Traversable, *, nested: bool) -> Scenario:
    scenario_file = root / SCENARIO_FILE
    if not scenario_file.is_file():
        raise FileNotFoundError(f"no {SCENARIO_FILE} in {root}")
    meta = _read_json(scenario_file)
    missing = [f for f in (*_IDENTITY_FIELDS, "servers_group") if f not in meta]
    if missing:
        raise ValueError(f"{scenario_file}: missing {', '.join(missing)}")
    machines_dir, maps_dir = root / "machines", root / "maps"
    machines: dict[str, dict] = {}
    if machines_dir.is_dir():
        for node in sorted(machines_dir.iterdir(), key=lambda n: n.name):
            if node.name.endswith(".json"):
                machine = _read_json(node)
                machines[machine.get("name") or unquote(node.name[:-5])] = machine
    map_files: dict[str, Traversable] = {}
    if maps_dir.is_dir():
        map_files = {unquote(n.name[:-5]): n for n in sorted(maps_dir.iterdir(), key=lambda n: n.name)
                     if n.name.endswith(".json")}
    groups: dict[str, dict] = {}
    for node in _json_files(root / "machineGroups"):
        group = _read_json(node)
        groups[group.get("name") or unquote(node.name[:-5])] = group
    others: list[Scenario] = []
    workspaces_dir = root / "workspaces"
    if nested and workspaces_dir.is_dir():
        others = [_load(node, nested=False) for node in sorted(workspaces_dir.iterdir(), key=lambda n: n.name)
                  if (node / SCENARIO_FILE).is_file()]
    logger.debug("loaded scenario %s: %d machines, %d maps, %d machine groups, %d more workspaces", root,
                 len(machines), len(map_files), len(groups), len(others))
    return Scenario(
        **{f: str(meta[f]) for f in _IDENTITY_FIELDS},
        servers_group=tuple(str(s) for s in meta["servers_group"]),
        machines=machines,
        maps=LazyMaps(list(map_files), lambda name: _read_json(map_files[name])),
        machine_groups=groups,
        other_workspaces=tuple(others),
    )


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_scenario(scenario: Scenario, out_dir: str | Path) -> Path:
    """Write ``scenario`` in the on-disk layout; stale machine, map, group and workspace files are removed.

    The ``machineGroups`` and ``workspaces`` folders are written only when there is something in them.
    """
    root = Path(out_dir)
    for sub in ("machines", "maps", "machineGroups"):
        if (root / sub).is_dir():
            for old in (root / sub).glob("*.json"):
                old.unlink()
    if (root / "workspaces").is_dir():
        shutil.rmtree(root / "workspaces")
    for sub in ("machines", "maps"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    _write_json(root / SCENARIO_FILE, scenario.identity())
    for name, machine in scenario.machines.items():
        _write_json(root / "machines" / _file_name(name), machine)
    for name in scenario.maps:
        _write_json(root / "maps" / _file_name(name), scenario.maps[name])
    if scenario.machine_groups:
        (root / "machineGroups").mkdir(exist_ok=True)
    elif (root / "machineGroups").is_dir():
        (root / "machineGroups").rmdir()
    for name, group in scenario.machine_groups.items():
        _write_json(root / "machineGroups" / _file_name(name), group)
    for other in scenario.other_workspaces:
        if other.other_workspaces:
            raise ValueError(f"workspace {other.workspace_name}: workspaces nest one level only")
        write_scenario(other, root / "workspaces" / other.workspace_name)
    logger.info("wrote scenario with %d machines, %d machine groups and %d more workspaces to %s",
                len(scenario.machines), len(scenario.machine_groups), len(scenario.other_workspaces), root)
    return root

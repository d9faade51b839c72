"""What the emulator serves: identities, machines and maps, in memory or on disk.

On disk a scenario is a directory::

    scenario.json            ids, workspace, location and the Servers Group (never a secret)
    machines/<name>.json     one Machine resource each, as GET machines returns it
    maps/<name>.json         the ``map`` object of that machine's single-machine dependency map

Maps are read (or rendered) only when asked for, so a 10 000-server estate costs nothing
until a map is requested.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
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
    logger.debug("loaded scenario %s: %d machines, %d maps", root, len(machines), len(map_files))
    return Scenario(
        **{f: str(meta[f]) for f in _IDENTITY_FIELDS},
        servers_group=tuple(str(s) for s in meta["servers_group"]),
        machines=machines,
        maps=LazyMaps(list(map_files), lambda name: _read_json(map_files[name])),
    )


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_scenario(scenario: Scenario, out_dir: str | Path) -> Path:
    """Write ``scenario`` in the on-disk layout; stale machine and map files are removed."""
    root = Path(out_dir)
    for sub in ("machines", "maps"):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for old in (root / sub).glob("*.json"):
            old.unlink()
    _write_json(root / SCENARIO_FILE, scenario.identity())
    for name, machine in scenario.machines.items():
        _write_json(root / "machines" / _file_name(name), machine)
    for name in scenario.maps:
        _write_json(root / "maps" / _file_name(name), scenario.maps[name])
    logger.info("wrote scenario with %d machines to %s", len(scenario.machines), root)
    return root

"""Noise rules: which arrows and boxes of a server's graph the diagram leaves out.

Rules come from ``[[rules]]`` tables (or a rules file the configuration reads), already
parsed: :func:`load_rules` checks them and :func:`apply_rules` applies them to one graph.

**Order.** The rules are tried in order for every arrow (connection); the **first rule that
matches decides** (``action = "drop"`` or ``"keep"``); an arrow no rule matches is kept.

**Boxes follow arrows.** A peer machine or client group stays while one of its arrows stays.
A process of the server stays while one of its arrows stays; one whose arrows were all
dropped goes too. A process that only listens (no arrow in the data) is matched as a box:
only rules without connection-only keys (``direction``, ``peer``, ``peer_process``,
``cidr``, ``peer_kind``, ``failed_only``, ``remote_port``, ``to_domain_controller``) can
match it, with ``port``/``local_port`` compared to the ports it listens on.

**Keys** (every match key takes one value or a list, any of which may match; the keys of one
rule must all match): see :data:`RULE_KEYS`. Globs are ``fnmatch`` patterns (``*``, ``?``,
``[abc]``), case-insensitive. Ports are numbers or ``"a-b"`` ranges, 0..65535.

**Presets** (:data:`PRESETS`) are exact lists a rule names with ``preset = "..."``; they are
off unless a rule names one. A rule with a preset and other keys matches what the preset
matches *and* its keys match.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import networkx as nx

from servicemap_sync.errors import ConfigError
from servicemap_sync.graph.items import box_key, box_names, connections, glob_match, is_local, prune
from servicemap_sync.model import NodeKey

__all__ = [
    "ArrowFacts", "PRESETS", "Preset", "RULE_KEYS", "Rule", "RuleOutcome", "apply_rules", "arrow_facts", "load_rules",
]

DIRECTIONS = ("inbound", "outbound")
PEER_KINDS = ("monitored", "agentless", "client-group")

RULE_KEYS: dict[str, str] = {
    "name": "shown by explain and in the change report (default: 'rule N')",
    "action": '"drop" or "keep" (required)',
    "preset": "one of the built-in presets (see PRESETS)",
    "server": "glob on the server's name: the rule applies only to matching servers",
    "process": "glob on the server's process of the arrow (display name, executable name or label)",
    "peer_process": "glob on the peer's process (display name, executable name or label)",
    "role": "the server process's Service Map role (webServer, appServer, databaseServer, ldapServer, "
            "smbServer, ...), case-insensitive",
    "port": "the server port of the connection, whichever side it is on",
    "local_port": "the server port, when it is on this server (inbound connections)",
    "remote_port": "the server port, when it is on the peer (outbound connections)",
    "peer": "glob on the peer box's names (FQDN, computer name, display name, DNS names, IP, client-group name)",
    "cidr": "the peer's address (its IPv4 addresses, or the address called), e.g. 10.0.0.0/8",
    "direction": '"inbound" (the peer calls this server) or "outbound" (this server calls the peer)',
    "failed_only": "true: only connections that never succeeded; false: only those that did",
    "peer_kind": '"monitored" (a machine with the agent), "agentless" (a machine Service Map only discovered) '
                 'or "client-group"',
    "to_domain_controller": "true: the server side of the connection is a domain controller (a machine seen "
                            "serving Kerberos 88 or LDAP 389 in this map, or serving from lsass.exe or the "
                            "Windows DNS Server dns.exe, or with a process of role ldapServer); false: it is not",
}
"""Every key a ``[[rules]]`` table may hold, with what it matches (the README renders this)."""

_MATCH_KEYS = tuple(k for k in RULE_KEYS if k not in ("name", "action", "preset", "server"))
_CONNECTION_ONLY = frozenset(
    {"direction", "peer", "peer_process", "cidr", "peer_kind", "failed_only", "remote_port", "to_domain_controller"})
_DC_PORTS = frozenset({88, 389})
_DC_EXECUTABLES = frozenset({"lsass.exe", "dns.exe"})


@dataclass(frozen=True)
class Preset:
    """A built-in rule body: it matches when any one of ``matches`` (each a table of rule keys) matches."""

    name: str
    description: str
    matches: tuple[Mapping[str, object], ...]


_MONITORING_PROCESSES = (
    "HealthService.exe", "MonitoringHost.exe", "omiserver", "omiengine", "omiagent",
    "MicrosoftDependencyAgent.exe", "microsoft-dependency-agent", "AzureMonitorAgent.exe", "mdsd", "amacoreagent",
    "node_exporter", "windows_exporter", "windows_exporter.exe", "prometheus", "telegraf", "telegraf.exe",
    "zabbix_agentd", "zabbix_agentd.exe", "zabbix_agent2", "nrpe", "nscp.exe", "datadog-agent", "agent.exe",
    "splunkd", "splunkd.exe",
)
_MONITORING_PORTS = (1270, 5666, 5723, 5724, 9100, 9182, 10050, 10051)
_INFRASTRUCTURE_PORTS = (53, 88, 135, 389, 445, 464, 636, 3268, 3269)

PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "monitoring-agents",
            "Monitoring agents and the servers that poll them: the process on either end is one of these "
            "executables or display names, or the server port is one of these ports (SCOM agent 5723/5724, "
            "SCOM UNIX/Linux agent 1270, Prometheus node_exporter 9100 and windows_exporter 9182, "
            "Nagios NRPE 5666, Zabbix 10050/10051).",
            (
                {"process": list(_MONITORING_PROCESSES)},
                {"peer_process": list(_MONITORING_PROCESSES)},
                {"port": list(_MONITORING_PORTS)},
            ),
        ),
        Preset(
            "infrastructure",
            "DNS, Kerberos, RPC endpoint mapper, LDAP, SMB, kpasswd, LDAPS and Global Catalog to or from a "
            "domain controller: the server port is one of these and its machine is a domain controller "
            "(see to_domain_controller: seen serving Kerberos 88 or LDAP 389, or serving from lsass.exe or "
            "dns.exe, or a process of role ldapServer). SMB to a file server is not matched.",
            ({"port": list(_INFRASTRUCTURE_PORTS), "to_domain_controller": True},),
        ),
        Preset(
            "ephemeral-ports",
            "Connections whose server port is in the IANA dynamic range 49152-65535 (the Windows default "
            "for dynamic RPC endpoints and other short-lived listeners).",
            ({"port": ["49152-65535"]},),
        ),
        Preset(
            "ephemeral-ports-linux",
            "Connections whose server port is in the Linux default ephemeral range 32768-60999.",
            ({"port": ["32768-60999"]},),
        ),
        Preset(
            "remote-management",
            "Administrators' remote sessions: SSH 22, RDP 3389, WinRM 5985 (HTTP) and 5986 (HTTPS).",
            ({"port": [22, 3389, 5985, 5986]},),
        ),
        Preset(
            "failed-connections",
            "Connections that never succeeded in the time window (failed_only = true).",
            ({"failed_only": True},),
        ),
    )
}
"""The built-in presets; each one's ``matches`` is the exact list it matches."""


@dataclass(frozen=True)
class _Criteria:
    """The compiled match keys of a rule or preset entry (None: the key is not used)."""

    process: tuple[str, ...] | None = None
    peer_process: tuple[str, ...] | None = None
    role: tuple[str, ...] | None = None
    port: tuple[tuple[int, int], ...] | None = None
    local_port: tuple[tuple[int, int], ...] | None = None
    remote_port: tuple[tuple[int, int], ...] | None = None
    peer: tuple[str, ...] | None = None
    cidr: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None = None
    direction: tuple[str, ...] | None = None
    failed_only: bool | None = None
    peer_kind: tuple[str, ...] | None = None
    to_domain_controller: bool | None = None

    def used(self) -> frozenset[str]:
        return frozenset(k for k in _MATCH_KEYS if getattr(self, k) is not None)

    def matches_arrow(self, facts: ArrowFacts) -> bool:
        if self.direction is not None and facts.direction not in self.direction:
            return False
        if self.failed_only is not None and facts.failed_only != self.failed_only:
            return False
        if self.to_domain_controller is not None and facts.to_domain_controller != self.to_domain_controller:
            return False
        if self.peer_kind is not None and facts.peer_kind not in self.peer_kind:
            return False
        if self.port is not None and not _in_ranges(facts.port, self.port):
            return False
        if self.local_port is not None and (facts.direction != "inbound" or not _in_ranges(facts.port, self.local_port)):
            return False
        if self.remote_port is not None and (
                facts.direction != "outbound" or not _in_ranges(facts.port, self.remote_port)):
            return False
        if self.role is not None and (facts.role or "").casefold() not in self.role:
            return False
        if self.process is not None and not glob_match(self.process, facts.process_names):
            return False
        if self.peer_process is not None and not glob_match(self.peer_process, facts.peer_process_names):
            return False
        if self.peer is not None and not glob_match(self.peer, facts.peer_names):
            return False
        if self.cidr is not None and not any(_in_network(ip, self.cidr) for ip in facts.peer_ips):
            return False
        return True

    def matches_box(self, names: tuple[str, ...], role: str | None, ports: tuple[int, ...]) -> bool:
        """A listening-only process of the server, matched as a box (never by connection-only keys)."""
        if self.used() & _CONNECTION_ONLY:
            return False
        if self.role is not None and (role or "").casefold() not in self.role:
            return False
        if self.process is not None and not glob_match(self.process, names):
            return False
        for ranges in (self.port, self.local_port):
            if ranges is not None and not any(_in_ranges(p, ranges) for p in ports):
                return False
        return True


@dataclass(frozen=True)
class Rule:
    """One checked rule; ``index`` counts from 1 in the order given."""

    index: int
    name: str
    action: str
    criteria: _Criteria
    preset: Preset | None = None
    presets: tuple[_Criteria, ...] = ()
    server: tuple[str, ...] | None = None

    @property
    def title(self) -> str:
        """``rule 3 "exporters"``: how messages and explanations name the rule."""
        return f'rule {self.index} "{self.name}"'

    def applies_to(self, server_names: tuple[str, ...]) -> bool:
        return self.server is None or glob_match(self.server, server_names)

    def matches_arrow(self, facts: ArrowFacts) -> bool:
        if self.presets and not any(c.matches_arrow(facts) for c in self.presets):
            return False
        return self.criteria.matches_arrow(facts)

    def matches_box(self, names: tuple[str, ...], role: str | None, ports: tuple[int, ...]) -> bool:
        if self.presets and not any(c.matches_box(names, role, ports) for c in self.presets):
            return False
        return self.criteria.matches_box(names, role, ports)


def load_rules(tables: Sequence[Mapping[str, object]] | None, *, source: str = "[[rules]]") -> tuple[Rule, ...]:
    """Check and compile rules from parsed TOML tables, in order.

    Args:
        tables: the ``[[rules]]`` array (a list of dicts); None or empty: no rules.
        source: where the rules came from, for messages (``"[[rules]]"``, ``"rules.toml"``).

    Raises:
        ConfigError: naming the rule (number from 1 and name) and the key: an unknown key, a
            missing or bad ``action``, a bad glob, CIDR, port, direction or peer kind, an unknown
            preset, a rule that can never match (contradicting keys, an empty list, or placed
            after a rule that matches everything).
    """
    if tables is None:
        return ()
    if isinstance(tables, Mapping) or not isinstance(tables, Sequence) or isinstance(tables, str):
        raise ConfigError(f"{source}: rules must be a list of tables ([[rules]]), not {type(tables).__name__}")
    rules: list[Rule] = []
    catch_all: Rule | None = None
    for index, table in enumerate(tables, start=1):
        if not isinstance(table, Mapping):
            raise ConfigError(f"{source}: rule {index}: must be a table, not {type(table).__name__}")
        raw_name = table.get("name", f"rule {index}")
        title = f'{source}: rule {index} "{raw_name}"'
        if not isinstance(raw_name, str) or not raw_name.strip():
            raise ConfigError(f"{source}: rule {index}: name: must be a non-empty string")
        for key in table:
            if key not in RULE_KEYS:
                raise ConfigError(f"{title}: {key}: unknown key; allowed: {', '.join(RULE_KEYS)}")
        action = table.get("action")
        if action not in ("drop", "keep"):
            raise ConfigError(f'{title}: action: must be "drop" or "keep", not {action!r}')
        preset = None
        if "preset" in table:
            if table["preset"] not in PRESETS:
                raise ConfigError(f"{title}: preset: unknown preset {table['preset']!r}; known: {', '.join(PRESETS)}")
            preset = PRESETS[table["preset"]]
        criteria = _compile(table, title)
        server = _globs(table["server"], title, "server") if "server" in table else None
        presets = tuple(_compile(entry, f"{title}: preset {preset.name}") for entry in preset.matches) if preset else ()
        rule = Rule(index, raw_name.strip(), action, criteria, preset, presets, server)
        if catch_all is not None:
            raise ConfigError(f"{title}: can never match: {catch_all.title} before it matches everything")
        _check_satisfiable(criteria, presets, title)
        if not criteria.used() and not presets and server is None:
            catch_all = rule
        rules.append(rule)
    return tuple(rules)


def _check_satisfiable(criteria: _Criteria, presets: tuple[_Criteria, ...], title: str) -> None:
    used = criteria.used()
    if "local_port" in used and "remote_port" in used:
        raise ConfigError(f"{title}: remote_port: can never match together with local_port (a connection's "
                          "server port is on one side only)")
    for key, side in (("local_port", "outbound"), ("remote_port", "inbound")):
        if key in used and criteria.direction == (side,):
            raise ConfigError(f'{title}: {key}: can never match with direction = "{side}"')
    if criteria.peer_kind == ("client-group",):
        if criteria.direction == ("outbound",):
            raise ConfigError(f'{title}: direction: can never match: client groups only call in (peer_kind = '
                              '"client-group")')
        for key in ("cidr", "peer_process", "remote_port"):
            if key in used:
                raise ConfigError(f'{title}: {key}: can never match with peer_kind = "client-group" (client groups '
                                  "have no address or process, and only call in)")
    if presets:
        for key in ("port", "failed_only", "to_domain_controller"):
            if key in used and all(key in c.used() for c in presets):
                ours = getattr(criteria, key)
                if all(not _overlap(key, ours, getattr(c, key)) for c in presets):
                    raise ConfigError(f"{title}: {key}: can never match: the preset never matches that {key}")


def _overlap(key: str, ours: object, theirs: object) -> bool:
    if key == "port":
        return any(a <= d and c <= b for a, b in ours for c, d in theirs)  # type: ignore[union-attr]
    return ours == theirs


def _compile(table: Mapping[str, object], title: str) -> _Criteria:
    values: dict[str, object] = {}
    for key in ("process", "peer_process", "peer"):
        if key in table:
            values[key] = _globs(table[key], title, key)
    if "role" in table:
        values["role"] = tuple(s.casefold() for s in _strings(table["role"], title, "role"))
    for key in ("port", "local_port", "remote_port"):
        if key in table:
            values[key] = _ports(table[key], title, key)
    if "cidr" in table:
        values["cidr"] = tuple(_network(v, title) for v in _strings(table["cidr"], title, "cidr"))
    if "direction" in table:
        values["direction"] = _choices(table["direction"], title, "direction", DIRECTIONS)
    if "peer_kind" in table:
        values["peer_kind"] = _choices(table["peer_kind"], title, "peer_kind", PEER_KINDS)
    for key in ("failed_only", "to_domain_controller"):
        if key in table:
            if not isinstance(table[key], bool):
                raise ConfigError(f"{title}: {key}: must be true or false, not {table[key]!r}")
            values[key] = table[key]
    return _Criteria(**values)  # type: ignore[arg-type]


def _listed(value: object, title: str, key: str) -> list[object]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise ConfigError(f"{title}: {key}: an empty list can never match")
    return items


def _strings(value: object, title: str, key: str) -> tuple[str, ...]:
    out = []
    for item in _listed(value, title, key):
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(f"{title}: {key}: {item!r} is not a non-empty string")
        out.append(item.strip())
    return tuple(out)


def _globs(value: object, title: str, key: str) -> tuple[str, ...]:
    globs = _strings(value, title, key)
    for glob in globs:
        depth = 0
        for char in glob:
            if char == "[":
                depth += 1
            elif char == "]" and depth:
                depth -= 1
        if depth or re.search(r"\[!?\]", glob):
            raise ConfigError(f"{title}: {key}: bad glob {glob!r}: a '[' has no matching ']' (write [[] for a "
                              "literal '[')")
    return tuple(g.casefold() for g in globs)


def _choices(value: object, title: str, key: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for item in _strings(value, title, key):
        low = item.lower().replace("_", "-")
        if low not in allowed:
            raise ConfigError(f"{title}: {key}: {item!r} is not one of {', '.join(allowed)}")
        out.append(low)
    return tuple(out)


_RANGE = re.compile(r"\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?")


def _ports(value: object, title: str, key: str) -> tuple[tuple[int, int], ...]:
    out = []
    for item in _listed(value, title, key):
        if isinstance(item, bool):
            raise ConfigError(f"{title}: {key}: {item!r} is not a port (0-65535) or range \"a-b\"")
        if isinstance(item, int):
            low = high = item
        elif isinstance(item, str) and (m := _RANGE.fullmatch(item)):
            low = int(m.group(1))
            high = int(m.group(2)) if m.group(2) else low
        else:
            raise ConfigError(f'{title}: {key}: {item!r} is not a port (0-65535) or range "a-b"')
        if not (0 <= low <= 65535 and 0 <= high <= 65535):
            raise ConfigError(f"{title}: {key}: {item!r} is outside 0-65535")
        if low > high:
            raise ConfigError(f"{title}: {key}: range {item!r} is empty (it starts after it ends)")
        out.append((low, high))
    return tuple(sorted(out))


def _network(value: str, title: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        hint = ""
        try:
            hint = f"; did you mean {ipaddress.ip_network(value, strict=False)}?"
        except ValueError:
            pass
        raise ConfigError(f"{title}: cidr: bad CIDR {value!r}: {exc}{hint}") from None


def _in_ranges(port: int | None, ranges: tuple[tuple[int, int], ...]) -> bool:
    return port is not None and any(low <= port <= high for low, high in ranges)


def _in_network(ip: str, networks: tuple) -> bool:
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return False
    return any(addr.version == net.version and addr in net for net in networks)


@dataclass(frozen=True)
class ArrowFacts:
    """What rules can match about one connection of the server's graph."""

    direction: str
    port: int | None
    failed_only: bool
    role: str | None
    process_names: tuple[str, ...]
    peer_process_names: tuple[str, ...]
    peer_names: tuple[str, ...]
    peer_ips: tuple[str, ...]
    peer_kind: str
    to_domain_controller: bool


def domain_controllers(graph: nx.MultiDiGraph) -> frozenset[NodeKey]:
    """Machines of ``graph`` taken for domain controllers: seen serving Kerberos (88) or LDAP (389)
    (the server side of such a connection, or the server itself listening on one), or running a
    process whose executable is ``lsass.exe`` or ``dns.exe`` (the Windows DNS Server, which AD
    installs on its domain controllers) on the server side of a connection, or with role ``ldapServer``."""
    found = set()
    for u, v, data in graph.edges(data=True):
        if data.get("kind") == "connection":
            obj = graph.nodes[v].get("obj")
            exe = (getattr(obj, "executable_name", None) or "").casefold()
            role = (getattr(obj, "role", None) or "").casefold()
            if data.get("port") in _DC_PORTS or exe in _DC_EXECUTABLES or role == "ldapserver":
                found.add(_server_of(graph, v) if is_local(graph, v) else box_key(graph, v))
        elif data.get("kind") == "acceptor" and getattr(graph.nodes[u].get("obj"), "port_number", None) in _DC_PORTS:
            found.add(_server_of(graph, v))
    return frozenset(found)


def _server_of(graph: nx.MultiDiGraph, key: NodeKey) -> NodeKey:
    """The server (on a group's graph: the member server) a local node ``key`` is on."""
    if graph.graph.get("members") is None:
        return graph.graph["focus"]
    return graph.nodes[key].get("machine") or key if key.kind == "process" else key


def arrow_facts(graph: nx.MultiDiGraph, u: NodeKey, v: NodeKey, data: Mapping[str, object],
                dcs: frozenset[NodeKey] = frozenset()) -> ArrowFacts:
    """The facts of connection ``u → v`` as seen from the server (``dcs``: :func:`domain_controllers`)."""
    outbound = is_local(graph, u)
    local, peer = (u, v) if outbound else (v, u)
    peer_box = box_key(graph, peer)
    local_attrs = graph.nodes[local]
    peer_attrs = graph.nodes[peer_box] if peer_box in graph else {}
    if peer_box.kind == "clientGroup":
        kind = "client-group"
    elif peer_box.kind == "machine":
        kind = "monitored" if peer_attrs.get("monitored") else "agentless"
    else:  # a self-link: the peer is another process of the server, or a peer group
        kind = "monitored" if is_local(graph, peer_box) else "agentless"
    obj = peer_attrs.get("obj")
    ips = list(getattr(obj, "ipv4_addresses", ()) or ()) if peer_box.kind == "machine" else []
    if outbound and data.get("ip"):
        ips.append(str(data["ip"]))
    local_obj = local_attrs.get("obj")
    server_side = box_key(graph, v) if not is_local(graph, v) else _server_of(graph, v)
    return ArrowFacts(
        direction="outbound" if outbound else "inbound",
        port=data.get("port"),  # type: ignore[arg-type]
        failed_only=bool(data.get("failed_only")),
        role=getattr(local_obj, "role", None),
        process_names=box_names(graph, local) if local.kind == "process" else (),
        peer_process_names=box_names(graph, peer) if peer.kind == "process" else (),
        peer_names=box_names(graph, peer_box),
        peer_ips=tuple(ips),
        peer_kind=kind,
        to_domain_controller=server_side in dcs,
    )


@dataclass
class RuleOutcome:
    """What :func:`apply_rules` decided: per arrow and per box, the deciding rule (None: no rule matched)."""

    arrows: dict[tuple[NodeKey, NodeKey, str], Rule | None] = field(default_factory=dict)
    boxes: dict[NodeKey, Rule | None] = field(default_factory=dict)
    dropped_arrows: list[tuple[NodeKey, NodeKey, str]] = field(default_factory=list)
    dropped_boxes: list[NodeKey] = field(default_factory=list)


def apply_rules(graph: nx.MultiDiGraph, rules: Iterable[Rule]) -> RuleOutcome:
    """Apply ``rules`` to ``graph`` **in place**: drop the arrows (and boxes) they drop.

    Returns:
        The :class:`RuleOutcome`: the deciding rule of every arrow and of every listening-only
        process box of the server, and what was dropped.
    """
    focus = graph.graph["focus"]
    server_names = tuple(n for n in (str(graph.graph.get("server", "")).casefold(),) if n) + box_names(graph, focus)
    active = [r for r in rules if r.applies_to(server_names)]
    outcome = RuleOutcome()
    if not active:
        return outcome
    dcs = domain_controllers(graph)
    touched: set[NodeKey] = set()
    for u, v, k, data in list(connections(graph)):
        facts = arrow_facts(graph, u, v, data, dcs)
        rule = next((r for r in active if r.matches_arrow(facts)), None)
        outcome.arrows[(u, v, k)] = rule
        if rule is not None and rule.action == "drop":
            outcome.dropped_arrows.append((u, v, k))
    for u, v, k in outcome.dropped_arrows:
        graph.remove_edge(u, v, k)
        touched.update((u, v))
    # processes of the server: one whose arrows all went goes too; a listening-only one is matched as a box
    had_arrows = {n for n in touched if is_local(graph, n)}
    for key in sorted(n for n in graph if n.kind == "process" and is_local(graph, n)):
        conns = [d for _u, _v, d in graph.in_edges(key, data=True)] + [d for _u, _v, d in graph.out_edges(key, data=True)]
        if any(d.get("kind") == "connection" for d in conns):
            continue
        accepts = [u for u, _v, d in graph.in_edges(key, data=True) if d.get("kind") == "acceptor"]
        if key in had_arrows:
            outcome.dropped_boxes.append(key)
        elif accepts:
            ports = tuple(p for p in (getattr(graph.nodes[a].get("obj"), "port_number", None) for a in accepts)
                          if p is not None)
            rule = next((r for r in active if r.matches_box(box_names(graph, key),
                                                            getattr(graph.nodes[key].get("obj"), "role", None),
                                                            ports)), None)
            outcome.boxes[key] = rule
            if rule is not None and rule.action == "drop":
                outcome.dropped_boxes.append(key)
    for key in outcome.dropped_boxes:
        ports = [u for u, _v, d in graph.in_edges(key, data=True) if d.get("kind") == "acceptor"]
        graph.remove_edges_from([(u, key) for u in ports])
        touched.update(ports)
        touched.add(key)
    prune(graph, touched)
    return outcome

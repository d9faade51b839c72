"""Noise rules on the sample estate: loading, matching, presets, and the explanation."""

from __future__ import annotations

import pytest

from estate import graph, servers
from servicemap_sync.errors import ConfigError
from servicemap_sync.graph.guards import Guards
from servicemap_sync.graph.items import box_label, connections, drawn_boxes, is_local
from servicemap_sync.graph.rules import PRESETS, RULE_KEYS, arrow_facts, domain_controllers, load_rules
from servicemap_sync.graph.shape import shape

BIG = Guards(max_per_layer=1000, max_boxes=10000)  # rules only


def labels(g) -> set[str]:
    return {box_label(g, b) for b in drawn_boxes(g)}


def test_a_rule_drops_what_it_names_and_the_explanation_says_so() -> None:
    rules = load_rules([{"name": "exporters", "action": "drop", "port": [9182, "9100-9199"]}])
    before = graph("app01.contoso.com")
    shaped = shape(before, rules=rules, guards=BIG)
    assert "mon01.contoso.com" in labels(before)
    assert "mon01.contoso.com" not in labels(shaped.graph)
    assert all(d["port"] not in range(9100, 9200) for _u, _v, _k, d in connections(shaped.graph))
    dropped = [d for d in shaped.explanation if d.decision == "dropped"]
    assert {(d.item, d.label) for d in dropped} == {
        ("arrow", "Prometheus on mon01.contoso.com → windows_exporter :9182"),
        ("box", "mon01.contoso.com"),
        ("box", "windows_exporter"),
    }
    assert {(d.by, d.name) for d in dropped} == {("rule", 'rule 1 "exporters"')}
    kept = [d for d in shaped.explanation if d.decision == "kept"]
    assert kept and all(d.by == "default" for d in kept)
    # every box and arrow of the original graph is explained exactly once
    keys = [(d.item, d.key) for d in shaped.explanation]
    assert len(keys) == len(set(keys))
    assert {d.key for d in shaped.explanation if d.item == "box"} >= {str(b) for b in drawn_boxes(before)}


def test_first_match_wins_keep_before_drop() -> None:
    rules = load_rules([
        {"name": "keep file01 SMB", "action": "keep", "peer": "file01*", "port": 445},
        {"name": "no SMB", "action": "drop", "port": 445},
    ])
    shaped = shape(graph("app01.contoso.com"), rules=rules, guards=BIG)
    smb = [d for d in shaped.explanation if d.item == "arrow" and d.label.endswith(":445")]
    assert {(d.label.split(" on ")[-1], d.decision, d.name) for d in smb} == {
        ("file01.contoso.com :445", "kept", 'rule 1 "keep file01 SMB"'),
        ("dc01.contoso.com :445", "dropped", 'rule 2 "no SMB"'),
    }


@pytest.mark.parametrize("table, expected", [
    ({"direction": "inbound"}, "inbound"),
    ({"direction": "outbound"}, "outbound"),
    ({"peer_kind": "agentless"}, "agentless"),
    ({"peer_kind": "client-group"}, "client-group"),
    ({"failed_only": True}, "failed"),
    ({"cidr": "10.0.0.0/24"}, "cidr"),
    ({"role": "appServer"}, "role"),
    ({"process": "w3wp*"}, "process"),
    ({"local_port": 443}, "local443"),
    ({"remote_port": "8000-8999"}, "remote8k"),
])
def test_each_key_matches_its_facts(table: dict, expected: str) -> None:
    import ipaddress

    checks = {
        "inbound": lambda f: f.direction == "inbound",
        "outbound": lambda f: f.direction == "outbound",
        "agentless": lambda f: f.peer_kind == "agentless",
        "client-group": lambda f: f.peer_kind == "client-group",
        "failed": lambda f: f.failed_only,
        "cidr": lambda f: any(ipaddress.ip_address(i) in ipaddress.ip_network("10.0.0.0/24") for i in f.peer_ips),
        "role": lambda f: (f.role or "").lower() == "appserver",
        "process": lambda f: any(n.startswith("w3wp") for n in f.process_names),
        "local443": lambda f: f.direction == "inbound" and f.port == 443,
        "remote8k": lambda f: f.direction == "outbound" and 8000 <= (f.port or 0) <= 8999,
    }
    [rule] = load_rules([{"name": "t", "action": "drop", **table}])
    hits = 0
    for server in servers():
        g = graph(server)
        dcs = domain_controllers(g)
        for u, v, _k, data in connections(g):
            facts = arrow_facts(g, u, v, data, dcs)
            assert rule.matches_arrow(facts) == checks[expected](facts), (server, facts)
            hits += rule.matches_arrow(facts)
    assert hits, f"{table} matches nothing in the sample estate"


# --- presets: each matches exactly its documented list ------------------------------------------

def _matched(preset: str) -> set[tuple[str, str]]:
    [rule] = load_rules([{"name": preset, "action": "drop", "preset": preset}])
    found = set()
    for server in servers():
        g = graph(server)
        dcs = domain_controllers(g)
        for u, v, _k, data in connections(g):
            if rule.matches_arrow(arrow_facts(g, u, v, data, dcs)):
                found.add((server, f"{box_label(g, u)} -> {box_label(g, v)} :{data['port']}"))
    return found


def _expected(pred) -> set[tuple[str, str]]:
    found = set()
    for server in servers():
        g = graph(server)
        for u, v, _k, data in connections(g):
            if pred(g, u, v, data):
                found.add((server, f"{box_label(g, u)} -> {box_label(g, v)} :{data['port']}"))
    return found


def _exe(g, key) -> str:
    obj = g.nodes[key].get("obj")
    return ((getattr(obj, "executable_name", None) or "").lower(), (getattr(obj, "display_name", None) or "").lower())


MONITORING = {p.lower() for p in PRESETS["monitoring-agents"].matches[0]["process"]}
MONITORING_PORTS = set(PRESETS["monitoring-agents"].matches[2]["port"])


def test_monitoring_agents_preset_is_its_documented_list() -> None:
    assert PRESETS["monitoring-agents"].matches[0]["process"] == PRESETS["monitoring-agents"].matches[1]["peer_process"]
    expected = _expected(lambda g, u, v, d: d["port"] in MONITORING_PORTS
                         or any(set(_exe(g, e)) & MONITORING for e in (u, v)))
    assert _matched("monitoring-agents") == expected
    # on the sample estate: every Prometheus scrape, and nothing else
    assert {arrow.split(" :")[-1] for _s, arrow in expected} == {"9100", "9182"}
    assert len(expected) == 18


def test_infrastructure_preset_matches_directory_traffic_to_domain_controllers_only() -> None:
    ports = set(PRESETS["infrastructure"].matches[0]["port"])
    assert ports == {53, 88, 135, 389, 445, 464, 636, 3268, 3269}
    dc = "dc01.contoso.com"
    expected = _expected(lambda g, u, v, d: d["port"] in ports and (
        (not is_local(g, v) and box_label(g, g.nodes[v]["machine"]) == dc) or (is_local(g, v) and g.graph["server"] == dc)))
    matched = _matched("infrastructure")
    assert matched == expected
    assert not any("file01" in arrow.split(" -> ")[1] for _s, arrow in matched)  # SMB to the file server stays
    assert {arrow.split(" :")[-1] for _s, arrow in matched} == {"53", "88", "389", "445"}


@pytest.mark.parametrize("preset, low, high", [("ephemeral-ports", 49152, 65535), ("ephemeral-ports-linux", 32768, 60999)])
def test_ephemeral_presets_are_their_ranges(preset: str, low: int, high: int) -> None:
    assert PRESETS[preset].matches == ({"port": [f"{low}-{high}"]},)
    assert _matched(preset) == _expected(lambda g, u, v, d: d["port"] is not None and low <= d["port"] <= high)


def test_remote_management_and_failed_presets() -> None:
    assert _matched("remote-management") == _expected(lambda g, u, v, d: d["port"] in {22, 3389, 5985, 5986})
    assert len(_matched("remote-management")) == 2  # build01 -> app01 WinRM, both sides
    assert _matched("failed-connections") == _expected(lambda g, u, v, d: d["failed_only"])


def test_presets_are_off_unless_named() -> None:
    g = graph("mon01.contoso.com")
    assert shape(g, guards=BIG).counts().get("arrow dropped", 0) == 0


def test_a_listening_only_process_is_matched_as_a_box() -> None:
    g = graph("app01.contoso.com")
    listening = {box_label(g, b) for b in drawn_boxes(g) if is_local(g, b)}
    assert "Apache Tomcat" in listening
    rules = load_rules([{"name": "no tomcat", "action": "drop", "process": "java.exe", "direction": "inbound"},
                        {"name": "tomcat box", "action": "drop", "process": "Apache*"}])
    shaped = shape(g, rules=rules, guards=BIG)
    [tomcat] = [d for d in shaped.explanation if d.label == "Apache Tomcat"]
    assert (tomcat.decision, tomcat.name) == ("dropped", 'rule 2 "tomcat box"')


# --- loading errors name the rule and the key ----------------------------------------------------

@pytest.mark.parametrize("tables, words", [
    ([{"name": "x", "action": "hide"}], ['rule 1 "x"', "action"]),
    ([{"name": "x", "action": "drop", "prot": 80}], ['rule 1 "x"', "prot", "unknown key"]),
    ([{"action": "drop", "port": "80-70"}], ['rule 1 "rule 1"', "port", "empty"]),
    ([{"action": "drop", "port": 70000}], ["port", "outside 0-65535"]),
    ([{"action": "drop", "port": "http"}], ["port", "'http'"]),
    ([{"action": "drop", "cidr": "10.0.0.1/8"}], ["cidr", "10.0.0.0/8"]),
    ([{"action": "drop", "cidr": "10.0.0.0/33"}], ["cidr", "bad CIDR"]),
    ([{"action": "drop", "peer": "web[01"}], ["peer", "bad glob"]),
    ([{"action": "drop", "process": []}], ["process", "empty list"]),
    ([{"action": "drop", "direction": "sideways"}], ["direction", "sideways"]),
    ([{"action": "drop", "peer_kind": "robot"}], ["peer_kind", "robot"]),
    ([{"action": "drop", "failed_only": "yes"}], ["failed_only", "true or false"]),
    ([{"action": "drop", "preset": "noise"}], ["preset", "noise", "monitoring-agents"]),
    ([{"action": "drop", "local_port": 80, "remote_port": 80}], ["can never match", "remote_port"]),
    ([{"action": "drop", "direction": "outbound", "local_port": 80}], ["can never match", "local_port"]),
    ([{"action": "drop", "peer_kind": "client-group", "direction": "outbound"}], ["can never match", "client"]),
    ([{"action": "drop", "peer_kind": "client-group", "cidr": "10.0.0.0/8"}], ["can never match", "cidr"]),
    ([{"action": "drop", "preset": "ephemeral-ports", "port": 80}], ["can never match", "port"]),
    ([{"name": "all", "action": "keep"}, {"name": "late", "action": "drop", "port": 80}],
     ['rule 2 "late"', "can never match", 'rule 1 "all"']),
    ([{"action": "drop", "name": ""}], ["rule 1", "name"]),
    (["port = 80"], ["rule 1", "table"]),
])
def test_bad_rules_name_the_rule_and_the_key(tables: list, words: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_rules(tables, source="rules.toml")
    message = str(caught.value)
    assert message.startswith("rules.toml: rule")
    for word in words:
        assert word in message, message


def test_every_documented_key_loads() -> None:
    table = {"name": "all keys", "action": "drop", "preset": "monitoring-agents", "server": "*", "process": "x*",
             "peer_process": "y", "role": "webServer", "port": [1, "2-3"], "remote_port": 5, "peer": "p*",
             "cidr": ["10.0.0.0/8", "fd00::/8"], "direction": ["inbound", "outbound"], "failed_only": False, "peer_kind": "monitored",
             "to_domain_controller": False}
    assert set(table) | {"local_port"} == set(RULE_KEYS)  # local_port with remote_port could never match
    [rule] = load_rules([table])
    assert rule.title == 'rule 1 "all keys"'


def test_server_key_limits_a_rule_to_matching_servers() -> None:
    rules = load_rules([{"name": "web only", "action": "drop", "server": "web*", "port": 53}])
    assert shape(graph("web01.contoso.com"), rules=rules, guards=BIG).counts()["arrow dropped"] == 1
    assert shape(graph("app01.contoso.com"), rules=rules, guards=BIG).counts().get("arrow dropped", 0) == 0

"""Hypothesis: any rule set and curation either loads or fails with a clear ConfigError, and
whatever loads renders management packs that pass the validator."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from estate import graph, servers
from servicemap_sync.errors import ConfigError
from servicemap_sync.graph.curation import CURATION_KEYS, load_curation
from servicemap_sync.graph.guards import Guards
from servicemap_sync.graph.rules import PRESETS, RULE_KEYS, load_rules
from servicemap_sync.graph.shape import shape
from servicemap_sync.mp import render_management_pack
from servicemap_sync.mp.validate import validate_bytes

GRAPHS = {s: graph(s) for s in servers()}

globs = st.sampled_from(["*", "web*", "dc0?", "*contoso*", "System", "IIS*", "[ab]*", "x[", "", "???", "sql01*",
                         "Local Security*", "*exporter*", "10.0.*"])
ports = st.one_of(st.integers(-5, 70000), st.sampled_from(["80", "9100-9199", "1-2", "9-1", "x", "443 - 445"]))
values = {
    "name": st.one_of(st.text(max_size=12), st.integers()),
    "action": st.sampled_from(["drop", "keep", "hide", None]),
    "preset": st.sampled_from([*PRESETS, "nope"]),
    "server": globs,
    "process": st.one_of(globs, st.lists(globs, max_size=3)),
    "peer_process": globs,
    "role": st.sampled_from(["webServer", "ldapServer", "appServer", ""]),
    "port": st.one_of(ports, st.lists(ports, max_size=3)),
    "local_port": ports,
    "remote_port": ports,
    "peer": st.one_of(globs, st.lists(globs, max_size=3)),
    "cidr": st.sampled_from(["10.0.0.0/8", "10.0.0.1/8", "10.0.0.0/24", "fd00::/8", "nonsense", "0.0.0.0/0"]),
    "direction": st.sampled_from(["inbound", "outbound", "both"]),
    "failed_only": st.sampled_from([True, False, "yes"]),
    "peer_kind": st.sampled_from(["monitored", "agentless", "client-group", "client_group", "robot"]),
    "to_domain_controller": st.booleans(),
    "bogus": st.just(1),
}
rule = st.fixed_dictionaries({}, optional={k: values[k] for k in [*RULE_KEYS, "bogus"]})
rule_sets = st.lists(rule, max_size=5)

entry_values = {
    "server": globs, "process": globs, "peer": globs, "port": ports, "direction": st.sampled_from(["inbound", "outbound", "x"]),
    "monitored": st.booleans(), "box": globs, "label": st.text(max_size=10), "name": st.text(max_size=10),
    "peers": st.lists(globs, max_size=3), "bogus": st.just(1),
}
curations = st.fixed_dictionaries({}, optional={
    kind: st.lists(st.fixed_dictionaries({}, optional={k: entry_values[k] for k in [*keys, "bogus"]}), max_size=3)
    for kind, keys in CURATION_KEYS.items()
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_sets, curations, st.sampled_from(sorted(GRAPHS)), st.integers(1, 9), st.integers(2, 30))
def test_any_rules_and_curation_load_or_fail_clearly_and_render_valid_packs(tables, doc, server, per_layer, boxes):
    try:
        rules = load_rules(tables, source="rules.toml")
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("rules.toml: rule "), message
        assert "Traceback" not in message and len(message) < 400
        return
    try:
        curation = load_curation(doc, source="curation.toml")
    except ConfigError as exc:
        assert str(exc).startswith("curation.toml"), str(exc)
        return
    shaped = shape(GRAPHS[server], rules=rules, curation=curation, guards=Guards(per_layer, boxes))
    pack = render_management_pack(shaped.graph, mp_id_prefix="ServiceMapSync", version="1.0.0.1")
    assert validate_bytes(pack.xml, filename=pack.filename) == []
    keys = [(d.item, d.key) for d in shaped.explanation]
    assert len(keys) == len(set(keys))
    again = shape(GRAPHS[server], rules=rules, curation=curation, guards=Guards(per_layer, boxes))
    assert render_management_pack(again.graph, mp_id_prefix="ServiceMapSync", version="1.0.0.1").xml == pack.xml


# Mostly well-formed input, so that most examples load and reach the renderer.
good_globs = st.sampled_from(["*", "web*", "dc0?", "*contoso*", "System", "IIS*", "[ab]*", "sql01*", "*exporter*"])
good_ports = st.one_of(st.integers(0, 65535), st.sampled_from(["80", "9100-9199", "1-1024", "49152-65535"]))
good_values = {
    "action": st.sampled_from(["drop", "keep"]),
    "preset": st.sampled_from(sorted(PRESETS)),
    "process": good_globs, "peer": good_globs, "peer_process": good_globs,
    "port": st.lists(good_ports, min_size=1, max_size=3),
    "cidr": st.sampled_from(["10.0.0.0/8", "10.0.0.0/24", "203.0.113.0/24"]),
    "direction": st.sampled_from(["inbound", "outbound"]),
    "failed_only": st.booleans(),
    "peer_kind": st.sampled_from(["monitored", "agentless"]),
}
good_rule = st.fixed_dictionaries({"action": good_values["action"]},
                                  optional={k: v for k, v in good_values.items() if k != "action"})
good_curation = st.fixed_dictionaries({}, optional={
    "ban": st.lists(st.fixed_dictionaries({"peer": good_globs}), max_size=2),
    "group": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["Core", "Edge", "Domain controllers"]),
                                             "peers": st.lists(good_globs, min_size=1, max_size=2)}), max_size=2),
    "pin": st.lists(st.fixed_dictionaries({"peer": st.sampled_from(["backup01", "dc01*", "gw.example"])},
                                          optional={"process": good_globs, "port": st.integers(1, 65535),
                                                    "direction": st.sampled_from(["inbound", "outbound"]),
                                                    "monitored": st.booleans()}), max_size=2),
    "rename": st.lists(st.fixed_dictionaries({"box": good_globs, "label": st.sampled_from(["Front", "Back end", "Ω"])}),
                       max_size=2),
})


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(good_rule, max_size=4), good_curation, st.sampled_from(sorted(GRAPHS)), st.integers(1, 9),
       st.integers(2, 30))
def test_well_formed_rules_and_curation_render_valid_packs(tables, doc, server, per_layer, boxes):
    try:
        rules = load_rules(tables)
    except ConfigError as exc:  # a contradiction (e.g. a preset and a port it never matches)
        assert "can never match" in str(exc), str(exc)
        return
    curation = load_curation(doc)
    shaped = shape(GRAPHS[server], rules=rules, curation=curation, guards=Guards(per_layer, boxes))
    pack = render_management_pack(shaped.graph, mp_id_prefix="ServiceMapSync", version="1.0.0.1")
    assert validate_bytes(pack.xml, filename=pack.filename) == []

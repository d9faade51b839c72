"""Matching Servers Group names to Service Map machines."""

from __future__ import annotations

from servicemap_sync.model import MONITORED, Machine, machine_key
from servicemap_sync.sources.matching import match_servers


def machine(name: str, fqdn: str | None, computer: str | None, display: str) -> Machine:
    return Machine(machine_key(name), f"/x/machines/{name}", name, display, MONITORED,
                   computer_name=computer, fqdn=fqdn)


WEB = machine("m-1", "web01.contoso.com", "WEB01", "web01")
WEB_DEV = machine("m-2", "web01.dev.contoso.com", "WEB01", "web01-dev")
SQL = machine("m-3", "sql01.contoso.com", "SQL01", "Primary SQL")


def test_fqdn_computer_and_display_name_case_insensitive() -> None:
    matched, failures = match_servers(["WEB01.Contoso.COM", "primary sql", "sql01"], [WEB, WEB_DEV, SQL])
    assert [(m.server, m.machine.name) for m in matched] == [
        ("WEB01.Contoso.COM", "m-1"), ("primary sql", "m-3"), ("sql01", "m-3")]
    assert failures == []


def test_ambiguous_name_lists_candidates_and_others_continue() -> None:
    matched, failures = match_servers(["web01", "sql01.contoso.com"], [WEB, WEB_DEV, SQL])
    assert [m.server for m in matched] == ["sql01.contoso.com"]
    assert len(failures) == 1 and failures[0].server == "web01"
    assert failures[0].candidates == ("m-1 (web01.contoso.com)", "m-2 (web01.dev.contoso.com)")


def test_unknown_name_suggests_close_names() -> None:
    _, failures = match_servers(["sql02.contoso.com"], [WEB, SQL])
    assert "sql01.contoso.com" in failures[0].candidates
    assert "no Service Map machine" in failures[0].reason

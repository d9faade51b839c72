"""The index page: every server's page, with its counts and what changed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from servicemap_sync.mp.diagram import Diagram
from servicemap_sync.review.change import Previous, diff
from servicemap_sync.review.html import _e, _head, page_filename

__all__ = ["IndexEntry", "index_entry", "render_index_page"]


@dataclass(frozen=True)
class IndexEntry:
    """One row of the index.

    ``href``: the server page, relative to the index (None: no page, e.g. the server failed);
    ``status``: what the run did (``published``, ``unchanged``, ``failed``, or any word);
    ``change``: ``+2 boxes, −1 arrow``, ``unchanged`` or ``first version``; ``reason``: why it failed.
    """

    server: str
    href: str | None
    status: str
    mp_id: str = ""
    version: str | None = None
    boxes: int | None = None
    arrows: int | None = None
    failed_arrows: int | None = None
    change: str = ""
    reason: str | None = None


def index_entry(diagram: Diagram, *, status: str, previous: Previous | None = None, version: str | None = None,
                href: str | None = None) -> IndexEntry:
    """The row of a server whose page was written (``href`` defaults to :func:`page_filename`)."""
    return IndexEntry(
        server=diagram.server, href=href if href is not None else page_filename(diagram.mp_id), status=status,
        mp_id=diagram.mp_id, version=version, boxes=len(diagram.components), arrows=len(diagram.arrows),
        failed_arrows=sum(a.failed for a in diagram.arrows), change=diff(diagram, previous).summary(),
    )


def render_index_page(entries: Iterable[IndexEntry], *, title: str = "servicemap-sync: server maps") -> bytes:
    """The index page, one row per entry sorted by server name; UTF-8 HTML."""
    rows = sorted(entries, key=lambda e: (e.server.casefold(), e.server, e.mp_id))
    failed = sum(e.status == "failed" for e in rows)
    changed = sum(bool(e.change) and e.change not in ("unchanged",) for e in rows)
    body = []
    for entry in rows:
        name = _e(entry.server)
        link = f"<a href=\"{_e(_safe_href(entry.href))}\">{name}</a>" if entry.href else name
        change = entry.reason if entry.status == "failed" and entry.reason else entry.change
        status_class = "status-failed" if entry.status == "failed" else (
            "status-changed" if entry.change and entry.change != "unchanged" else "")
        body.append(
            f"<tr data-server=\"{name}\"><td>{link}</td><td><code>{_e(entry.mp_id)}</code></td>"
            f"<td>{_e(entry.version or '')}</td><td class=\"{status_class}\">{_e(entry.status)}</td>"
            f"{_num(entry.boxes)}{_num(entry.arrows)}{_num(entry.failed_arrows)}<td>{_e(change or '')}</td></tr>\n"
        )
    summary = f"{len(rows)} server{'' if len(rows) == 1 else 's'}, {changed} with changes, {failed} failed."
    return "".join((
        _head(title),
        f"<header><h1>{_e(title)}</h1>\n<p class=\"meta\">{_e(summary)} Open a server for its diagram.</p></header>\n",
        "<table class=\"index\"><thead><tr><th>server</th><th>management pack</th><th>version</th><th>status</th>"
        "<th>boxes</th><th>arrows</th><th>failed only</th><th>change since the previous version</th></tr></thead>"
        f"<tbody>\n{''.join(body)}</tbody></table>\n",
        "<footer>Drawn by servicemap-sync; every page works offline.</footer>\n</body>\n</html>\n",
    )).encode("utf-8")


def _safe_href(href: str) -> str:
    """A relative link to a file: percent-encoded, so no scheme (``javascript:``) survives."""
    return quote(href, safe="/._-~")


def _num(value: int | None) -> str:
    return f"<td class=\"num\">{'' if value is None else value}</td>"

"""Review pages: each server's diagram as a self-contained HTML page, and an index of them."""

from servicemap_sync.review.change import Change, Previous, diff
from servicemap_sync.review.html import page_filename, render_graph_page, render_server_page
from servicemap_sync.review.index import IndexEntry, index_entry, render_index_page

__all__ = ["Change", "IndexEntry", "Previous", "diff", "index_entry", "page_filename", "render_graph_page",
           "render_index_page", "render_server_page"]

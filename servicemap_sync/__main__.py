"""``python -m servicemap_sync`` runs the command line."""

from servicemap_sync.cli import main

main()

"""``python -m servicemap_sync`` runs the command line.

The guard matters: a worker process (see ``processing``) is started with ``spawn``, which
imports the parent's ``__main__`` again, and must not run the command a second time.
"""

from servicemap_sync.cli import main

if __name__ == "__main__":
    main()

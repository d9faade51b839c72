"""Log output for people (text) and for log collectors (one JSON object per line)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with any ``extra=`` fields kept."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(fmt: str, verbosity: int) -> None:
    """Send our logs to stderr; ``verbosity`` -1 quiet, 0 normal, 1+ debug.

    The Azure SDK logs HTTP details at INFO; they stay at WARNING unless -vv, because they are
    noisy and we log what matters ourselves.
    """
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("servicemap_sync").setLevel(level)
    azure_level = logging.DEBUG if verbosity >= 2 else logging.WARNING
    for name in ("azure", "msal", "urllib3"):
        logging.getLogger(name).setLevel(azure_level)
    # azure-identity warns of every failed token request; our own error names its real cause
    logging.getLogger("azure.identity").setLevel(logging.DEBUG if verbosity >= 2 else logging.ERROR)

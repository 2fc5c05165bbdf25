"""How Ferry's long-running processes log: one JSON object per line, at INFO.

``ferry serve`` and ``ferry dashboard`` run in pods whose logs a collector parses; a line is
``{"time", "level", "logger", "message"}`` plus ``error`` (the traceback) when there is one.
``FERRY_LOG_FORMAT=text`` gives the human format instead. What is logged is written to be safe
to keep: no token, password or Secret value is ever passed to a logger.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(*, verbose: bool = False, structured: bool = False) -> None:
    """Log at DEBUG when ``verbose``; ``structured``: JSON lines at INFO (unless
    ``FERRY_LOG_FORMAT=text``), else text at WARNING."""
    handler = logging.StreamHandler()
    if structured and os.environ.get("FERRY_LOG_FORMAT", "json") != "text":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT))
    level = logging.DEBUG if verbose else logging.INFO if structured else logging.WARNING
    logging.basicConfig(level=level, handlers=[handler], force=True)

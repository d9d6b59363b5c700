"""Log lines for both processes: one line per thing that happened, as text or (LOG_FORMAT=json) one JSON object
per line for log aggregators. Messages carry ids, reasons and counts only (the data rule)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import orjson

from schemas.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def configure_logging(settings: Settings) -> bool:
    """Root logging as LOG_FORMAT says (text unless "json"); True when JSON."""
    as_json = settings.log_as_json
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if as_json else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    return as_json

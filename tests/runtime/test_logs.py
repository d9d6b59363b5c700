"""LOG_FORMAT=json writes one JSON object per line; the default stays the readable text line."""

from __future__ import annotations

import logging

import orjson

from runtime.logs import JsonFormatter, configure_logging
from schemas.settings import Settings


def test_a_json_line_carries_time_level_logger_and_message() -> None:
    record = logging.LogRecord("workers.log_call", logging.WARNING, "x.py", 1, "dead-lettered event=%s", ("evt_1",),
                               None)
    line = orjson.loads(JsonFormatter().format(record))
    assert line["level"] == "warning" and line["logger"] == "workers.log_call"
    assert line["message"] == "dead-lettered event=evt_1" and line["ts"].endswith("+00:00")


def test_log_format_chooses_the_formatter(settings: Settings) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        assert configure_logging(settings.model_copy(update={"log_format": " JSON"}))
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
        assert not configure_logging(settings.model_copy(update={"log_format": "text"}))
        assert not isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])

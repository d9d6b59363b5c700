"""Server-rendered pages (jinja2, autoescaped)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from starlette.templating import Jinja2Templates

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _utc(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


templates.env.filters["utc"] = _utc

"""The Outreach client's tests share one thing: a connected demo rep and the process's services."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runtime.services import Services
from tests.support.service import Service


@pytest.fixture
async def services(svc: Service) -> AsyncIterator[Services]:
    await svc.connect()
    opened = Services.open(svc.settings)
    yield opened
    await opened.close()

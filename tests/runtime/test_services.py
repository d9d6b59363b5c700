"""runtime/services.py, the composition root: each long-lived object is built once per process and every part
that needs it is handed that one (not a copy built on the spot)."""

from __future__ import annotations

from typing import Any

from runtime.services import Services
from schemas.settings import Settings
from workers.settings import shutdown, startup


async def test_each_object_is_built_once_and_shared(settings: Settings) -> None:
    services = Services.open(settings)
    try:
        assert services.webhooks._store is services.subscriptions
        assert services.webhooks._client is services.outreach
        assert services.subscriptions._cipher is services.connections._cipher  # one cipher for every secret
        assert services.tokens._connections is services.connections
        assert services.parking._queue is services.queue and services.dead_letters._queue is services.queue
        assert services.outreach.session is services.http and services.outreach.tokens is services.tokens
    finally:
        await services.close()


async def test_a_worker_opens_one_services_for_all_its_jobs_and_closes_it(settings: Settings) -> None:
    ctx: dict[str, Any] = {"settings": settings}
    await startup(ctx)
    services = ctx["services"]
    assert isinstance(services, Services) and services.settings is settings
    await shutdown(ctx)
    assert services.http.closed

"""runtime/services.py, the composition root: each long-lived object is built once per process and every part
that needs it is handed that one (not a copy built on the spot)."""

from __future__ import annotations

from typing import Any

from runtime.services import Services
from schemas.settings import Settings
from workers.settings import shutdown, startup


async def test_each_object_is_built_once_and_shared(settings: Settings) -> None:
    services = Services.open(settings)
    stores, outreach, ops = services.stores, services.outreach, services.ops
    try:
        assert outreach.webhooks._store is stores.subscriptions and outreach.webhooks.holders is stores.holders
        assert outreach.webhooks._client is outreach.client
        assert stores.subscriptions._cipher is stores.connections._cipher  # one cipher for every secret
        assert outreach.tokens._connections is stores.connections
        assert stores.parking._queue is stores.queue and stores.dead_letters._queue is stores.queue
        assert stores.queue._jobs is stores.inbox._jobs  # one job writer
        assert outreach.client.session is services.http and outreach.client.tokens is outreach.tokens
        assert outreach.client.telemetry is ops.telemetry and stores.parking._history is ops.history
    finally:
        await services.close()


async def test_a_worker_opens_one_services_for_all_its_jobs_and_closes_it(settings: Settings) -> None:
    ctx: dict[str, Any] = {"settings": settings}
    await startup(ctx)
    services = ctx["services"]
    assert isinstance(services, Services) and services.settings is settings
    await shutdown(ctx)
    assert services.http.closed

"""A deadline on reading a request's body: a client that sends it slowly (a few bytes a minute) is answered 408
and its connection freed, instead of holding a worker slot as long as it likes. Headers are uvicorn's concern
(bounded in size); the number of requests in flight is bounded by uvicorn's `limit_concurrency` (503 beyond)."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ingress.errors import ApiError


class BodyTooSlow(Exception):
    pass


class BodyDeadline:
    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.seconds
        started = body_done = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:  # later reads wait for a disconnect: no deadline on those
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTooSlow from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, tracked_send)
        except BodyTooSlow:
            if started:
                raise
            # Outside the app's exception handlers (a middleware wraps them): the same answer, sent from here.
            refused = ApiError(408, "body_timeout", f"the body did not arrive within {self.seconds:g} s",
                               headers={"Connection": "close"})
            await refused.response()(scope, receive, send)

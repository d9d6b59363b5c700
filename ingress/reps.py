"""The Nooks app's view of reps: connection status, disconnect, and the User Mapping settings."""

from __future__ import annotations

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from ingress import outreach_webhooks
from ingress.errors import ApiError, fields, read_body
from ingress.guards import nooks_api
from ingress.responses import JSON
from runtime.services import Services
from schemas.connection import ConnectionStatus, ConnectionView, UserMappingIn


@nooks_api
async def connection(request: Request, team_id: str, rep_email: str) -> Response:
    services: Services = request.state.services
    if request.method == "DELETE":
        await outreach_webhooks.unsubscribe_rep(services, team_id, rep_email)
        await services.stores.connections.delete(team_id, rep_email)
        if not any(team == team_id for team, _ in await services.stores.connections.connected_reps()):
            # README "Data kept": the team's last rep is gone, and its Outreach users and org binding with it.
            await services.stores.users.forget_org(team_id)
        return JSON({"status": ConnectionStatus.NOT_CONNECTED.value})
    view = ConnectionView(
        status=await services.stores.connections.status(team_id, rep_email),
        outreach_user_id=await services.stores.users.mapped_user_id(team_id, rep_email),
        scopes=await services.stores.connections.scopes(team_id, rep_email),
        parked_events=await services.stores.parking.count(team_id, rep_email),
    )
    return JSON(view.model_dump(mode="json"))


@nooks_api
async def list_mappings(request: Request, team_id: str, _: str) -> Response:
    services: Services = request.state.services
    entries = await services.stores.users.mappings(team_id)
    users = await services.stores.users.users(team_id)
    return JSON({
        "mappings": [entry.model_dump(mode="json") for entry in entries],
        "outreach_users": [user.model_dump(mode="json") for user in sorted(users.values(), key=lambda u: u.id)],
    })


@nooks_api
async def put_mapping(request: Request, team_id: str, rep_email: str) -> Response:
    services: Services = request.state.services
    body = await read_body(request, 4096, what="mapping bodies")
    try:
        mapping = UserMappingIn.model_validate(orjson.loads(body))
    except orjson.JSONDecodeError:
        raise ApiError(400, "bad_json", "body is not valid JSON") from None
    except ValidationError as invalid:
        raise ApiError(422, "invalid_mapping", 'expected {"outreach_user_id": <positive integer>}',
                       fields=fields(invalid)) from None
    user = await services.stores.users.user(team_id, mapping.outreach_user_id)
    if user is None and await services.stores.users.user_count(team_id):
        raise ApiError(422, "unknown_outreach_user",
                       "no Outreach user with that id in this team (users sync when a rep connects)")
    await services.stores.users.map_rep(team_id, rep_email, mapping.outreach_user_id)
    released = 0
    if await services.stores.connections.status(team_id, rep_email) is ConnectionStatus.CONNECTED:
        released = await services.stores.parking.release(team_id, rep_email)
    return JSON({"rep_email": rep_email, "outreach_user_id": mapping.outreach_user_id,
                 "email": user.email if user else None, "name": user.name if user else None,
                 "released_events": released})

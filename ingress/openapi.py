"""The service's own OpenAPI document: every Nooks-facing and operator endpoint, served at `GET /openapi.json`
(no auth) and checked in as `docs/openapi.json` (tests/ingress/test_openapi.py keeps the two and the routes in
sync). Request and response bodies come from the pydantic shapes in `schemas/`, so they cannot drift apart."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from ingress.paths import EMAIL, TEAM_ID
from ingress.responses import JSON
from schemas.call_tasks import CallTaskPage
from schemas.connection import ConnectionView, OutreachUser, UserMappingEntry, UserMappingIn
from schemas.events import CallCompletedEvent
from schemas.ops import DeadLetter, Flag, TeamWebhooks
from schemas.outcome_rules import OutcomeRules
from schemas.pickers import DispositionList, SequencePage

Doc = dict[str, Any]

MODELS: tuple[type[BaseModel], ...] = (CallCompletedEvent, CallTaskPage, ConnectionView, DeadLetter, DispositionList,
                                       Flag, OutcomeRules, OutreachUser, SequencePage, TeamWebhooks,
                                       UserMappingEntry, UserMappingIn)
TEAM = {"name": "team_id", "in": "path", "required": True, "example": "team_acme",
        "schema": {"type": "string", "pattern": TEAM_ID.pattern}}
REP = {"name": "rep_email", "in": "path", "required": True, "description": "the rep's email (case-insensitive)",
       "example": "ana@acme.com", "schema": {"type": "string", "pattern": EMAIL.pattern}}
BEARER: list[dict[str, list[str]]] = [{"nooksApiToken": []}]
BASIC: list[dict[str, list[str]]] = [{"operators": []}]


def ref(name: str) -> Doc:
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(schema: Doc, description: str) -> Doc:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error(description: str) -> Doc:
    return json_body(ref("Error"), description)


def page(description: str) -> Doc:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def obj(**properties: Doc) -> Doc:
    return {"type": "object", "properties": properties, "required": sorted(properties)}


STRING, INTEGER = {"type": "string"}, {"type": "integer"}


def _nooks_events() -> Doc:
    return {"post": {
        "summary": "An event from Nooks, signed per Standard Webhooks",
        "parameters": [{"name": name, "in": "header", "required": True, "schema": STRING}
                       for name in ("webhook-id", "webhook-timestamp", "webhook-signature")],
        "requestBody": {"required": True, "content": {"application/json": {"schema": ref("CallCompletedEvent")}}},
        "responses": {
            "202": json_body(obj(status=STRING, event_id=STRING), "queued (or an ignored event type recorded)"),
            "200": json_body(obj(status=STRING, event_id=STRING), "a webhook-id seen before"),
            "400": error("not UTF-8 JSON, or a webhook-id outside 1-255 of letters, digits and _ . : -"),
            "401": error("bad or missing signature, or timestamp 5 minutes off"),
            "408": error("the body did not arrive in time"), "413": error("body over 256 KiB"),
            "422": error("JSON that breaks the schema, each field named (after_call's rules: under "
                         "data.after_call)"), "503": error("the queue is down"),
        }}}


def _outreach_webhooks() -> Doc:
    headers = [{"name": "Outreach-Webhook-Id", "in": "header", "required": True, "schema": STRING},
               {"name": "Outreach-Webhook-Signature", "in": "header", "required": True,
                "description": "hex HMAC-SHA256 of the raw body under the subscription's secret", "schema": STRING},
               {"name": "Outreach-Webhook-Event-Id", "in": "header", "required": False, "schema": STRING}]
    return {"post": {
        "summary": "A delivery from an Outreach webhook subscription the service created",
        "parameters": headers,
        "requestBody": {"required": True, "content": {"application/vnd.api+json": {"schema": {"type": "object"}}}},
        "responses": {
            "202": json_body(obj(status=STRING, event_id=STRING), "queued or ignored"),
            "200": json_body(obj(status=STRING, event_id=STRING), "a repeated event id or signed body"),
            "400": error("not JSON, or a stale meta.deliveredAt"),
            "401": error("unknown subscription or bad signature"),
            "408": error("the body did not arrive in time"), "413": error("body over 256 KiB"),
            "503": error("the queue is down"),
        }}}


def _nooks_api() -> dict[str, Doc]:
    guarded = {"401": error("missing or wrong bearer token"), "422": error("malformed team_id or rep_email")}
    live = {"429": error("rate budget spent"), "502": error("Outreach did not answer usefully"), **guarded}
    return {
        "/v1/teams/{team_id}/reps/{rep_email}/connect-link": {"post": {
            "summary": "A single-use link (10 minutes) that starts the rep's Outreach consent",
            "security": BEARER, "parameters": [TEAM, REP],
            "responses": {"200": json_body(obj(url=STRING, expires_at=STRING), "the link"), **guarded}}},
        "/v1/teams/{team_id}/reps/{rep_email}/connection": {
            "get": {"summary": "The rep's connection", "security": BEARER, "parameters": [TEAM, REP],
                    "responses": {"200": json_body(ref("ConnectionView"), "status"), **guarded}},
            "delete": {"summary": "Disconnect the rep (tokens and subscriptions gone)", "security": BEARER,
                       "parameters": [TEAM, REP],
                       "responses": {"200": json_body(obj(status=STRING), "not_connected"), **guarded}}},
        "/v1/teams/{team_id}/user-mappings": {"get": {
            "summary": "The User Mapping and the team's Outreach users", "security": BEARER, "parameters": [TEAM],
            "responses": {"200": json_body(obj(mappings={"type": "array", "items": ref("UserMappingEntry")},
                                               outreach_users={"type": "array", "items": ref("OutreachUser")}),
                                           "the mapping"), **guarded}}},
        "/v1/teams/{team_id}/user-mappings/{rep_email}": {"put": {
            "summary": "Map a rep to an Outreach user (releases their parked events)", "security": BEARER,
            "parameters": [TEAM, REP],
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("UserMappingIn")}}},
            "responses": {"200": json_body({"type": "object"}, "mapped"), "400": error("not JSON"),
                          "408": error("the body did not arrive in time"), "413": error("body over 4 KiB"),
                          **guarded}}},
        "/v1/teams/{team_id}/reps/{rep_email}/call-tasks": {"get": {
            "summary": "The rep's due call tasks, read live from Outreach (never stored)", "security": BEARER,
            "parameters": [TEAM, REP,
                           {"name": "limit", "in": "query", "example": 5,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                           {"name": "cursor", "in": "query", "schema": STRING},
                           {"name": "due_before", "in": "query", "schema": {"type": "string",
                                                                            "format": "date-time"}},
                           {"name": "sequence_id", "in": "query", "description": "only that sequence's tasks",
                            "schema": {"type": "integer", "minimum": 1}}],
            "responses": {"200": json_body(ref("CallTaskPage"), "a page"), "400": error("a cursor that is not good"),
                          "409": error("no usable connection or mapping"), **live}}},
        "/v1/teams/{team_id}/reps/{rep_email}/dispositions": {"get": {
            "summary": "The Outreach call dispositions, in Outreach's display order (read live, never stored)",
            "security": BEARER, "parameters": [TEAM, REP],
            "responses": {"200": json_body(ref("DispositionList"), "every disposition"),
                          "409": error("no usable connection"), **live}}},
        "/v1/teams/{team_id}/reps/{rep_email}/sequences": {"get": {
            "summary": "The sequences the rep can read, by name, disabled ones included (read live, never stored)",
            "security": BEARER,
            "parameters": [TEAM, REP, {"name": "limit", "in": "query", "example": 50,
                                       "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                           {"name": "cursor", "in": "query", "schema": STRING}],
            "responses": {"200": json_body(ref("SequencePage"), "a page"), "400": error("a cursor that is not good"),
                          "409": error("no usable connection"), **live}}},
        "/v1/teams/{team_id}/call-outcome-rules": {
            "get": {"summary": "The team's after_call per Outreach disposition", "security": BEARER,
                    "parameters": [TEAM],
                    "responses": {"200": json_body(ref("OutcomeRules"), "the rules"), **guarded}},
            "put": {"summary": "Replace the team's rules (a bad rule changes nothing)", "security": BEARER,
                    "parameters": [TEAM],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": ref("OutcomeRules")}}},
                    "responses": {"200": json_body(ref("OutcomeRules"), "the rules as stored"),
                                  "400": error("not JSON"), "413": error("body over 256 KiB"),
                                  "422": error("each bad field named (rules.<i>.<field>); nothing stored"),
                                  **guarded}}},
    }


def _oauth() -> dict[str, Doc]:
    return {
        "/v1/outreach/oauth/start": {"get": {
            "summary": "The rep's browser opens the connect link: a cookie binds the consent to it, then Outreach",
            "parameters": [{"name": "link", "in": "query", "required": True, "schema": STRING}],
            "responses": {"302": {"description": "to Outreach's consent page"},
                          "400": page("the link is unknown, used or expired")}}},
        "/v1/outreach/oauth/callback": {"get": {
            "summary": "Outreach sends the rep's browser back: the token's user is confirmed, then stored",
            "parameters": [{"name": name, "in": "query", "schema": STRING} for name in ("code", "state", "error")],
            "responses": {"200": page("connected"),
                          "400": page("bad/expired/reused state, another browser, access denied, or signed in "
                                      "as someone else (named)"),
                          "502": page("Outreach is unavailable")}}},
    }


def _operators() -> dict[str, Doc]:
    guarded = {"401": error("operator credentials required"), "404": error("/ops is off (no OPS_USERNAME)")}
    acting = {**guarded, "403": error("a cross-site request, or read-only credentials")}
    offset = {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}}
    filters = [{"name": name, "in": "query", "schema": STRING} for name in ("reason", "team_id", "rep_email")]
    event_id = {"name": "event_id", "in": "path", "required": True, "schema": STRING}
    some = {"type": "object"}

    def view(summary: str, *parameters: Doc, html: bool = False) -> Doc:
        answer = page(summary) if html else json_body(some, summary)
        return {"get": {"summary": summary, "security": BASIC, "parameters": list(parameters),
                        "responses": {"200": answer, **guarded}}}

    def listing(key: str, model: str, summary: str, *parameters: Doc) -> Doc:
        return {"get": {"summary": summary, "security": BASIC, "parameters": [offset, *parameters],
                        "responses": {"200": json_body({"type": "object", "properties": {
                            key: {"type": "array", "items": ref(model)}}, "required": [key]}, summary), **guarded}}}

    def action(summary: str, *parameters: Doc, body: bool = False) -> Doc:
        operation: Doc = {"summary": summary, "security": BASIC, "parameters": list(parameters),
                          "responses": {"200": json_body(some, "done"), "202": json_body(some, "queued"),
                                        **acting}}
        if body:
            operation["requestBody"] = {"content": {"application/json": {"schema": {"type": "object", "properties": {
                "reason": STRING, "team_id": STRING, "rep_email": STRING}}}}}
            operation["responses"].update({"400": error("not JSON"), "413": error("body over 4 KiB"),
                                           "422": error("a filter field that is not a short string")})
        return {"post": operation}

    verb = {"name": "action", "in": "path", "required": True, "schema": {"type": "string",
                                                                         "enum": ["retry", "discard"]}}
    return {
        "/healthz": {"get": {"summary": "the process is alive",
                             "responses": {"200": json_body(obj(status=STRING), "alive")}}},
        "/readyz": {"get": {"summary": "Redis is reachable (answered within 1 s whatever Redis does)", "responses": {
            "200": json_body(some, "ready"), "503": json_body(some, "Redis is down or does not answer")}}},
        "/metrics": {"get": {"summary": "Prometheus text", "security": [{"operators": []}, {"metricsToken": []}],
                             "responses": {"200": {"description": "metrics",
                                                   "content": {"text/plain": {"schema": STRING}}},
                                           "401": error("operator credentials or the METRICS_TOKEN bearer required")}}},
        "/openapi.json": {"get": {"summary": "this document", "responses": {
            "200": json_body(some, "the OpenAPI document")}}},
        "/ops": view("the queue dashboard", html=True),
        "/ops/search": view("events by event id, call id or rep email, each with its story",
                            {"name": "q", "in": "query", "schema": STRING}, html=True),
        "/ops/events/{event_id}": view("one event's story", event_id, html=True),
        "/ops/api/summary": view("counters, queue depth and health"),
        "/ops/api/dead-letters": listing("dead_letters", "DeadLetter", "events waiting for an operator", *filters),
        "/ops/api/dead-letters/{action}": action("retry or discard every dead letter the filter takes", verb,
                                                 body=True),
        "/ops/api/dead-letters/{event_id}/{action}": action("retry or discard one dead letter (409 event_gone: its "
                                                            "stored event is gone, discard it)", event_id, verb),
        "/ops/api/retries": view("calls being retried", offset),
        "/ops/api/parked": view("events waiting for their rep, by rep", offset),
        "/ops/api/flagged": listing("flagged", "Flag", "events logged with a caveat"),
        "/ops/api/connections": view("the reps' connections", offset),
        "/ops/api/webhooks": {"get": {"summary": "each team's subscription holder and set health", "security": BASIC,
                                      "responses": {"200": json_body(obj(teams={"type": "array",
                                                                                "items": ref("TeamWebhooks")}),
                                                                     "teams"), **guarded}}},
        "/ops/api/ingest": view("what ingress took in, per minute"),
        "/ops/api/search": view("events by event id, call id or rep email, each with its story",
                                {"name": "q", "in": "query", "schema": STRING}),
        "/ops/api/events/{event_id}": view("one event's story", event_id),
        "/ops/api/audit": view("every operator action (who, what, when, how many), newest first",
                               {"name": "before", "in": "query", "schema": STRING}),
        "/ops/api/reps/{team_id}/{rep_email}/{action}": action(
            "release, pause or resume a rep's parked events", TEAM, REP,
            {"name": "action", "in": "path", "required": True,
             "schema": {"type": "string", "enum": ["release", "pause", "resume"]}}),
    }


def _components() -> Doc:
    schemas: Doc = {"Error": obj(error={"type": "object", "properties": {
        "code": STRING, "message": STRING, "fields": {"type": "array", "items": {"type": "object"}}},
        "required": ["code", "message"]})}
    for model in MODELS:
        shape = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(shape.pop("$defs", {}))
        schemas[model.__name__] = shape
    return {"schemas": dict(sorted(schemas.items())), "securitySchemes": {
        "nooksApiToken": {"type": "http", "scheme": "bearer", "description": "NOOKS_API_TOKEN"},
        "operators": {"type": "http", "scheme": "basic", "description": "OPS_USERNAME / OPS_PASSWORD"},
        "metricsToken": {"type": "http", "scheme": "bearer", "description": "METRICS_TOKEN (GET /metrics only)"}}}


@cache
def document() -> Doc:
    paths = {"/v1/nooks/events": _nooks_events(), "/v1/outreach/webhooks": _outreach_webhooks(),
             **_nooks_api(), **_oauth(), **_operators()}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Nooks ⇄ Outreach", "version": "1",
                 "description": "Every call a rep finishes in the Nooks dialer, logged in Outreach exactly once. "
                                "Errors are JSON {\"error\": {\"code\", \"message\", \"fields\"?}}; values a client "
                                "sent are never echoed back. No input gets a 5xx (503 only while Redis is down)."},
        "paths": dict(sorted(paths.items())),
        "components": _components(),
    }


async def openapi_json(request: Request) -> Response:
    return JSON(document())


if __name__ == "__main__":  # python -m ingress.openapi > docs/openapi.json
    import json

    print(json.dumps(document(), indent=2, ensure_ascii=False))

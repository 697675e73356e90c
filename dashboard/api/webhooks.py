"""Webhook endpoints for integrators (operators register; viewers read; residents 404).

The secret comes back once, in the 201 of the registration; no other answer carries it.
"""
from __future__ import annotations

from flask import current_app, jsonify, request
from flask_login import current_user

from ..db import Session
from ..models import WEBHOOK_EVENTS, utcnow
from ..services import webhooks
from ..services.wallets import parse_cursor_id, parse_limit
from .helpers import listing, operator_only, staff_only
from .schemas import ID_CURSOR, INTEGER, LIMIT, TEXT, TIME, enum, nullable, obj
from .spec import Body, Field, route

URL_IN = {"type": "string", "pattern": webhooks.URL_PATTERN, "maxLength": webhooks.URL_MAX,
          "example": "http://localhost:8080/hooks",
          "description": "http:// or https:// (production: https only, no private or loopback "
                         "address unless WEBHOOK_ALLOW_PRIVATE; WEBHOOK_ALLOWED_HOSTS may "
                         "narrow the hosts further, else 422)."}
EVENTS = {"type": "array", "items": enum(WEBHOOK_EVENTS), "minItems": 1,
          "example": ["notification.created"]}
ENDPOINT_FIELDS = {
    "id": INTEGER, "url": TEXT, "events": {"type": "array", "items": enum(WEBHOOK_EVENTS)},
    "enabled": {"type": "boolean"}, "created_at": TIME, "failing_since": nullable(TIME),
    "last_success_at": nullable(TIME), "disabled_at": nullable(TIME),
    "disabled_reason": nullable(TEXT)}
ENDPOINT = obj(ENDPOINT_FIELDS)
CREATED = obj({**ENDPOINT_FIELDS, "secret": {
    "type": "string", "pattern": "^whsec_[A-Za-z0-9+/=]+$",
    "description": "The Standard Webhooks signing secret: shown this once only."}})
ATTEMPT = obj({"id": INTEGER, "message_id": INTEGER, "event": enum(WEBHOOK_EVENTS),
               "webhook_id": TEXT, "attempted_at": TIME, "status_code": nullable(INTEGER),
               "error": nullable(TEXT), "duration_ms": {"type": "integer", "minimum": 0},
               "resend": {"type": "boolean"}})
ENDPOINT_LINKS = {
    "DeleteWebhook": {"operationId": "delete_webhook",
                      "parameters": {"endpoint_id": "$response.body#/id"}},
    "WebhookAttempts": {"operationId": "list_webhook_attempts",
                        "parameters": {"endpoint_id": "$response.body#/id"}}}


def _listing(schema: dict) -> dict:
    """{items, next_cursor} of inline item schemas."""
    return obj({"items": {"type": "array", "items": schema}, "next_cursor": nullable(TEXT)})


@route("GET", "/webhooks", summary="Registered webhook endpoints", answers={
    200: _listing(ENDPOINT)}, links={200: {"WebhookAttempts": {
        "operationId": "list_webhook_attempts",
        "parameters": {"endpoint_id": "$response.body#/items/0/id"}}}})
@staff_only
def list_webhooks():
    """Every endpoint, oldest first (one page: operators register a handful)."""
    found = webhooks.list_endpoints(Session, utcnow())
    return jsonify(listing([webhooks.endpoint_json(h.endpoint) for h in found]))


WEBHOOK_BODY = Body(url=Field(URL_IN, required=True, message="Send the URL as text."),
                    events=Field(EVENTS, required=True))


@route("POST", "/webhooks", summary="Register a webhook endpoint", body=WEBHOOK_BODY,
       answers={201: (CREATED, "Registered; `secret` is shown this once.")},
       links={201: ENDPOINT_LINKS})
@operator_only
def create_webhook():
    """{url, events} → 201 {id, url, events, enabled, secret, ...}."""
    data = WEBHOOK_BODY.read()
    made = webhooks.register(Session, data.get("url"), data.get("events"),
                             rules=webhooks.rules_from(current_app.config),
                             key=webhooks.sealing_key(current_app.config),
                             user_id=current_user.id, now=utcnow())
    return jsonify({**webhooks.endpoint_json(made.endpoint), "secret": made.secret}), 201


@route("DELETE", "/webhooks/{endpoint_id}", summary="Delete a webhook endpoint",
       answers={200: (ENDPOINT, "Deleted, with its messages and attempts; the endpoint as "
                                "it was.")})
@operator_only
def delete_webhook(endpoint_id: int):
    """Delete the endpoint and its log."""
    return jsonify(webhooks.endpoint_json(webhooks.delete_endpoint(Session, endpoint_id)))


@route("GET", "/webhooks/{endpoint_id}/attempts", summary="An endpoint's attempts, newest first",
       params=[LIMIT, ID_CURSOR], answers={200: _listing(ATTEMPT)})
@staff_only
def list_webhook_attempts(endpoint_id: int):
    """Every attempt: status code, time, error, duration; ?limit=&cursor=."""
    rows, next_id = webhooks.attempts(
        Session, endpoint_id, before_id=parse_cursor_id(request.args.get("cursor")),
        limit=parse_limit(request.args.get("limit")))
    return jsonify(listing([webhooks.attempt_json(a, event) for a, event in rows], next_id))

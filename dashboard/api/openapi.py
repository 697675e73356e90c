"""The OpenAPI 3.0 document of /api/v1, served at /api/v1/openapi.json.

Written by hand next to the routes it describes; tests/test_openapi.py checks that every API
route is documented, and schemathesis fuzzes the API from this document in CI.
"""
from __future__ import annotations

from flask import jsonify

from ..services.scans import SCANS
from . import bp

MONEY = {"type": "string", "pattern": r"^\d{1,9}(\.\d{1,2})?$", "example": "49.50"}
ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict) -> dict:
    """A JSON request or response body."""
    return {"content": {"application/json": {"schema": schema}}}


def _responses(ok_status: str, ok_schema: dict, *errors: str) -> dict:
    """A success response and the error responses (all in the API's error shape)."""
    responses = {ok_status: {"description": "OK", **_json(ok_schema)}}
    for status in ("401", *errors):
        responses[status] = {"description": "Error", **_json(ERROR)}
    return responses


def _list_of(ref: str) -> dict:
    """The {items, next_cursor} envelope."""
    return {"type": "object", "required": ["items", "next_cursor"],
            "properties": {"items": {"type": "array", "items": {"$ref": ref}},
                           "next_cursor": {"type": "string", "nullable": True}}}


def _query(name: str, schema: dict) -> dict:
    """An optional query parameter."""
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _path(name: str) -> dict:
    """An integer path parameter."""
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}


LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": 200})
CURSOR = _query("cursor", {"type": "string", "maxLength": 200})
SCAN_NAME = {"name": "name", "in": "path", "required": True,
             "schema": {"type": "string", "enum": list(SCANS)}}

SCHEMAS = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "fields": {"type": "object", "additionalProperties": {"type": "string"}}}}}},
    "Wallet": {"type": "object", "required": ["id", "unit", "balance", "balances", "state"],
               "properties": {
                   "id": {"type": "integer"},
                   "unit": {"type": "object", "properties": {
                       "id": {"type": "integer"}, "number": {"type": "string"},
                       "estate": {"type": "string"}}},
                   "balance": MONEY, "balances": {"type": "object",
                                                  "additionalProperties": MONEY},
                   "low_balance_threshold": MONEY,
                   "alert_mode": {"type": "string", "enum": ["amount", "days"]},
                   "low_balance_days": {"type": "integer"},
                   "alert_frequency_hours": {"type": "integer"},
                   "state": {"type": "string", "enum": ["ok", "low", "critical"]},
                   "residents": {"type": "array", "items": {"type": "object"}}}},
    "Transaction": {"type": "object", "required": ["id", "wallet_id", "type", "amount"],
                    "properties": {
                        "id": {"type": "integer"}, "wallet_id": {"type": "integer"},
                        "type": {"type": "string", "enum": ["topup", "purchase"]},
                        "utility": {"type": "string", "nullable": True}, "amount": MONEY,
                        "units": {"type": "string", "nullable": True},
                        "balance_before": MONEY, "balance_after": MONEY,
                        "method": {"type": "string", "nullable": True},
                        "status": {"type": "string"}, "created_at": {"type": "string"}}},
    "Notification": {"type": "object", "required": ["id", "type", "title", "message"],
                     "properties": {
                         "id": {"type": "integer"}, "type": {"type": "string"},
                         "title": {"type": "string"}, "message": {"type": "string"},
                         "priority": {"type": "string"}, "channel": {"type": "string"},
                         "wallet_id": {"type": "integer", "nullable": True},
                         "created_at": {"type": "string"},
                         "read_at": {"type": "string", "nullable": True},
                         "resolved_at": {"type": "string", "nullable": True},
                         "data": {"type": "object"}}},
    "TaskRun": {"type": "object", "required": ["id", "task", "trigger", "state"],
                "properties": {
                    "id": {"type": "integer"}, "task": {"type": "string"},
                    "trigger": {"type": "string"}, "state": {"type": "string"},
                    "progress": {"type": "object"}, "result": {"type": "object"},
                    "error": {"type": "string", "nullable": True}}},
}

SETTINGS_BODY = {"type": "object", "properties": {
    "low_balance_threshold": MONEY, "alert_mode": {"type": "string", "enum": ["amount", "days"]},
    "low_balance_days": {"type": "integer", "minimum": 1, "maximum": 60},
    "alert_frequency_hours": {"type": "integer", "minimum": 1, "maximum": 720}}}
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
               "schema": {"type": "string", "maxLength": 100}}

PATHS = {
    "/auth/token": {"post": {
        "summary": "Exchange email and password for a bearer token", "security": [],
        "requestBody": {"required": True, **_json({
            "type": "object", "required": ["email", "password"],
            "properties": {"email": {"type": "string"}, "password": {"type": "string"}}})},
        "responses": _responses("200", {"type": "object", "properties": {
            "token": {"type": "string"}, "user": {"type": "object"}}}, "400", "422", "429")}},
    "/wallets": {"get": {
        "summary": "Wallets the caller may see",
        "parameters": [_query("state", {"type": "string", "enum": ["ok", "low", "critical"]}),
                       _query("q", {"type": "string", "maxLength": 100}),
                       _query("sort", {"type": "string", "enum": ["id", "balance", "-balance"]}),
                       _query("estate_id", {"type": "integer", "minimum": 1}), LIMIT, CURSOR],
        "responses": _responses("200", _list_of("#/components/schemas/Wallet"), "422")}},
    "/wallets/{wallet_id}": {
        "parameters": [_path("wallet_id")],
        "get": {"summary": "One wallet",
                "responses": _responses("200", {"$ref": "#/components/schemas/Wallet"}, "404")},
        "patch": {"summary": "Change alert settings",
                  "requestBody": {"required": True, **_json(SETTINGS_BODY)},
                  "responses": _responses("200", {"$ref": "#/components/schemas/Wallet"},
                                          "400", "403", "404", "422")}},
    "/wallets/{wallet_id}/topups": {"post": {
        "summary": "Top up a wallet", "parameters": [_path("wallet_id"), IDEMPOTENCY],
        "requestBody": {"required": True, **_json({
            "type": "object", "required": ["amount", "method"],
            "properties": {"amount": MONEY, "method": {"type": "string", "enum": [
                "card", "eft", "instant_eft", "cash", "manual_admin"]}}})},
        "responses": _responses("201", {"type": "object", "properties": {
            "transaction": {"$ref": "#/components/schemas/Transaction"}}},
            "400", "403", "404", "409", "422")}},
    "/wallets/{wallet_id}/purchases": {"post": {
        "summary": "Buy utility credit", "parameters": [_path("wallet_id"), IDEMPOTENCY],
        "requestBody": {"required": True, **_json({
            "type": "object", "required": ["utility", "amount"],
            "properties": {"amount": MONEY, "utility": {"type": "string", "enum": [
                "electricity", "water", "solar", "hot_water"]}}})},
        "responses": _responses("201", {"type": "object", "properties": {
            "transaction": {"$ref": "#/components/schemas/Transaction"}}},
            "400", "403", "404", "409", "422")}},
    "/wallets/{wallet_id}/transactions": {"get": {
        "summary": "A wallet's ledger", "parameters": [_path("wallet_id"), LIMIT, CURSOR],
        "responses": _responses("200", _list_of("#/components/schemas/Transaction"),
                                "404", "422")}},
    "/meters/{meter_id}/readings": {"post": {
        "summary": "Record a meter reading (operators)", "parameters": [_path("meter_id")],
        "requestBody": {"required": True, **_json({
            "type": "object", "required": ["reading"],
            "properties": {"reading": {"type": "string"}, "taken_at": {"type": "string"},
                           "is_replacement": {"type": "boolean"}}})},
        "responses": _responses("201", {"type": "object"}, "400", "403", "404", "422")}},
    "/scans": {"get": {
        "summary": "The scans with schedule, next run and last run",
        "responses": _responses("200", {"type": "array", "items": {"type": "object"}}, "404")}},
    "/scans/{name}/run": {"post": {
        "summary": "Run a scan now", "parameters": [SCAN_NAME],
        "responses": _responses("202", {"type": "object", "properties": {
            "task_run": {"$ref": "#/components/schemas/TaskRun"}}},
            "403", "404", "409", "503")}},
    "/task-runs": {"get": {
        "summary": "Task run history",
        "parameters": [_query("task", {"type": "string"}), _query("state", {"type": "string"}),
                       _query("trigger", {"type": "string"}), LIMIT,
                       _query("cursor", {"type": "integer", "minimum": 1})],
        "responses": _responses("200", _list_of("#/components/schemas/TaskRun"), "404",
                                "422")}},
    "/task-runs/{run_id}": {"get": {
        "summary": "One task run", "parameters": [_path("run_id")],
        "responses": _responses("200", {"$ref": "#/components/schemas/TaskRun"}, "404")}},
    "/notifications": {"get": {
        "summary": "Notifications (residents: their own; staff: all)",
        "parameters": [_query("unread", {"type": "boolean"}), _query("type", {"type": "string"}),
                       _query("after_id", {"type": "integer", "minimum": 0}), LIMIT,
                       _query("cursor", {"type": "integer", "minimum": 1})],
        "responses": _responses("200", _list_of("#/components/schemas/Notification"),
                                "422")}},
    "/notifications/unread-count": {"get": {
        "summary": "Unread count", "responses": _responses("200", {
            "type": "object", "properties": {"count": {"type": "integer"}}})}},
    "/notifications/{notification_id}/read": {"post": {
        "summary": "Mark one read", "parameters": [_path("notification_id")],
        "responses": _responses("200", {"$ref": "#/components/schemas/Notification"}, "404")}},
    "/notifications/read-all": {"post": {
        "summary": "Mark all read",
        "responses": _responses("200", {"type": "object"})}},
}


def document() -> dict:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Quantify Notify API", "version": "1.0.0",
                 "description": "Amounts are strings with two decimals, in rand. Errors are "
                                "{error: {code, message, fields}}."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": SCHEMAS},
        "paths": PATHS,
    }


@bp.get("/openapi.json")
def openapi_json():
    """The OpenAPI document (public: it holds no data)."""
    return jsonify(document())

"""The OpenAPI 3.0 document of /api/v1, served at /api/v1/openapi.json.

Generated, not written: every operation comes from its route's declaration (spec.route), its
schemas from the constants and patterns the parsers check (schemas.py), and its error
statuses from what the route does. tests/test_openapi.py runs schemathesis against a live
server from this document with every check, stateful phase included.
"""
from __future__ import annotations

from flask import current_app, jsonify

from ..security import MAX_JSON_DEPTH
from . import bp
from .schemas import components, ref
from .spec import OPERATIONS, Operation

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_HEADER = "X-CSRFToken"  # Flask-WTF reads the token from it (WTF_CSRF_HEADERS)
#: Each error status: its component name and when the API answers it.
ERRORS = {
    400: ("BadRequest", "Malformed: the body is not a JSON object (or nests more than "
                        f"{MAX_JSON_DEPTH} levels), a value holds a NUL character, or a "
                        "signed-in browser session sent no CSRF token."),
    401: ("Unauthorized", "No valid bearer token or session (or, for a token, bad "
                          "credentials)."),
    403: ("Forbidden", "A viewer (read-only operator) asked to change something."),
    404: ("NotFound", "No such thing, or not one the caller may see (residents get 404, "
                      "never 403)."),
    409: ("Conflict", "The request clashes with the current state."),
    413: ("TooLarge", "The body is larger than 64 KiB."),
    415: ("UnsupportedMediaType", "The body is not application/json."),
    422: ("ValidationFailed", "A value is not acceptable; `fields` names each one."),
    429: ("RateLimited", "Too many attempts: wait and try again."),
    503: ("Unavailable", "The database is busy or the task queue cannot be reached: retry "
                         "shortly."),
}


def _json(schema: dict) -> dict:
    """A JSON body."""
    return {"content": {"application/json": {"schema": schema}}}


def error_statuses(op: Operation) -> list[int]:
    """The error statuses an operation can answer, from what it checks: every request may be
    malformed (400) or meet a busy database (503); the role decorators, path ids, query
    arguments and a body add theirs; the route declares the rest (409, 429...)."""
    statuses = {400, 503} | set(op.refusals)
    if op.path_params:
        statuses.add(404)
    if op.params:
        statuses.add(422)
    if op.body is not None:
        statuses |= {413, 415, 422}
    return sorted(statuses)


def _security(op: Operation) -> list:
    """A bearer token, or the browser session (plus its CSRF token for unsafe methods)."""
    if op.public:
        return []
    session = {"session": [], "csrf": []} if op.method in UNSAFE else {"session": []}
    return [{"bearer": []}, session]


def operation_object(op: Operation) -> dict:
    """The OpenAPI operation of one declaration."""
    responses = {}
    for status, answer in sorted(op.answers.items()):
        schema, description = answer if isinstance(answer, tuple) else (answer, "OK")
        responses[str(status)] = {"description": description, **_json(schema)}
        if status in op.links:
            responses[str(status)]["links"] = op.links[status]
    for status in error_statuses(op):
        responses[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    doc = {"operationId": op.view.__name__, "summary": op.summary,
           "security": _security(op), "responses": responses}
    if op.description:
        doc["description"] = op.description
    parameters = [{"name": name, "in": "path", "required": True, "schema": schema}
                  for name, schema in op.path_params.items()]
    parameters += [p.openapi() for p in op.params]
    if parameters:
        doc["parameters"] = parameters
    if op.body is not None:
        doc["requestBody"] = {"required": True, **_json(op.body.schema())}
    return doc


def document(session_cookie: str = "session") -> dict:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Quantify Notify API", "version": "1.0.0",
                 "description": "Amounts are JSON strings with at most two decimals, in rand "
                                "(\"49.50\"). Errors are {error: {code, message, fields}}. "
                                "A list is {items, next_cursor}; pass next_cursor back as "
                                "?cursor= for the next page. Every other method of a path is "
                                "a 405 with an Allow header."},
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A token from POST /auth/token."},
                "session": {"type": "apiKey", "in": "cookie", "name": session_cookie,
                            "description": "The dashboard's signed-in browser session."},
                "csrf": {"type": "apiKey", "in": "header", "name": CSRF_HEADER,
                         "description": "The page's CSRF token: a session's unsafe requests "
                                        "need it."}},
            "schemas": components(),
            "responses": {name: {"description": text, **_json(ref("Error"))}
                          for name, text in ERRORS.values()},
        },
        "paths": {path: {method: operation_object(op) for method, op in methods.items()}
                  for path, methods in sorted(OPERATIONS.items())},
    }


@bp.get("/openapi.json")
def openapi_json():
    """The OpenAPI document (public: it holds no data)."""
    return jsonify(document(current_app.config.get("SESSION_COOKIE_NAME", "session")))

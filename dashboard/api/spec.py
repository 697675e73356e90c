"""Each API operation declared once, beside its code: `route` registers the view with Flask
and records the same declaration for the OpenAPI document (dashboard/api/openapi.py).

So a route cannot exist undocumented, its path parameters are the ones its rule converts, its
JSON body is checked against the fields the document lists (unknown, missing and wrongly typed
fields are refused here, the values' rules are the services'), and its error statuses follow
from what it does: the role decorators, path ids, query arguments, a body.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import request

from ..routing import ID_CONVERTER
from ..security import MAX_JSON_DEPTH
from ..services.errors import ServiceError, ValidationFailed
from ..services.ids import MAX_ID
from . import bp

#: OpenAPI path -> method -> the declaration (see `route`).
OPERATIONS: dict[str, dict[str, dict]] = {}
MAX_BODY_BYTES = 64 * 1024  # the largest body is a few hundred bytes; refuse abuse early
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID, "example": 1}
NO_NUL = r"^[^\x00]*$"  # the app refuses NUL characters in every field (PostgreSQL cannot store them)


class PayloadTooLarge(ServiceError):
    """A body over MAX_BODY_BYTES."""

    status = 413
    code = "too_large"


class UnsupportedMediaType(ServiceError):
    """A body that is not application/json."""

    status = 415
    code = "unsupported_media_type"


@dataclass(frozen=True)
class Param:
    """A query or header parameter: its name, where it goes and its schema."""

    name: str
    location: str
    schema: dict
    description: str = ""

    def openapi(self) -> dict:
        """The parameter object. Optional query arguments may be empty: the API reads
        `?state=` as no filter."""
        doc = {"name": self.name, "in": self.location, "required": False, "schema": self.schema}
        if self.description:
            doc["description"] = self.description
        if self.location == "query":
            doc["allowEmptyValue"] = True
        return doc


def query(name: str, schema: dict, description: str = "") -> Param:
    """An optional query argument."""
    return Param(name, "query", schema, description)


def header(name: str, schema: dict, description: str = "") -> Param:
    """An optional request header."""
    return Param(name, "header", schema, description)


@dataclass(frozen=True)
class Field:
    """One field of a JSON body: its schema, whether it is required, and the message for a
    value of the wrong JSON type (the services check the values themselves)."""

    schema: dict
    required: bool = False
    message: str | None = None


_TYPE_CHECKS = {"string": lambda v: isinstance(v, str),
                "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
                "boolean": lambda v: isinstance(v, bool)}


def _type_message(spec: Field) -> str:
    """What to say about a value of the wrong JSON type."""
    if spec.message:
        return spec.message
    kind = spec.schema.get("type")
    if kind == "integer" and "minimum" in spec.schema and "maximum" in spec.schema:
        return f"Enter a whole number from {spec.schema['minimum']} to {spec.schema['maximum']}."
    return {"integer": "Enter a whole number.", "boolean": "Use true or false."}.get(kind, "Send text.")


class Body:
    """A JSON object body: its fields, as documented and as checked."""

    def __init__(self, **fields: Field):
        """`fields`: name -> Field, in the document's order."""
        self.fields = fields

    def schema(self) -> dict:
        """The request body's schema: no other fields are accepted."""
        schema = {"type": "object", "additionalProperties": False,
                  "properties": {name: f.schema for name, f in self.fields.items()}}
        required = [name for name, f in self.fields.items() if f.required]
        if required:
            schema["required"] = required
        return schema

    def read(self) -> dict:
        """The request's JSON object, or the refusal: 413 too large, 415 not JSON, 400 not an
        object, 422 naming every unknown, missing or wrongly typed field."""
        if (request.content_length or 0) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"The body is larger than {MAX_BODY_BYTES // 1024} KiB.")
        if not request.is_json:
            raise UnsupportedMediaType("Send a JSON body with Content-Type: application/json.")
        # A chunked body says no length up front: measured once read (MAX_CONTENT_LENGTH
        # bounds the read itself).
        if len(request.get_data(cache=True)) > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"The body is larger than {MAX_BODY_BYTES // 1024} KiB.")
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            # Not JSON, not an object, or nested deeper than security.MAX_JSON_DEPTH.
            raise ServiceError("The body must be a JSON object (nested at most "
                               f"{MAX_JSON_DEPTH} levels).", code="bad_json")
        unknown = sorted(str(name) for name in data if name not in self.fields)
        if unknown:
            raise ValidationFailed("Some fields are not valid.", fields={
                name[:60]: "Unknown field." for name in unknown[:10]})
        missing = {name: "This field is required." for name, f in self.fields.items()
                   if f.required and data.get(name) in (None, "")}
        if missing:
            raise ValidationFailed("Some fields are missing.", fields=missing)
        wrong = {name: _type_message(f) for name, f in self.fields.items()
                 if name in data and not _acceptable(f.schema, data[name])}
        if wrong:
            raise ValidationFailed("Some fields are not valid.", fields=wrong)
        return data


def _acceptable(schema: dict, value) -> bool:
    """The value has the schema's JSON type (enums are left to the services, which name the
    choices); text is never empty."""
    if value is None:
        return bool(schema.get("nullable"))
    if "enum" in schema:
        return True
    check = _TYPE_CHECKS.get(schema.get("type"))
    return (check is None or check(value)) and value != ""


@dataclass
class Operation:
    """What `route` records for the document."""

    method: str
    path: str
    summary: str
    answers: dict
    view: object
    params: list = field(default_factory=list)
    path_params: dict = field(default_factory=dict)
    body: Body | None = None
    refusals: frozenset = frozenset()
    links: dict = field(default_factory=dict)
    public: bool = False
    description: str = ""


def route(method: str, path: str, *, summary: str, answers: dict, params=(), body=None,
          path_params: dict | None = None, refusals=(), links=None, public=False,
          description=""):
    """Register `view` at `path` (OpenAPI form, "/wallets/{wallet_id}") for `method`, and
    record its declaration. `{..._id}` path parameters are ids; others need `path_params`.

    `answers`: status -> schema or (schema, description); `refusals`: statuses the view's
    own rules answer beyond those that follow from its checks (409, 429...).
    """
    names = re.findall(r"{(\w+)}", path)
    schemas = {name: ID_SCHEMA for name in names if name.endswith("_id")}
    schemas.update(path_params or {})
    if set(schemas) != set(names):
        raise ValueError(f"{path}: give a schema for every path parameter")
    rule = re.sub(r"{(\w+)}", lambda m: (f"<{ID_CONVERTER}:{m[1]}>" if m[1].endswith("_id")
                                         else f"<{m[1]}>"), path)

    def decorate(view):
        """Add the URL rule and the operation."""
        bp.add_url_rule(rule, view.__name__, view, methods=[method])
        OPERATIONS.setdefault(path, {})[method.lower()] = Operation(
            method, path, summary, answers, view, list(params), schemas, body,
            frozenset(getattr(view, "refusals", ())) | set(refusals), links or {}, public,
            description)
        return view

    return decorate

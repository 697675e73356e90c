"""URL pieces the page blueprints and the API share."""
from __future__ import annotations

from .services.ids import MAX_ID

#: Werkzeug route converter for ids. Werkzeug's plain `int` takes any length, and an id beyond
#: 64 bits made the database driver raise OverflowError (a 500); bounded by the largest id a
#: column holds, it is a 404 like any other id that does not exist.
ID_CONVERTER = f"int(max={MAX_ID})"

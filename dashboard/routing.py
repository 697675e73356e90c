"""Route converters the page blueprints and the API share: ids in URLs are matched by the same
pattern the parsers use."""
from __future__ import annotations

from werkzeug.routing import BaseConverter

from .services.ids import ID_PATTERN

#: The converter name for ids in routes: `<id:wallet_id>` (registered by `init_app`).
ID_CONVERTER = "id"


class IdConverter(BaseConverter):
    """`<id:name>`: a whole number from 0 to MAX_ID, ASCII digits only.

    A longer number or another script's digits match no rule, so every method answers 404
    (not 405 because another method's rule matched the text, and not a 500 from a driver
    that cannot bind a number beyond 64 bits).
    """

    regex = f"(?:{ID_PATTERN})"
    part_isolating = True

    def to_python(self, value: str) -> int:
        """The id as an int."""
        return int(value)

    def to_url(self, value) -> str:
        """The id as URL text."""
        return str(int(value))


def init_app(app) -> None:
    """Register the converters; call before any blueprint adds its rules."""
    app.url_map.converters[ID_CONVERTER] = IdConverter

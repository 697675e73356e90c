"""Wallets: who may see which, the searchable paged list, alert settings and state, estates,
meter readings and usage."""
from .access import get_wallet, residents_of, visible, wallet_ids_of
from .paging import (
    CURSOR_PATTERN,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    decode_cursor,
    encode_cursor,
    parse_cursor_id,
    parse_limit,
)
from .search import SEARCH_LENGTH, SORTS, list_wallets, search_condition
from .settings import AlertSettings, preview_state, update_settings, validate_settings
from .state import compute_state, days_left, spend_30d

__all__ = ["CURSOR_PATTERN", "DEFAULT_LIMIT", "MAX_LIMIT", "SEARCH_LENGTH", "SORTS",
           "AlertSettings", "Page", "compute_state", "days_left", "decode_cursor",
           "encode_cursor", "get_wallet", "list_wallets", "parse_cursor_id", "parse_limit",
           "preview_state", "residents_of", "search_condition", "spend_30d", "update_settings",
           "validate_settings", "visible", "wallet_ids_of"]

"""Accounts: the rules for passwords."""
from .passwords import check_password_rules

__all__ = ["check_password_rules"]

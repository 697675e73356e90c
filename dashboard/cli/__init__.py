"""Helpers behind run.py's commands."""

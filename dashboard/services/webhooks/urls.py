"""Which receiver URLs an operator may register, and which addresses a send may reach.

http and https only; in production https only and no private, loopback or link-local
address unless WEBHOOK_ALLOW_PRIVATE says so; and, when WEBHOOK_ALLOWED_HOSTS is set (the
tests set loopback), only those hosts. A host name is checked again where it matters, at
send time, against the address the connection really reached (http.py), so a name that
resolves to a private address later (DNS rebinding) is still refused.
"""
from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from ..errors import ValidationFailed
from .policy import UrlRules

URL_MAX = 2000
#: What the API's document quotes for `url`: http(s)://, a host, then no spaces or controls.
URL_PATTERN = r"^https?://[^\x00-\x20\x7f/?#@]+(?:[/?#][^\x00-\x20\x7f]*)?$"
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


def _refuse(message: str):
    """A refusal of the url field."""
    raise ValidationFailed("The URL is not allowed.", fields={"url": message})


def check_url(url, rules: UrlRules) -> str:
    """The URL, stripped, or ValidationFailed naming what is wrong with it."""
    if not isinstance(url, str) or not url.strip():
        _refuse("Enter the receiver's URL, like https://crm.example.com/hooks.")
    url = url.strip()
    if len(url) > URL_MAX:
        _refuse(f"Use at most {URL_MAX} characters.")
    if not re.fullmatch(URL_PATTERN, url):
        _refuse("Use an http:// or https:// URL with a host and no spaces (and no user:password@).")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:  # "http://[x" or a port that is not a number
        _refuse("Give a valid host and, optionally, a port from 1 to 65535.")
    if port == 0:
        _refuse("Give a port from 1 to 65535.")
    if not host or parts.username is not None:
        _refuse("Give a host name, without user:password@.")
    if rules.https_only and parts.scheme != "https":
        _refuse("Use https:// (plain http is not allowed here).")
    if rules.allowed_hosts and host.lower() not in rules.allowed_hosts:
        _refuse(f"Only these hosts may receive webhooks here: "
                f"{', '.join(sorted(rules.allowed_hosts))}.")
    if not rules.allow_private and not public_host(host):
        _refuse("Private, loopback and local addresses are not allowed here.")
    return url


def public_host(host: str) -> bool:
    """False for an IP literal that is not global, and for names that are local by design."""
    try:
        return address_allowed(host, allow_private=False)
    except ValueError:  # a name: resolved and checked again at send time
        name = host.lower().rstrip(".")
        return name != "localhost" and not name.endswith(LOCAL_SUFFIXES)


def address_allowed(address: str, *, allow_private: bool) -> bool:
    """True when a connection may go to this IP address (ValueError: not an address)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if allow_private:
        return not ip.is_unspecified and not ip.is_multicast
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global

"""Sending one message through Apprise, and telling a refusal from a hiccup.

The channel is an Apprise URL with `{email}` or `{phone}` where the recipient's address goes
(EMAIL_URL, SMS_URL); the address is percent-encoded into it and Apprise builds the plugin
(SMTP, BulkSMS, Clickatell, Twilio, an HTTP gateway through `json://`...). This module only
knows *how* to send; services/channels/delivery.py decides *what* and *whether*.

Apprise answers True or False. To retry what a retry can cure and fail the rest at once, the
answers its plugins get are observed as they happen (`observe`): the HTTP status and
Retry-After of every `requests` call, the SMTP reply codes and socket errors of `smtplib`,
recorded per thread (contextvars), so concurrent sends never see each other's answers.

  transient: a timeout, a connection error, HTTP 5xx, 408, 429 (with its Retry-After), SMTP 4xx
  permanent: any other HTTP 4xx, SMTP 5xx, a URL Apprise cannot use, a plugin that refused
             without asking its provider (a malformed address)

Every socket is bounded by `timeout` (Apprise's connect and read timeouts; smtplib's
timeout), so a provider that hangs costs one timeout, never a stuck worker.
"""
from __future__ import annotations

import contextvars
import smtplib
import socket
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import apprise
import requests

PLACEHOLDERS = {"email": "{email}", "sms": "{phone}"}
_seen: contextvars.ContextVar[list | None] = contextvars.ContextVar("channel_answers",
                                                                    default=None)
_installed = threading.Lock()
_done = False


@dataclass
class Outcome:
    """What became of one send."""

    sent: bool
    transient: bool = False
    error: str | None = None
    retry_after: float | None = None
    stalled: bool = False  # a timeout or no connection: the provider itself is in trouble


def _note(kind: str, **facts) -> None:
    """Record one answer for the send running in this thread (if one is observing)."""
    seen = _seen.get()
    if seen is not None:
        seen.append((kind, facts))


def observe() -> None:
    """Install the observers once per process (idempotent): wrappers that note what the
    provider answered and change nothing about the call."""
    global _done
    with _installed:
        if _done:
            return
        send = requests.Session.send

        def _send(self, request, **kwargs):
            """requests' send, noting the status or the error."""
            try:
                response = send(self, request, **kwargs)
            except requests.Timeout as exc:
                _note("timeout", error=str(exc))
                raise
            except requests.RequestException as exc:
                _note("connection", error=str(exc))
                raise
            _note("http", status=response.status_code, reason=response.reason or "",
                  retry_after=response.headers.get("Retry-After"))
            return response

        connect, sendmail = smtplib.SMTP.connect, smtplib.SMTP.sendmail

        def _connect(self, *args, **kwargs):
            """smtplib's connect, noting a refused or timed-out connection."""
            try:
                return connect(self, *args, **kwargs)
            except (TimeoutError, socket.timeout) as exc:
                _note("timeout", error=str(exc) or "timed out")
                raise
            except OSError as exc:
                _note("connection", error=str(exc))
                raise

        def _sendmail(self, *args, **kwargs):
            """smtplib's sendmail, noting each refusal's reply code."""
            try:
                refused = sendmail(self, *args, **kwargs)
            except smtplib.SMTPRecipientsRefused as exc:
                for code, text in exc.recipients.values():
                    _note("smtp", code=code, reply=_text(text))
                raise
            except smtplib.SMTPResponseException as exc:
                _note("smtp", code=exc.smtp_code, reply=_text(exc.smtp_error))
                raise
            except (TimeoutError, socket.timeout) as exc:
                _note("timeout", error=str(exc) or "timed out")
                raise
            except (OSError, smtplib.SMTPException) as exc:
                _note("connection", error=str(exc) or type(exc).__name__)
                raise
            for code, text in (refused or {}).values():
                _note("smtp", code=code, reply=_text(text))
            return refused

        requests.Session.send = _send
        smtplib.SMTP.connect = _connect
        smtplib.SMTP.sendmail = _sendmail
        _reuse_tls_contexts()
        _done = True


_local = threading.local()


class _TLSContexts:
    """`ssl` as Apprise's SMTP module sees it, except that the default context is made once
    per thread: Apprise makes one per email, even for plain SMTP, and loading the system's
    certificates took 20 ms of the 29 ms an email cost (bench/RESULTS.md, round 3). A context
    that a send switched to no verification (`?verify=no`) is never handed out again."""

    def __getattr__(self, name):
        """Everything else is the real module."""
        return getattr(ssl, name)

    def create_default_context(self, *args, **kwargs):
        """This thread's verifying default context (a fresh one for any other arguments)."""
        if args or kwargs:
            return ssl.create_default_context(*args, **kwargs)
        context = getattr(_local, "tls", None)
        if context is None or context.verify_mode != ssl.CERT_REQUIRED \
                or not context.check_hostname:
            context = _local.tls = ssl.create_default_context()
        return context


def _reuse_tls_contexts() -> None:
    """Give Apprise's SMTP connection code the per-thread TLS contexts."""
    from apprise.plugins.email import smtp as apprise_smtp

    apprise_smtp.ssl = _TLSContexts()


def _text(value) -> str:
    """An SMTP reply as text."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def channel_url(template: str, channel: str, address: str) -> str:
    """The Apprise URL of one recipient: the address percent-encoded where the placeholder
    is (an email's `+` and a number's `+` survive the URL's query string)."""
    return template.replace(PLACEHOLDERS[channel], quote(address, safe="@"))


def _retry_after(value) -> float | None:
    """Retry-After in seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        try:
            return max((parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds(), 0.0)
        except (TypeError, ValueError):
            return None


def classify(seen: list) -> Outcome:
    """A failed send's outcome from what its provider answered (the last answer decides)."""
    if not seen:
        return Outcome(False, False, "Apprise refused to send it without asking the provider "
                                     "(check the channel URL and the address).")
    kind, facts = seen[-1]
    if kind == "timeout":
        return Outcome(False, True, f"The provider did not answer in time ({facts['error']}).",
                       stalled=True)
    if kind == "connection":
        return Outcome(False, True, f"Could not reach the provider: {facts['error']}"[:400],
                       stalled=True)
    if kind == "smtp":
        code, reply = facts["code"], facts["reply"][:300]
        transient = 400 <= code < 500
        return Outcome(False, transient, f"The mail server answered {code} {reply}".strip())
    status, reason = facts["status"], facts["reason"]
    if status == 429:
        return Outcome(False, True, f"The provider is rate limiting (HTTP 429 {reason}).",
                       _retry_after(facts.get("retry_after")))
    if status >= 500 or status == 408:
        return Outcome(False, True, f"The provider failed (HTTP {status} {reason}).".strip())
    if 200 <= status < 300:
        return Outcome(False, False, "Apprise reported a failure after the provider accepted "
                                     f"(HTTP {status}).")
    return Outcome(False, False, f"The provider refused it (HTTP {status} {reason}).".strip())


def send(template: str, channel: str, address: str, *, title: str, body: str,
         html: bool = False, timeout: float = 10.0) -> Outcome:
    """Send one message to one address through the channel's Apprise URL."""
    observe()
    url = channel_url(template, channel, address)
    try:
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception as exc:  # noqa: BLE001 - a URL Apprise cannot use is a configuration error
        return Outcome(False, False, f"The channel URL is not usable: {exc}"[:400])
    if plugin is None:
        return Outcome(False, False, "The channel URL is not a URL Apprise can use.")
    plugin.request_rate_per_sec = 0  # ours is the rate limit that counts (ratelimit.py)
    if "cto=" not in template:
        plugin.socket_connect_timeout = timeout
    if "rto=" not in template:
        plugin.socket_read_timeout = timeout
    token = _seen.set([])
    try:
        ok = plugin.notify(body=body, title=title,
                           body_format=apprise.NotifyFormat.HTML if html
                           else apprise.NotifyFormat.TEXT)
        seen = _seen.get()
    finally:
        _seen.reset(token)
    return Outcome(True) if ok else classify(seen)

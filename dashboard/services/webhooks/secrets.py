"""Endpoint signing secrets: made once, shown once, kept sealed.

Standard Webhooks signs with HMAC-SHA256 under the endpoint's secret, so the secret itself is
needed at every send and cannot be stored as a hash. It is stored sealed instead: XORed with
a keystream of HMAC-SHA256(key, nonce ‖ counter) under a random 16-byte nonce, with an
HMAC tag over nonce and ciphertext, the key derived from WEBHOOK_SECRET_KEY (by default the
app's SECRET_KEY). A copy of the database without the key does not give the secrets away, and
a wrong key is detected (ValueError) instead of signing with garbage.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as random

PREFIX = "whsec_"
VERSION = "v1:"


def new_secret() -> str:
    """A fresh `whsec_` secret: 24 random bytes in base64, as Standard Webhooks expects."""
    return PREFIX + base64.b64encode(random.token_bytes(24)).decode()


def _key(key: str) -> bytes:
    """The sealing key derived from the configured one (never the configured one itself)."""
    return hashlib.sha256(b"quantify-webhook-secrets:" + key.encode()).digest()


def _stream(key: bytes, nonce: bytes, length: int) -> bytes:
    """`length` keystream bytes for `nonce`."""
    blocks = (hmac.new(key, nonce + i.to_bytes(4, "big"), hashlib.sha256).digest()
              for i in range(length // 32 + 1))
    return b"".join(blocks)[:length]


def seal(secret: str, key: str) -> str:
    """The secret as stored."""
    k = _key(key)
    nonce = random.token_bytes(16)
    plain = secret.encode()
    cipher = bytes(a ^ b for a, b in zip(plain, _stream(k, nonce, len(plain)), strict=True))
    tag = hmac.new(k, b"tag" + nonce + cipher, hashlib.sha256).digest()[:16]
    return VERSION + base64.urlsafe_b64encode(nonce + tag + cipher).decode()


def unseal(sealed: str, key: str) -> str:
    """The secret back; ValueError when the key is not the one it was sealed with."""
    if not sealed.startswith(VERSION):
        raise ValueError("unknown sealing")
    raw = base64.urlsafe_b64decode(sealed[len(VERSION):])
    nonce, tag, cipher = raw[:16], raw[16:32], raw[32:]
    k = _key(key)
    expected = hmac.new(k, b"tag" + nonce + cipher, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(tag, expected):
        raise ValueError("the secret was sealed with another WEBHOOK_SECRET_KEY")
    return bytes(a ^ b for a, b in zip(cipher, _stream(k, nonce, len(cipher)), strict=True)).decode()

"""Where a sign-in may send the browser next: a path of this site, or nowhere.

`?next=` comes from whoever made the link, so it is a way to send a freshly signed-in
person to another site (a look-alike asking for the password again). Browsers resolve far
more than `https://evil` to another host: `//evil`, `/\\evil` and `\\\\evil` (backslashes
count as slashes), the same with tabs or newlines inside (browsers drop them), with
percent-encoded slashes that a proxy or a second redirect decodes (`/%2F%2Fevil`,
`%5C`), and look-alike characters that normalise to a slash or a dot. Rather than list what
is bad, this accepts only what a link inside the site looks like: a path that starts with
one "/", made of printable ASCII, free of backslashes, and still so after percent-decoding
(repeatedly) and Unicode normalisation, with no scheme, host, `//` or dot segment. Anything
else is refused, and the caller sends the person home.
"""
from __future__ import annotations

import unicodedata
from urllib.parse import unquote, urlsplit

MAX_LENGTH = 2000
DECODE_ROUNDS = 4


def _plain(text: str) -> bool:
    """Printable ASCII without a backslash."""
    return all(0x20 < ord(c) < 0x7F for c in text) and "\\" not in text


def _path_is_local(path: str) -> bool:
    """One leading slash, no empty or dot segment: a path on this host."""
    if not path.startswith("/") or path.startswith("//"):
        return False
    segments = path.split("/")[1:]
    return "" not in segments[:-1] and not ({".", ".."} & set(segments))


def safe_path(target) -> str | None:
    """`target` when it is a path of this site (query allowed, fragment dropped), else None."""
    if not isinstance(target, str) or not target or len(target) > MAX_LENGTH:
        return None
    if not _plain(target):
        return None
    forms, current = [target], target
    for _ in range(DECODE_ROUNDS):  # %252F%252F -> %2F%2F -> //
        try:
            decoded = unquote(current, errors="strict") if "%" in current else current
        except UnicodeDecodeError:  # %FF...: not text, so not a path of ours
            return None
        if decoded == current:
            break
        forms.append(decoded)
        current = decoded
    else:
        return None  # still decoding after DECODE_ROUNDS: nobody links like that
    for form in forms:
        normal = unicodedata.normalize("NFKC", form)
        if normal != form:
            forms.append(normal)
    for form in forms:
        path = form.split("?", 1)[0].split("#", 1)[0]
        if any(ord(c) < 0x21 or ord(c) == 0x7F for c in path) or "\\" in path:
            return None
        if not _path_is_local(path):
            return None
        parts = urlsplit(form)
        if parts.scheme or parts.netloc:
            return None
    return target.split("#", 1)[0]

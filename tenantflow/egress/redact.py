"""Scrub secret values an upstream echoes back, before the guest sees the response.

An upstream that reflects request headers (``/anything``-style endpoints,
debug pages, error messages) would otherwise hand the injected secret to the
guest. :class:`Redactor` replaces each secret value in response headers, body
and URL, in the encodings an echo commonly uses: raw, upper- and lower-cased,
percent-encoded, JSON escaped, hex, and base64 (standard and URL-safe, at every
byte alignment, so the secret is found inside a longer base64 text such as a
basic-auth token). An upstream that transforms the value otherwise (reverses
it, splits it, encrypts it) is beyond what redaction can catch.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = b"[REDACTED]"
_MIN_BASE64_FRAGMENT = 8


def _base64_fragments(raw: bytes) -> set[bytes]:
    """Base64 text that appears wherever ``raw`` is encoded inside a longer input."""
    out: set[bytes] = set()
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * offset + raw)
            # Characters before `start` mix in the preceding bytes, after `end` the following.
            start = -(-offset * 4 // 3)
            end = (offset + len(raw)) * 4 // 3
            fragment = text[start:end]
            if len(fragment) >= _MIN_BASE64_FRAGMENT:
                out.add(fragment)
    return out


def patterns_for(value: str) -> set[bytes]:
    """Every byte string that gives ``value`` away."""
    raw = value.encode("utf-8")
    if not raw:
        return set()
    # Upper and lower case too: header names arrive lower-cased, some echoes shout.
    found = {raw, raw.lower(), raw.upper(), quote(raw, safe="").encode(), quote_plus(raw).encode()}
    found.add(json.dumps(value)[1:-1].encode())
    found.add(json.dumps(value, ensure_ascii=False)[1:-1].encode())
    found.add(binascii.hexlify(raw))
    found.add(binascii.hexlify(raw).upper())
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        full = encode(raw)
        found.add(full)
        found.add(full.rstrip(b"="))
    found |= _base64_fragments(raw)
    return {p for p in found if p}


class Redactor:
    """Replaces known secret values (and their encodings) with ``[REDACTED]``."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        patterns: set[bytes] = set()
        for value in values:
            patterns |= patterns_for(value)
        # Longest first, so a pattern is never cut by a shorter one inside it.
        self._patterns = sorted(patterns, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def bytes(self, data: bytes) -> bytes:
        """``data`` with every pattern replaced."""
        for pattern in self._patterns:
            if pattern in data:
                data = data.replace(pattern, REDACTED)
        return data

    def text(self, text: str) -> str:
        """``text`` with every pattern replaced (patterns compared as UTF-8)."""
        if not self._patterns:
            return text
        return self.bytes(text.encode("utf-8", "surrogateescape")).decode(
            "utf-8", "surrogateescape"
        )

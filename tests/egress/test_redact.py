"""Redaction of echoed secrets in the encodings an echo commonly uses."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from tenantflow.egress import Redactor

SECRET = "s3cr3t/v+lue=9f8e"


@pytest.mark.parametrize(
    "echo",
    [
        SECRET.encode(),
        SECRET.upper().encode(),
        SECRET.lower().encode(),
        f"Authorization: Bearer {SECRET}".encode(),
        quote(SECRET, safe="").encode(),
        json.dumps({"v": SECRET}).encode(),
        SECRET.encode().hex().encode(),
        base64.b64encode(SECRET.encode()),
        base64.urlsafe_b64encode(SECRET.encode()),
        base64.b64encode(f"alice:{SECRET}".encode()),  # a basic-auth token
        base64.b64encode(f"xy{SECRET}tail".encode()),  # any alignment
        base64.b64encode(json.dumps({"token": SECRET}).encode()),
    ],
)
def test_secret_is_scrubbed(echo: bytes) -> None:
    scrubbed = Redactor([SECRET]).bytes(b"before " + echo + b" after")
    assert SECRET.encode() not in scrubbed
    assert echo not in scrubbed
    assert b"[REDACTED]" in scrubbed
    assert scrubbed.startswith(b"before ")


def test_text_and_no_false_positives() -> None:
    redactor = Redactor([SECRET])
    assert redactor.text(f"x {SECRET} y") == "x [REDACTED] y"
    assert redactor.text("nothing here") == "nothing here"
    assert not Redactor([])
    assert Redactor([]).bytes(b"abc") == b"abc"

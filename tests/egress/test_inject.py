"""Credential rules and placeholders (unit level; end to end in test_proxy / test_guest_fetch)."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from tenantflow.egress import CredentialRule, EgressPolicy, InjectionRefused, PlaceholderError
from tenantflow.egress.inject import apply, plan, refuse_placeholders

POLICY = EgressPolicy(allowed_hosts=("api.example.com", "*.example.org"))
BEARER = CredentialRule(name="bearer", host="api.example.com", secret="TOKEN")
SECRETS = {"TOKEN": "tok-123456", "PW": "pw-abcdef", "USER": "alice", "KEY": "k-987654"}


def test_header_rule_replaces_guest_header_of_any_case() -> None:
    headers = [("authorization", "Bearer guest"), ("AUTHORIZATION", "x"), ("X-Other", "1")]
    injection = plan([BEARER], POLICY, "https", "api.example.com", headers)
    out, _ = apply(injection, SECRETS, headers, [])
    assert out == [("X-Other", "1"), ("Authorization", "Bearer tok-123456")]


def test_rule_does_not_apply_to_other_hosts_or_schemes() -> None:
    assert plan([BEARER], POLICY, "https", "other.example.com", []).rules == []
    assert plan([BEARER], POLICY, "http", "api.example.com", []).rules == []
    wildcard = CredentialRule(name="w", host="*.example.org", secret="TOKEN")
    assert plan([wildcard], POLICY, "https", "a.example.org", []).rules == [wildcard]
    assert plan([wildcard], POLICY, "https", "example.org", []).rules == []


def test_basic_and_query_rules() -> None:
    basic = CredentialRule(
        name="basic", host="api.example.com", kind="basic", username_secret="USER", secret="PW"
    )
    query = CredentialRule(
        name="q", host="api.example.com", kind="query", param="key", secret="KEY"
    )
    injection = plan([basic, query], POLICY, "https", "api.example.com", [])
    assert injection.secret_names == ["USER", "PW", "KEY"]
    headers, params = apply(
        injection, SECRETS, [("Authorization", "x")], [("key", "guest"), ("a", "1")]
    )
    token = base64.b64encode(b"alice:pw-abcdef").decode()
    assert headers == [("Authorization", f"Basic {token}")]
    assert params == [("a", "1"), ("key", "k-987654")]


def test_placeholder_filled_only_when_bound_to_the_host() -> None:
    headers = [("X-Api-Key", "key={{secret:TOKEN}}")]
    injection = plan([BEARER], POLICY, "https", "api.example.com", headers)
    out, _ = apply(injection, SECRETS, headers, [])
    assert ("X-Api-Key", "key=tok-123456") in out
    with pytest.raises(PlaceholderError) as err:
        plan([BEARER], POLICY, "https", "a.example.org", headers)
    assert err.value.rule == "inject.placeholder_unbound"
    assert "TOKEN" in err.value.reason and "a.example.org" in err.value.reason
    with pytest.raises(PlaceholderError):
        plan([BEARER], POLICY, "https", "api.example.com", [("X", "{{secret:PW}}")])


@pytest.mark.parametrize("value", ["{{secret:TOKEN}", "{{secret:}}", "{{SECRET:bad name}}"])
def test_malformed_placeholders_are_refused(value: str) -> None:
    with pytest.raises(PlaceholderError) as err:
        plan([BEARER], POLICY, "https", "api.example.com", [("X", value)])
    assert err.value.rule == "inject.placeholder_syntax"


def test_placeholders_in_url_body_or_header_name_are_refused() -> None:
    for url in (
        "https://api.example.com/?k={{secret:TOKEN}}",
        "https://api.example.com/%7B%7Bsecret:TOKEN%7D%7D",
        "https://api.example.com/%7b%7bSECRET:TOKEN%7d%7d",
    ):
        with pytest.raises(PlaceholderError) as err:
            refuse_placeholders(url, b"")
        assert err.value.rule == "inject.placeholder_in_url"
    with pytest.raises(PlaceholderError) as err:
        refuse_placeholders("https://api.example.com/", b'{"k": "{{secret:TOKEN}}"}')
    assert err.value.rule == "inject.placeholder_in_body"
    with pytest.raises(PlaceholderError):
        plan([BEARER], POLICY, "https", "api.example.com", [("{{secret:TOKEN}}", "v")])


def test_injection_requires_default_deny() -> None:
    open_policy = EgressPolicy(default="allow")
    with pytest.raises(InjectionRefused) as err:
        plan([BEARER], open_policy, "https", "api.example.com", [])
    assert err.value.rule == "inject.requires_default_deny"
    assert plan([BEARER], open_policy, "https", "elsewhere.example", []).rules == []


@pytest.mark.parametrize(
    "bad",
    [
        {"template": "Bearer"},
        {"template": "{secret} {secret}"},
        {"kind": "query"},
        {"header": "Bad Header"},
        {"host": "a.*.com"},
    ],
)
def test_invalid_rules_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CredentialRule.model_validate(
            {"name": "r", "host": "api.example.com", "secret": "S", **bad}
        )

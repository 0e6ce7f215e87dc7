"""Egress policy: default deny, host patterns, schemes, ports, methods, overrides."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tenantflow.egress import EgressDenied, EgressPolicy, EgressPolicyPatch, effective_policy


def check(
    policy: EgressPolicy, host: str, *, scheme: str = "https", port: int = 443, method: str = "GET"
) -> str:
    """The rule that refuses, or '' when allowed."""
    try:
        policy.check(scheme=scheme, host=host, port=port, method=method)
    except EgressDenied as exc:
        return exc.rule
    return ""


def test_default_is_deny_everything() -> None:
    assert check(EgressPolicy(), "example.com") == "policy.hosts"


def test_exact_and_wildcard_hosts() -> None:
    policy = EgressPolicy(allowed_hosts=("API.Example.com.", "*.svc.example.org"))
    assert policy.allowed_hosts == ("api.example.com", "*.svc.example.org")
    assert check(policy, "api.example.com") == ""
    assert check(policy, "a.svc.example.org") == ""
    assert check(policy, "a.b.svc.example.org") == ""
    assert check(policy, "svc.example.org") == "policy.hosts"  # the wildcard is for subdomains
    assert check(policy, "evilsvc.example.org") == "policy.hosts"
    assert check(policy, "api.example.com.evil.net") == "policy.hosts"
    assert check(policy, "example.com") == "policy.hosts"


def test_unicode_hosts_match_their_punycode_form() -> None:
    policy = EgressPolicy(allowed_hosts=("bücher.de", "*.münchen.example"))
    assert policy.allowed_hosts == ("xn--bcher-kva.de", "*.xn--mnchen-3ya.example")
    assert check(policy, "xn--bcher-kva.de") == ""
    assert check(policy, "a.xn--mnchen-3ya.example") == ""


def test_schemes_ports_methods() -> None:
    policy = EgressPolicy(allowed_hosts=("h.example",), methods=("get", "post"))
    assert check(policy, "h.example", scheme="http", port=80) == "policy.schemes"
    assert check(policy, "h.example", port=8443) == "policy.ports"
    assert check(policy, "h.example", method="DELETE") == "policy.methods"
    assert check(policy, "h.example", method="POST") == ""
    wide = EgressPolicy(allowed_hosts=("h.example",), schemes=("http", "https"), ports=(8080,))
    assert check(wide, "h.example", scheme="http", port=8080) == ""
    assert check(wide, "h.example", scheme="http", port=80) == "policy.ports"


def test_allow_mode_allows_any_host() -> None:
    policy = EgressPolicy(default="allow")
    assert not policy.is_default_deny
    assert check(policy, "anything.example") == ""


@pytest.mark.parametrize(
    "bad",
    [
        {"allowed_hosts": ("*",)},
        {"allowed_hosts": ("a.*.com",)},
        {"allowed_hosts": ("http://a.com",)},
        {"allowed_hosts": ("exa mple.com",)},
        {"allowed_hosts": ("a..b.com",)},
        {"allowed_hosts": ("-a.com",)},
        {"allowed_hosts": ("a.com:443",)},
        {"allowed_hosts": ("*.",)},
        {"allowed_hosts": ("x" * 64 + ".com",)},
        {"allowed_hosts": ("a." * 127 + "com",)},
        {"ports": (0,)},
        {"methods": ("GE T",)},
        {"schemes": ("ftp",)},
        {"allowed_addresses": ("not-an-ip",)},
        {"unknown": 1},
    ],
)
def test_invalid_policies_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        EgressPolicy.model_validate(bad)


def test_policy_is_immutable() -> None:
    policy = EgressPolicy()
    with pytest.raises(ValidationError):
        policy.default = "allow"  # type: ignore[misc]


def test_workflow_then_session_override() -> None:
    tenant = EgressPolicy(allowed_hosts=("api.example.com",), methods=("GET",))
    workflow = EgressPolicyPatch(methods=("GET", "POST"), add_hosts=("*.cdn.example",))
    session = EgressPolicyPatch(allowed_hosts=("only.example",), ports=(8443,))
    assert effective_policy(tenant) == tenant
    after_workflow = effective_policy(tenant, workflow)
    assert after_workflow.allowed_hosts == ("api.example.com", "*.cdn.example")
    assert after_workflow.methods == ("GET", "POST")
    final = effective_policy(tenant, workflow, session)
    assert final.allowed_hosts == ("only.example",)  # replaced by the session
    assert final.methods == ("GET", "POST")  # inherited from the workflow
    assert final.ports == (8443,)
    assert tenant.allowed_hosts == ("api.example.com",)  # the base is untouched


def test_patches_are_validated_and_wire_ready() -> None:
    with pytest.raises(ValidationError):
        EgressPolicy().override(EgressPolicyPatch(add_hosts=("bad host/",)))
    policy = EgressPolicy(allowed_hosts=("a.example",), allowed_addresses=("10.0.0.0/8",))
    assert EgressPolicy.model_validate_json(policy.model_dump_json()) == policy
    patch = EgressPolicyPatch.model_validate({"default": "allow"})
    assert EgressPolicy().override(patch).default == "allow"

"""The address guard: IP spellings, address classes, policy overrides, name resolution."""

from __future__ import annotations

import ipaddress

import pytest

from tenantflow.egress import EgressDenied, EgressPolicy, checked_address, refusal
from tenantflow.egress.guard import parse_host

OPEN = EgressPolicy(default="allow")


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",  # decimal 127.0.0.1
        "0x7f000001",  # hex
        "0x7f.1",  # hex + short form
        "127.1",  # short form
        "127.0.1",
        "0177.0.0.1",  # octal
        "0177.0.0.01",
        "127.000.000.001",
        "0",
        "0x0",
        "1.2.3.4.5",
        "127.0.0.1.1",
        "example.0x10",
        "foo.123",
    ],
)
def test_non_canonical_numeric_spellings_are_refused(host: str) -> None:
    with pytest.raises(EgressDenied) as err:
        parse_host(host)
    assert err.value.rule == "guard.ip_spelling"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("8.8.8.8", "8.8.8.8"),
        ("255.255.255.255", "255.255.255.255"),
        ("::1", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("example.com", None),
        ("a-b.example.co.uk", None),
        ("xn--bcher-kva.de", None),
        ("host123", None),
    ],
)
def test_canonical_hosts_parse(host: str, expected: str | None) -> None:
    address = parse_host(host)
    assert (str(address) if address is not None else None) == expected


@pytest.mark.parametrize("host", ["exa mple.com", "a..b", "-bad.com", "bad-.com", "a/b", "::zz"])
def test_malformed_hosts_are_refused(host: str) -> None:
    with pytest.raises(EgressDenied) as err:
        parse_host(host)
    assert err.value.rule == "guard.host"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.1.1", "link_local"),
        ("fe80::1", "link_local"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("::ffff:127.0.0.1", "ipv4_mapped"),
        ("::ffff:8.8.8.8", "ipv4_mapped"),
        ("::127.0.0.1", "embedded_ipv4_loopback"),
        ("64:ff9b::a00:1", "embedded_ipv4_private"),
        ("2002:7f00:1::", "embedded_ipv4_loopback"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "teredo"),
        ("100.64.0.1", "non_global"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "private"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("64:ff9b::808:808", None),
    ],
)
def test_address_classes(address: str, reason: str | None) -> None:
    assert refusal(ipaddress.ip_address(address)) == reason


async def test_policy_allowed_addresses_open_exactly_what_they_list() -> None:
    policy = EgressPolicy(default="allow", allowed_addresses=("127.0.0.1", "10.0.0.0/8"))
    assert str(await checked_address(policy, "127.0.0.1", 80)) == "127.0.0.1"
    assert str(await checked_address(policy, "10.9.8.7", 80)) == "10.9.8.7"
    for host in ("127.0.0.2", "::1", "::ffff:127.0.0.1", "192.168.0.1"):
        with pytest.raises(EgressDenied):
            await checked_address(policy, host, 80)


async def test_metadata_needs_an_exact_entry_not_a_range() -> None:
    ranged = EgressPolicy(default="allow", allowed_addresses=("169.254.0.0/16",))
    assert str(await checked_address(ranged, "169.254.1.1", 80)) == "169.254.1.1"
    with pytest.raises(EgressDenied) as err:
        await checked_address(ranged, "169.254.169.254", 80)
    assert err.value.rule == "guard.metadata"
    exact = EgressPolicy(default="allow", allowed_addresses=("169.254.169.254",))
    assert str(await checked_address(exact, "169.254.169.254", 80)) == "169.254.169.254"


async def test_a_name_resolving_to_loopback_is_refused_after_resolution() -> None:
    with pytest.raises(EgressDenied) as err:
        await checked_address(OPEN, "localhost", 80)
    assert err.value.rule == "guard.loopback"
    assert "resolved from 'localhost'" in err.value.reason


async def test_a_name_resolving_to_an_allowed_address_connects_to_that_address() -> None:
    policy = EgressPolicy(default="allow", allowed_addresses=("127.0.0.0/8", "::1"))
    assert (await checked_address(policy, "localhost", 80)).is_loopback


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "169.254.169.254", "fd00:ec2::254", "::ffff:127.0.0.1", "::1"]
)
async def test_literals_are_checked_without_dns(host: str) -> None:
    with pytest.raises(EgressDenied):
        await checked_address(OPEN, host, 80)

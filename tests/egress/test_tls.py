"""TLS through the proxy: it connects to the checked address, yet SNI and certificate
verification use the host name (so pinning the address does not weaken TLS)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tenantflow.egress import EgressPolicy, EgressProxy, FetchRequest, UpstreamError
from tests.egress.conftest import make_ctx
from tests.egress.test_proxy import echoed
from tests.egress.upstream import Upstream


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


class _CA:
    """A throwaway certificate authority."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("tenantflow test CA"))
            .issuer_name(_name("tenantflow test CA"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def server_context(self, tmp: Path, names: list[x509.GeneralName]) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("upstream"))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        return context


@pytest.fixture(scope="module")
def ca() -> _CA:
    return _CA()


@pytest.fixture
def tls_upstream(ca: _CA, tmp_path: Path) -> Iterator[tuple[Upstream, list[str | None]]]:
    """An https upstream whose certificate names localhost and 127.0.0.1; records SNI."""
    context = ca.server_context(
        tmp_path,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    sni: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: sni.append(name)
    server = Upstream("127.0.0.1", tls=context)
    yield server, sni
    server.close()


def _policy(port: int) -> EgressPolicy:
    return EgressPolicy(
        allowed_hosts=("localhost", "127.0.0.1"),
        schemes=("https",),
        ports=(port,),
        allowed_addresses=("127.0.0.1",),
    )


async def test_tls_to_a_name_verifies_the_name_and_sends_it_as_sni(
    ca: _CA, tls_upstream: tuple[Upstream, list[str | None]]
) -> None:
    upstream, sni = tls_upstream
    verify = ssl.create_default_context(cadata=ca.pem())
    async with EgressProxy(verify=verify) as proxy:
        ctx = make_ctx(_policy(upstream.port))
        by_name = await proxy.fetch(ctx, FetchRequest(f"https://localhost:{upstream.port}/echo"))
        assert by_name.status == 200
        assert echoed(by_name.body)["host"] == f"localhost:{upstream.port}"
        assert sni[-1] == "localhost"
        by_address = await proxy.fetch(ctx, FetchRequest(upstream.url("/echo")))
        assert by_address.status == 200


async def test_a_certificate_for_another_name_is_refused(ca: _CA, tmp_path: Path) -> None:
    context = ca.server_context(tmp_path, [x509.DNSName("other.example")])
    upstream = Upstream("127.0.0.1", tls=context)
    try:
        verify = ssl.create_default_context(cadata=ca.pem())
        async with EgressProxy(verify=verify) as proxy:
            ctx = make_ctx(_policy(upstream.port))
            with pytest.raises(UpstreamError) as err:
                await proxy.fetch(ctx, FetchRequest(f"https://localhost:{upstream.port}/echo"))
            assert err.value.rule == "upstream"
    finally:
        upstream.close()


async def test_an_untrusted_certificate_is_refused(
    tls_upstream: tuple[Upstream, list[str | None]],
) -> None:
    upstream, _ = tls_upstream
    async with EgressProxy() as proxy:  # system trust store: the test CA is unknown
        with pytest.raises(UpstreamError):
            await proxy.fetch(
                make_ctx(_policy(upstream.port)),
                FetchRequest(f"https://localhost:{upstream.port}/echo"),
            )

"""Proxies and company networks: the standard proxy and CA-bundle variables, end to end.

Real servers on loopback only: the sandbox, ``proxy.py`` from PyPI (a real
forward proxy, in its own process), a small recording proxy of the tests' own
(:mod:`support.proxies`) and a TLS front whose certificate only a test CA
vouches for (:mod:`support.tls_front`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import PLANTED_SECRET, posts
from support.proxies import ForwardProxy, ProxyPy
from support.tls_front import Pki, TlsFront, make_pki

import loan_widgets.transport as transport_module
from loan_widgets import (
    ConfigurationError,
    ConnectError,
    LoanClient,
    OutcomeUnknown,
)
from loan_widgets.ledger import Ledger
from loan_widgets.proxies import bypassed, proxy_for
from loan_widgets.sandbox import DEMO_API_KEY, DEMO_API_SECRET, SandboxServer
from loan_widgets.transport import WRITE_REUSE_IDLE_S

NETWORK_VARIABLES = (
    "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
    "no_proxy", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE",
    "SSL_CERT_DIR", "REQUEST_METHOD",
)
BORROW = "/v5/crypto-loan/borrow"


@pytest.fixture(autouse=True)
def _no_network_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no proxy and no CA-bundle variable (the machine may set them)."""
    for name in NETWORK_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test root CA and a certificate it signs for localhost and 127.0.0.1."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def proxy_py(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyPy]:
    """proxy.py, the PyPI forward proxy, on an ephemeral loopback port."""
    with ProxyPy(tmp_path_factory.mktemp("proxy-py")) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def proxy_py_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyPy]:
    """proxy.py asking for credentials whose password is the planted secret."""
    with ProxyPy(tmp_path_factory.mktemp("proxy-py-auth"),
                 basic_auth=f"tester:{PLANTED_SECRET}") as proxy:
        yield proxy


@pytest.fixture
def tls_front(pki: Pki, server: SandboxServer) -> Iterator[TlsFront]:
    """TLS on 127.0.0.1 (certificate by the test CA) in front of the test's sandbox."""
    with TlsFront(pki, ("127.0.0.1", server.port)) as front:
        yield front


def make(base_url: str, ledger: Ledger, **options: object) -> LoanClient:
    """A client of the sandbox at ``base_url`` with the demo key."""
    return LoanClient(network="sandbox", base_url=base_url, api_key=DEMO_API_KEY,
                      api_secret=DEMO_API_SECRET, ledger=ledger, timeout=5.0,
                      **options)  # type: ignore[arg-type]


def dead_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_line(text: str) -> None:
    assert text and len(text.splitlines()) == 1 and not any(ord(c) < 32 for c in text), text


def signed_as_sent(record: object) -> None:
    """The signature that arrived is the HMAC of the body that arrived."""
    headers = record.headers  # type: ignore[attr-defined]
    message = (headers["x-bapi-timestamp"] + headers["x-bapi-api-key"]
               + headers["x-bapi-recv-window"]).encode() + record.body  # type: ignore[attr-defined]
    expected = hmac.new(DEMO_API_SECRET.encode(), message, hashlib.sha256).hexdigest()
    assert headers["x-bapi-sign"] == expected
    assert record.ret_code == 0  # type: ignore[attr-defined]  # the sandbox checked it too


class TestProxyPy:
    """Through proxy.py, a real forward proxy from PyPI, whose access log shows each request."""

    def test_borrow_through_the_proxy(self, proxy_py: ProxyPy, server: SandboxServer,
                                      exchange, ledger: Ledger,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
        """Borrows go through HTTP_PROXY: the proxy logs them, the bytes signed arrive.

        proxy.py logs the first request of each connection; a write after an idle pause
        opens a fresh connection, so the second borrow's POST is logged on its own.
        """
        monkeypatch.setenv("HTTP_PROXY", proxy_py.url)
        with make(server.base_url, ledger) as client:
            client.borrow("USDT", "550", "BTC")
            time.sleep(WRITE_REUSE_IDLE_S + 0.1)
            result = client.borrow("USDT", "551", "BTC")
        assert proxy_py.wait_for(rf"GET 127\.0\.0\.1:{server.port}/v5/market/time - 200")
        lines = proxy_py.wait_for(rf"POST 127\.0\.0\.1:{server.port}{BORROW} - 200")
        assert len(lines) == 1
        records = posts(exchange)
        rows = ledger.rows()
        assert [r.body for r in records] == [row.body.encode() for row in rows]
        assert rows[-1].order_id == result.order_id and len(rows) == 2
        for record in records:
            signed_as_sent(record)

    def test_no_proxy_covers_the_host(self, proxy_py: ProxyPy, server: SandboxServer,
                                      exchange, ledger: Ledger,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
        """With NO_PROXY=127.0.0.1 the proxy sees nothing of the borrow."""
        monkeypatch.setenv("HTTP_PROXY", proxy_py.url)
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        with make(server.base_url, ledger) as client:
            client.borrow("USDT", "550", "BTC")
        assert len(posts(exchange)) == 1
        # proxy.py logs in order: once a later request through it is logged, it logged all
        with SandboxServer() as other:
            monkeypatch.setenv("NO_PROXY", "")
            with make(other.base_url, ledger) as control:
                control.server_time()
            assert proxy_py.wait_for(rf"127\.0\.0\.1:{other.port}/v5/market/time")
        assert not [line for line in proxy_py.log() if f":{server.port}/" in line]

    def test_https_through_a_connect_tunnel(self, proxy_py: ProxyPy, tls_front: TlsFront,
                                            pki: Pki, exchange, ledger: Ledger,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
        """HTTPS_PROXY: CONNECT to the TLS server, TLS to it through the tunnel, borrow done."""
        monkeypatch.setenv("HTTPS_PROXY", proxy_py.url)
        monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
        with make(f"https://localhost:{tls_front.port}", ledger) as client:
            client.borrow("USDT", "550", "BTC")
        assert proxy_py.wait_for(rf"CONNECT localhost:{tls_front.port}")
        [record] = posts(exchange)
        signed_as_sent(record)
        assert tls_front.handshakes >= 1 and [r.status for r in ledger.rows()] == ["accepted"]

    def test_proxy_credentials(self, proxy_py_auth: ProxyPy, server: SandboxServer, exchange,
                               ledger: Ledger, monkeypatch: pytest.MonkeyPatch,
                               caplog: pytest.LogCaptureFixture) -> None:
        """Credentials in the proxy URL are sent to the proxy and never shown anywhere."""
        caplog.set_level(logging.DEBUG)
        url = proxy_py_auth.url.replace("//", f"//tester:{PLANTED_SECRET}@")
        monkeypatch.setenv("HTTP_PROXY", url)
        with make(server.base_url, ledger) as client:
            client.borrow("USDT", "550", "BTC")
            route = client.transport.route("http", "127.0.0.1", server.port)  # type: ignore[attr-defined]
            texts = [repr(client), repr(route.proxy), route.via, repr(client.transport)]
        assert proxy_py_auth.wait_for(rf"GET 127\.0\.0\.1:{server.port}/v5/market/time - 200")
        assert "***:***@127.0.0.1" in route.via
        texts += [r.getMessage() for r in caplog.records]
        ledger.close()
        blob = b"".join(p.read_bytes() for p in ledger.path.parent.glob(ledger.path.name + "*"))
        assert PLANTED_SECRET not in "\n".join(texts) and PLANTED_SECRET.encode() not in blob
        assert len(posts(exchange)) == 1

    @pytest.mark.parametrize("scheme", ["http", "https"])
    def test_wrong_credentials(self, scheme: str, proxy_py_auth: ProxyPy, tls_front: TlsFront,
                               pki: Pki, server: SandboxServer, exchange, ledger: Ledger,
                               monkeypatch: pytest.MonkeyPatch) -> None:
        """A proxy refusing the credentials (407) is a ConnectError: nothing reached the
        exchange, the row is 'failed', the password is not in the message."""
        url = proxy_py_auth.url.replace("//", "//tester:wrong-" + PLANTED_SECRET + "@")
        monkeypatch.setenv(f"{scheme.upper()}_PROXY", url)
        monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
        base = server.base_url if scheme == "http" else f"https://localhost:{tls_front.port}"
        with make(base, ledger) as client, pytest.raises(ConnectError) as info:
            client.borrow("USDT", "550", "BTC")
        text = str(info.value)
        one_line(text)
        assert "407" in text and "nothing was sent" in text and PLANTED_SECRET not in text
        assert not list(exchange.requests)
        assert [r.status for r in ledger.rows()] == ["failed"]


class TestRecordingProxy:
    """Through a recording proxy of the tests' own: what it saw, and what it did wrong."""

    def test_bytes_signed_are_bytes_relayed(self, server: SandboxServer, exchange,
                                            ledger: Ledger,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
        """The body the proxy relayed is the body recorded, signed and received."""
        with ForwardProxy() as proxy:
            monkeypatch.setenv("http_proxy", proxy.url)
            with make(server.base_url, ledger) as client:
                client.borrow("USDT", "550", "BTC")
        [sent] = [s for s in proxy.seen if s.method == "POST"]
        assert sent.target == f"http://127.0.0.1:{server.port}{BORROW}"
        assert sent.headers["host"] == f"127.0.0.1:{server.port}"
        [record] = posts(exchange)
        assert sent.body == record.body == ledger.rows()[0].body.encode()
        assert sent.headers["x-bapi-sign"] == record.headers["x-bapi-sign"]
        signed_as_sent(record)

    @pytest.mark.parametrize("no_proxy", [
        "127.0.0.1", "127.0.0.0/8", "*", "localhost, 127.0.0.1", "{port}", ".example.test,*",
    ])
    def test_no_proxy_forms(self, no_proxy: str, server: SandboxServer, ledger: Ledger,
                            monkeypatch: pytest.MonkeyPatch) -> None:
        """Each NO_PROXY form that covers 127.0.0.1 keeps the proxy out entirely."""
        with ForwardProxy() as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            value = no_proxy.replace("{port}", f"127.0.0.1:{server.port}")
            monkeypatch.setenv("NO_PROXY", value)
            with make(server.base_url, ledger) as client:
                client.borrow("USDT", "550", "BTC")
            assert proxy.seen == [] and proxy.connections == 0

    @pytest.mark.parametrize("no_proxy", [
        "localhost", "127.0.0.2", "10.0.0.0/8", "127.0.0.1:1", "0.0.1", "example.test",
    ])
    def test_no_proxy_that_does_not_cover(self, no_proxy: str, server: SandboxServer,
                                          ledger: Ledger,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
        """Loopback goes through the proxy unless NO_PROXY names it (names are not resolved)."""
        with ForwardProxy() as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            monkeypatch.setenv("NO_PROXY", no_proxy)
            with make(server.base_url, ledger) as client:
                client.borrow("USDT", "550", "BTC")
            assert [s.method for s in proxy.seen].count("POST") == 1

    @pytest.mark.parametrize("variables", [
        {"http_proxy": "{proxy}", "HTTP_PROXY": "http://127.0.0.1:{dead}"},
        {"ALL_PROXY": "{proxy}"},
        {"all_proxy": "127.0.0.1:{proxy_port}"},
    ], ids=["lower-case-wins", "all-proxy", "no-scheme"])
    def test_which_variable(self, variables: dict[str, str], server: SandboxServer,
                            ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
        """Lower case wins over upper case; ALL_PROXY serves when no scheme's variable is set;
        a proxy without a scheme is http://."""
        with ForwardProxy() as proxy:
            for name, value in variables.items():
                monkeypatch.setenv(name, value.format(
                    proxy=proxy.url, dead=dead_port(), proxy_port=proxy.server_address[1]))
            with make(server.base_url, ledger) as client:
                client.borrow("USDT", "550", "BTC")
            assert any(s.method == "POST" for s in proxy.seen)

    def test_empty_lower_case_unsets(self, server: SandboxServer, ledger: Ledger,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
        """http_proxy='' overrides HTTP_PROXY: the request goes direct."""
        with ForwardProxy() as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            monkeypatch.setenv("http_proxy", "")
            with make(server.base_url, ledger) as client:
                client.borrow("USDT", "550", "BTC")
            assert proxy.seen == []

    def test_tunnel_hides_the_order(self, pki: Pki, tls_front: TlsFront, exchange,
                                    ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
        """Through CONNECT the proxy sees the host name only: no path, header, key or body."""
        monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
        with ForwardProxy() as proxy:
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
            with make(f"https://localhost:{tls_front.port}", ledger) as client:
                client.borrow("USDT", "550", "BTC")
            assert {(s.method, s.target) for s in proxy.seen} == {
                ("CONNECT", f"localhost:{tls_front.port}")}
            assert not any(k.startswith("x-bapi") for s in proxy.seen for k in s.headers)
            tunnelled = bytes(proxy.tunnelled)
        assert len(tunnelled) > 500 and b"loanCurrency" not in tunnelled
        assert DEMO_API_KEY.encode() not in tunnelled
        assert len(posts(exchange)) == 1

    def test_proxy_drops_the_order(self, server: SandboxServer, exchange, ledger: Ledger,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
        """The proxy takes the POST and closes: outcome unknown (it may have gone on)."""
        with ForwardProxy(drop_methods={"POST"}) as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            with make(server.base_url, ledger) as client, pytest.raises(OutcomeUnknown) as info:
                client.borrow("USDT", "550", "BTC")
            assert [s.method for s in proxy.seen].count("POST") == 1
        one_line(str(info.value))
        assert "through the proxy http://127.0.0.1:" in str(info.value)
        assert [r.status for r in ledger.rows()] == ["unknown"]
        assert posts(exchange) == []

    def test_proxy_down(self, server: SandboxServer, exchange, ledger: Ledger,
                        monkeypatch: pytest.MonkeyPatch) -> None:
        """No proxy listening: ConnectError naming it and NO_PROXY, row 'failed', nothing sent."""
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_port()}")
        with make(server.base_url, ledger) as client, pytest.raises(ConnectError) as info:
            client.borrow("USDT", "550", "BTC")
        text = str(info.value)
        one_line(text)
        assert "through the proxy http://127.0.0.1:" in text and "NO_PROXY" in text
        assert "nothing was sent" in text
        assert [r.status for r in ledger.rows()] == ["failed"] and not list(exchange.requests)

    @pytest.mark.parametrize("url", [
        "socks5://127.0.0.1:1080", "https://proxy.example.test:3128",
        f"socks5h://user:{PLANTED_SECRET}@127.0.0.1:1080", f"http://user:{PLANTED_SECRET}@[::1",
    ])
    def test_unusable_proxy_url(self, url: str, server: SandboxServer, exchange,
                                ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
        """A proxy URL the client cannot use: one line naming the variable, nothing sent."""
        monkeypatch.setenv("HTTP_PROXY", url)
        with make(server.base_url, ledger) as client, pytest.raises(ConfigurationError) as info:
            client.borrow("USDT", "550", "BTC")
        text = str(info.value)
        one_line(text)
        assert text.startswith("HTTP_PROXY=") and PLANTED_SECRET not in text
        assert not list(exchange.requests)

    def test_write_after_idle_opens_a_new_connection(self, server: SandboxServer,
                                                     ledger: Ledger,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
        """Through a proxy too, a write after an idle pause goes out on a fresh connection."""
        with ForwardProxy() as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            with make(server.base_url, ledger) as client:
                client.borrow("USDT", "550", "BTC")
                first = proxy.connections
                time.sleep(WRITE_REUSE_IDLE_S + 0.1)
                client.borrow("USDT", "551", "BTC")
            assert first == 1 and proxy.connections == 2

    def test_route_is_read_once_per_host(self, server: SandboxServer, ledger: Ledger,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
        """The proxy variables are read on a host's first request, not on every call;
        close() makes the client read them again."""
        calls: list[tuple[str, str, int]] = []

        def counted(scheme: str, host: str, port: int, proxies: object = None) -> object:
            calls.append((scheme, host, port))
            return proxy_for(scheme, host, port, proxies)  # type: ignore[arg-type]

        monkeypatch.setattr(transport_module, "proxy_for", counted)
        with ForwardProxy() as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            with make(server.base_url, ledger) as client:
                for amount in ("550", "551", "552", "553"):
                    client.borrow("USDT", amount, "BTC")
                assert calls == [("http", "127.0.0.1", server.port)]
                seen = len(proxy.seen)
                monkeypatch.setenv("NO_PROXY", "127.0.0.1")
                client.borrow("USDT", "554", "BTC")
                assert len(proxy.seen) == seen + 1  # the route is kept until close()
                client.close()
                client.borrow("USDT", "555", "BTC")
            assert len(proxy.seen) == seen + 1 and len(calls) == 2


class TestNoProxyCost:
    """Without proxy variables the proxy machinery costs a call nothing."""

    def test_no_variables_no_urllib(self, tmp_path: Path) -> None:
        """A borrow with no *_proxy variable never imports urllib.request (a fresh process)."""
        import os
        import subprocess
        import sys

        code = (
            "import sys\n"
            "from loan_widgets import LoanClient\n"
            "from loan_widgets.sandbox import DEMO_API_KEY, DEMO_API_SECRET, SandboxServer\n"
            "with SandboxServer() as s, LoanClient(network='sandbox', base_url=s.base_url,\n"
            "        api_key=DEMO_API_KEY, api_secret=DEMO_API_SECRET) as c:\n"
            "    c.borrow('USDT', '550', 'BTC')\n"
            "print('urllib.request' in sys.modules, 'loan_widgets.proxies' in sys.modules)\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env["LOAN_WIDGETS_LEDGER"] = str(tmp_path / "ledger.sqlite3")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, check=True, timeout=120)
        assert out.stdout.split() == ["False", "True"]


class TestCaBundle:
    """A TLS server only a test CA vouches for, as behind a network that inspects TLS."""

    @pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE",
                                          "CURL_CA_BUNDLE"])
    def test_bundle_variable(self, variable: str, pki: Pki, tls_front: TlsFront, exchange,
                             ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
        """Naming the CA in any of the variables makes the borrow go through."""
        monkeypatch.setenv(variable, str(pki.ca))
        with make(f"https://localhost:{tls_front.port}", ledger) as client:
            client.borrow("USDT", "550", "BTC")
        assert tls_front.handshakes >= 1 and len(posts(exchange)) == 1

    def test_folder_of_certificates(self, pki: Pki, tls_front: TlsFront, exchange,
                                    ledger: Ledger, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
        """SSL_CERT_DIR: a folder of hashed certificates (OpenSSL's c_rehash layout)."""
        from cryptography import x509

        folder = tmp_path / "certs"
        folder.mkdir()
        ca = x509.load_pem_x509_certificate(pki.ca.read_bytes())
        name_hash = _subject_hash(ca)
        (folder / f"{name_hash}.0").write_bytes(pki.ca.read_bytes())
        monkeypatch.setenv("SSL_CERT_DIR", str(folder))
        with make(f"https://localhost:{tls_front.port}", ledger) as client:
            client.borrow("USDT", "550", "BTC")
        assert len(posts(exchange)) == 1

    def test_requests_bundle_wins(self, pki: Pki, tls_front: TlsFront, exchange,
                                  ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
        """REQUESTS_CA_BUNDLE is read before SSL_CERT_FILE."""
        import certifi

        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca))
        monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
        with make(f"https://localhost:{tls_front.port}", ledger) as client:
            client.borrow("USDT", "550", "BTC")
        assert len(posts(exchange)) == 1

    def test_not_trusted_without_it(self, tls_front: TlsFront, exchange, ledger: Ledger) -> None:
        """Without the CA: a one-line ConnectError that names the variables, nothing sent."""
        with make(f"https://localhost:{tls_front.port}", ledger) as client, pytest.raises(
            ConnectError
        ) as info:
            client.borrow("USDT", "550", "BTC")
        text = str(info.value)
        one_line(text)
        assert "certificate" in text and "SSL_CERT_FILE" in text and "certifi" in text
        assert "nothing was sent" in text
        assert not list(exchange.requests) and tls_front.handshakes == 0
        assert [r.status for r in ledger.rows()] == ["failed"]

    def test_host_name_is_checked(self, tmp_path: Path, server: SandboxServer, exchange,
                                  ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
        """A certificate for another name is refused, directly and through a CONNECT tunnel."""
        only_localhost = make_pki(tmp_path / "pki", names=("localhost",))
        monkeypatch.setenv("SSL_CERT_FILE", str(only_localhost.ca))
        with TlsFront(only_localhost, ("127.0.0.1", server.port)) as front:
            with make(f"https://127.0.0.1:{front.port}", ledger) as client, pytest.raises(
                ConnectError, match="certificate"
            ):
                client.server_time()
            with ForwardProxy() as proxy:
                monkeypatch.setenv("HTTPS_PROXY", proxy.url)
                with make(f"https://127.0.0.1:{front.port}", ledger) as client, pytest.raises(
                    ConnectError, match="certificate"
                ) as info:
                    client.server_time()
                assert ("CONNECT", f"127.0.0.1:{front.port}") in {
                    (s.method, s.target) for s in proxy.seen}
        one_line(str(info.value))
        assert "through the proxy" in str(info.value) and not list(exchange.requests)

    @pytest.mark.parametrize("content", [None, b"not a certificate\n"], ids=["missing", "junk"])
    def test_unusable_bundle(self, content: bytes | None, tmp_path: Path, tls_front: TlsFront,
                             exchange, ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
        """A bundle that is missing or holds no certificate: one line naming the variable."""
        bundle = tmp_path / "bundle.pem"
        if content is not None:
            bundle.write_bytes(content)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
        with make(f"https://localhost:{tls_front.port}", ledger) as client, pytest.raises(
            ConfigurationError
        ) as info:
            client.server_time()
        one_line(str(info.value))
        assert str(info.value).startswith(f"REQUESTS_CA_BUNDLE={bundle}")
        assert tls_front.handshakes == 0 and not list(exchange.requests)


def _subject_hash(cert: object) -> str:
    """OpenSSL's subject-name hash of a certificate, as ``c_rehash`` names its files."""
    import subprocess

    out = subprocess.run(["openssl", "x509", "-noout", "-subject_hash"], check=True,
                         input=cert.public_bytes(_pem()), capture_output=True)  # type: ignore[attr-defined]
    return out.stdout.decode().strip()


def _pem() -> object:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.PEM


class TestNoProxyMatching:
    """NO_PROXY entries as curl and requests read them (no socket)."""

    @pytest.mark.parametrize(("host", "port", "no_proxy", "expected"), [
        ("api.bybit.com", 443, "bybit.com", True),
        ("api.bybit.com", 443, ".bybit.com", True),
        ("api.bybit.com", 443, "*.bybit.com", True),
        ("bybit.com", 443, ".bybit.com", True),
        ("notbybit.com", 443, "bybit.com", False),
        ("api.bybit.com", 443, "API.BYBIT.COM.", True),
        ("api.bybit.com", 443, "api.bybit.com:443", True),
        ("api.bybit.com", 443, "api.bybit.com:8443", False),
        ("api.bybit.com", 443, "*", True),
        ("api.bybit.com", 443, "a.test, *", True),
        ("api.bybit.com", 443, "", False),
        ("api.bybit.com", 443, " , ", False),
        ("10.1.2.3", 443, "10.0.0.0/8", True),
        ("11.1.2.3", 443, "10.0.0.0/8", False),
        ("127.0.0.1", 80, "127.0.0.1", True),
        ("127.0.0.1", 80, "localhost", False),
        ("localhost", 80, "127.0.0.1", False),
        ("127.0.0.1", 80, "0.0.1", False),
        ("127.0.0.1", 8080, "127.0.0.1:8080", True),
        ("127.0.0.1", 8081, "127.0.0.1:8080", False),
        ("::1", 80, "::1", True),
        ("::1", 80, "[::1]", True),
        ("::1", 8080, "[::1]:8080", True),
        ("::1", 80, "::/0", True),
        ("::1", 80, "127.0.0.0/8", False),
        ("fe80::1", 80, "fe80::/10", True),
        ("api.bybit.com", 443, "bybit.com other.test", True),
    ])
    def test_entry(self, host: str, port: int, no_proxy: str, expected: bool) -> None:
        """One host against one NO_PROXY value."""
        assert bypassed(host, port, no_proxy) is expected

    def test_scheme_variables(self) -> None:
        """https uses https then all; http uses http then all; NO_PROXY wins over both."""
        found = {"https": "http://s.test:1", "http": "http://h.test:2", "all": "a.test:3"}
        assert proxy_for("https", "x.test", 443, found).host == "s.test"  # type: ignore[union-attr]
        assert proxy_for("http", "x.test", 80, found).port == 2  # type: ignore[union-attr]
        only_all = {"all": "a.test"}
        assert proxy_for("https", "x.test", 443, only_all).port == 80  # type: ignore[union-attr]
        assert proxy_for("https", "x.test", 443, {**found, "no": "x.test"}) is None
        assert proxy_for("https", "x.test", 443, {}) is None

    def test_credentials_are_decoded_and_masked(self) -> None:
        """user:p%40ss becomes Basic base64('user:p@ss'); repr and messages mask it."""
        proxy = proxy_for("https", "x.test", 443, {"https": "http://user:p%40ss@p.test:3128"})
        assert proxy is not None
        assert proxy.headers == {"Proxy-Authorization": "Basic dXNlcjpwQHNz"}
        assert "p@ss" not in repr(proxy) and "user" not in repr(proxy)
        assert proxy.shown == "http://***:***@p.test:3128"

    def test_cgi_request_ignores_upper_case_http_proxy(self, monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
        """Inside a CGI request (REQUEST_METHOD set) HTTP_PROXY may come from a client's
        header: it is ignored, as the standard library does (CVE-2016-1000110)."""
        monkeypatch.setenv("HTTP_PROXY", "http://evil.test:1")
        monkeypatch.setenv("REQUEST_METHOD", "GET")
        assert proxy_for("http", "127.0.0.1", 80) is None

"""The secret scan at the edges: proxy credentials, user info in URLs, key-file mix-ups, and
an exchange that echoes the API key back.

The planted credentials of :mod:`support.scan` (the HMAC secret, the full API key, slices of
an RSA key's PEM) plus a planted proxy password (as typed, and as the ``Proxy-Authorization``
Base64 it becomes) are looked for in the magics' output, exception chains (suppressed
contexts too), reprs, root logging at DEBUG, the ledger file, the profiles file and the
output of ``python -m loan_widgets keys``. Each test also checks that the session really
went through the proxy, reached the exchange or was refused before anything was sent.
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
from support import PLANTED_KEY, PLANTED_SECRET, keyring_env, posts
from support.proxies import ForwardProxy
from support.scan import PlantedRsa, Scan, every_repr, ledger_bytes, make_planted_rsa, needles_for

from loan_widgets import LoanClient, LoanWidgetsError
from loan_widgets.ledger import default_ledger
from loan_widgets.sandbox import Sandbox, SandboxServer

BORROW = "/v5/crypto-loan/borrow"
LIMITS = "/v5/crypto-loan/borrowable-collateralisable-number"
PROXY_USER = "tester"
PROXY_PASS = "PROXY-PASS-93b1e7c4"
WRONG_PASS = "WRONG-PASS-5d20aa17"


@pytest.fixture(scope="module")
def planted_rsa() -> PlantedRsa:
    """One RSA key for the module."""
    return make_planted_rsa()


def proxy_needles(rsa_key: PlantedRsa) -> dict[str, str]:
    """The planted credentials, and both proxy passwords as typed and as Basic credentials."""
    needles = needles_for(rsa_key)
    for name, password in (("proxy password", PROXY_PASS), ("wrong proxy password", WRONG_PASS)):
        needles[name] = password
        basic = base64.b64encode(f"{PROXY_USER}:{password}".encode()).decode()
        needles[f"{name} (Basic)"] = basic
    return needles


def run_cell(ip: Any, scan: Scan, cell: str) -> Any:
    """Run one cell; keep what it printed, displayed, returned and raised (whole chain)."""
    with capture_output() as captured:
        result = ip.run_cell(cell, store_history=False)
    scan.add("output", captured.stdout + captured.stderr)
    for output in captured.outputs:
        scan.add("output", output.data)
    if result.result is not None:
        every_repr(scan, result.result, "output")
    error = result.error_in_exec or result.error_before_exec
    if error is not None:
        scan.add_error("exceptions", error)
    return result


def keep_logs(scan: Scan, caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        scan.add("logs", logging.Formatter().format(record))
        scan.add("logs", {k: repr(v) for k, v in vars(record).items()})


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_credentials(url: str, password: str) -> str:
    return url.replace("//", f"//{PROXY_USER}:{password}@", 1)


@pytest.fixture
def through_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback goes through a proxy too: no NO_PROXY, no other proxy variable."""
    for name in ("no_proxy", "NO_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY", "http_proxy", "HTTP_PROXY", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("through_proxies")
class TestProxyCredentials:
    """A proxy URL with credentials: accepted, refused (407), down, dropping an order."""

    def test_session_through_an_authenticating_proxy(
        self, ip, exchange: Sandbox, monkeypatch: pytest.MonkeyPatch, caplog, planted_rsa
    ) -> None:
        """Neither proxy password (nor its Basic form), the secret or the key shows anywhere;
        the proxy saw the credentials and the orders."""
        caplog.set_level(logging.DEBUG)
        monkeypatch.setenv("BYBIT_API_KEY", PLANTED_KEY)
        monkeypatch.setenv("BYBIT_API_SECRET", PLANTED_SECRET)
        scan = Scan(proxy_needles(planted_rsa))
        ip.run_line_magic("config", 'BorrowMagics.network = "testnet"')
        with ForwardProxy(credentials=f"{PROXY_USER}:{PROXY_PASS}") as proxy:
            monkeypatch.setenv("HTTP_PROXY", with_credentials(proxy.url, PROXY_PASS))
            for cell in ("r = %borrow USDT 550 BTC", "r", "%loans", "%borrow USDT 5 BTC",
                         "%borrow USDT 550 BTC --dry-run"):
                run_cell(ip, scan, cell)
            proxy.drop_methods = frozenset({"POST"})
            run_cell(ip, scan, "%borrow USDT 551 BTC")  # the proxy takes it and hangs up
            proxy.drop_methods = frozenset()
            client = LoanClient(network="testnet")
            for obj in (client, client.transport, client.settings, client.credentials):
                every_repr(scan, obj, "reprs")
            route = client.transport.route("http", "127.0.0.1", proxy.port)  # type: ignore[attr-defined]
            scan.add("reprs", [repr(route.proxy), route.via, route.where])
            monkeypatch.setenv("HTTP_PROXY", with_credentials(proxy.url, WRONG_PASS))
            run_cell(ip, scan, "%borrow USDT 552 BTC")  # 407
            ip.run_line_magic("xmode", "Verbose")
            try:
                run_cell(ip, scan, "import loan_widgets as lw\n"
                                   "lw.LoanClient(network='testnet').borrow('USDT', '553', 'BTC')")
            finally:
                ip.run_line_magic("xmode", "Context")
        monkeypatch.setenv("HTTP_PROXY", with_credentials(f"http://127.0.0.1:{dead_port()}",
                                                          PROXY_PASS))
        run_cell(ip, scan, "%borrow USDT 554 BTC")  # proxy down
        keep_logs(scan, caplog)
        ledger = default_ledger()
        scan.add("ledger file", ledger_bytes(ledger.path))

        basic = "Basic " + base64.b64encode(f"{PROXY_USER}:{PROXY_PASS}".encode()).decode()
        assert {s.headers.get("proxy-authorization") for s in proxy.seen} >= {basic}
        assert [r.status for r in ledger.rows()] == ["accepted", "rejected", "unknown", "failed",
                                                     "failed", "failed"]
        assert len(posts(exchange)) == 2  # the dropped order, the 407s and the dead proxy: none
        assert all("proxy-authorization" not in r.headers for r in exchange.requests)
        output = scan.text("output")
        for expected in ("Loan accepted", "177009", "outcome unknown", "407",
                         "http://***:***@127.0.0.1:", "Dry run: nothing was sent",
                         "could not connect"):
            assert expected in output, expected
        assert "407" in scan.text("exceptions") and len(caplog.records) > 10
        scan.assert_clean({"output", "exceptions", "reprs", "logs", "ledger file"})

    @pytest.mark.parametrize("password", [
        f"{PROXY_PASS}/x", f"x/{PROXY_PASS}", f"{PROXY_PASS}#x", f"{PROXY_PASS}?x",
        f"{PROXY_PASS}@x", f"{PROXY_PASS}\\x", f"{PROXY_PASS}:x/y",
    ], ids=["slash", "slash-first", "hash", "question", "at", "backslash", "colon-slash"])
    @pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
    def test_password_with_url_characters(
        self, ip, exchange: Sandbox, monkeypatch: pytest.MonkeyPatch, password: str,
        variable: str, planted_rsa,
    ) -> None:
        """A password with a character URLs give a meaning to: refused in one masked line that
        says to percent-encode it (or used, when it parses), never shown; nothing sent."""
        with ForwardProxy(credentials=f"{PROXY_USER}:{password}") as proxy:
            monkeypatch.setenv(variable, with_credentials(proxy.url, password))
            scan = Scan({**proxy_needles(planted_rsa), "password": PROXY_PASS})
            result = run_cell(ip, scan, "%borrow USDT 550 BTC")
            error = result.error_in_exec
            if error is not None:
                assert isinstance(error, UsageError), repr(error)
                text = str(error)
                assert len(text.splitlines()) == 1 and variable.upper() in text.upper()
                assert "percent-encode" in text or "407" in text, text
                assert exchange.count() == 0 or "407" in text
            else:
                assert len(posts(exchange)) == 1  # it parsed: the proxy let it through
        scan.assert_clean({"output"})


# --------------------------------------------------------------------------- user info in URLs


USER_INFO_URLS = [
    f"https://user:{PLANTED_SECRET}/x@api-testnet.bybit.com",
    f"https://user:x/{PLANTED_SECRET}@api-testnet.bybit.com",
    f"https://user:{PLANTED_SECRET}#x@api-testnet.bybit.com",
    f"https://user:{PLANTED_SECRET}?x@api-testnet.bybit.com",
    f"https://user:{PLANTED_SECRET}@x@api-testnet.bybit.com",
    f"https://{PLANTED_SECRET}@api-testnet.bybit.com:443/",
    f"http://user:{PLANTED_SECRET}/@127.0.0.1:8080",
    f"https://user:{PLANTED_SECRET}@api-testnet.bybit.com:99999",
    f"https://user:{PLANTED_SECRET}@api-testnet.bybit.com/ x",
    f"user:{PLANTED_SECRET}@api-testnet.bybit.com",
]


class TestUserInfoInUrls:
    """A base URL or a profile host carrying user info: one masked line, nothing sent."""

    @pytest.mark.parametrize("url", USER_INFO_URLS, ids=range(len(USER_INFO_URLS)))
    def test_every_way_in(self, url: str, ip, exchange: Sandbox, monkeypatch, caplog,
                          keyring_file, tmp_path: Path, planted_rsa) -> None:
        """The variable, the argument, %config and %loan_keys add --host: the secret is in no
        message, exception chain or log; nothing is sent, stored or recorded."""
        caplog.set_level(logging.DEBUG)
        scan = Scan(needles_for(planted_rsa))
        monkeypatch.setenv("LOAN_WIDGETS_BASE_URL", url)
        run_cell(ip, scan, "%borrow USDT 550 BTC --network testnet")
        run_cell(ip, scan, "%loans --network testnet")
        monkeypatch.delenv("LOAN_WIDGETS_BASE_URL")
        ip.user_ns["url"] = url  # the cells below name it; a traceback shows their source
        run_cell(ip, scan, "%config BorrowMagics.base_url = url")
        run_cell(ip, scan, "%loan_keys add planted --network testnet --no-check --host \"$url\"")
        try:
            LoanClient(network="testnet", base_url=url, api_key=PLANTED_KEY,
                       api_secret=PLANTED_SECRET)
        except LoanWidgetsError as error:
            scan.add_error("exceptions", error)
        keep_logs(scan, caplog)
        messages = [line for line in scan.text("output").splitlines() if "Error" in line]
        assert len(messages) >= 3 and all("***@" in m or "host" in m for m in messages), messages
        assert exchange.count() == 0 and default_ledger().count() == 0
        assert not (tmp_path / "config" / "profiles.json").exists()
        scan.assert_clean({"output", "exceptions"})


# --------------------------------------------------------------------------- key-file mix-ups


class TestKeyFileMixUps:
    """The key pasted where its file's path goes, the secret as a path, an encrypted key."""

    @pytest.mark.parametrize("value", ["pem", "secret", "pem-one-line"])
    def test_variable_holds_the_key_itself(
        self, value: str, ip, exchange: Sandbox, monkeypatch, caplog, planted_rsa
    ) -> None:
        """BYBIT_API_PRIVATE_KEY_FILE holding the PEM (or the secret): a one-line error that
        says it wants a path, the value in no message or exception chain; nothing sent."""
        caplog.set_level(logging.DEBUG)
        pem = planted_rsa.private_pem.decode()
        given = {"pem": pem, "secret": PLANTED_SECRET,
                 "pem-one-line": " ".join(pem.split("\n"))}[value]
        monkeypatch.setenv("BYBIT_API_KEY", PLANTED_KEY)
        monkeypatch.setenv("BYBIT_API_PRIVATE_KEY_FILE", given)
        scan = Scan(needles_for(planted_rsa))
        for cell in ("%borrow USDT 550 BTC --network testnet", "%loans --network testnet",
                     "from loan_widgets import LoanClient\n"
                     "LoanClient(network='testnet').borrow('USDT', '550', 'BTC')"):
            result = run_cell(ip, scan, cell)
            assert result.error_in_exec is not None
        first = str(run_cell(ip, scan, "%borrow USDT 550 BTC --network testnet").error_in_exec)
        assert len(first.splitlines()) == 1 and "BYBIT_API_PRIVATE_KEY_FILE" in first
        if value != "secret":
            assert "path" in first, first
        keep_logs(scan, caplog)
        assert posts(exchange) == [] and default_ledger().count() == 0
        scan.assert_clean({"output", "exceptions"})

    @pytest.mark.parametrize("content", ["secret", "encrypted"])
    def test_key_file_holds_something_else(
        self, content: str, tmp_path: Path, ip, exchange: Sandbox, monkeypatch, planted_rsa
    ) -> None:
        """A key file holding the HMAC secret, or an encrypted key: its content is in no
        message or exception chain."""
        from cryptography.hazmat.primitives import serialization

        key_file = tmp_path / "key.pem"
        needles = needles_for(planted_rsa)
        if content == "secret":
            key_file.write_text(PLANTED_SECRET + "\n")
        else:
            key = serialization.load_pem_private_key(planted_rsa.private_pem, None)
            data = key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.BestAvailableEncryption(b"passphrase"))
            key_file.write_bytes(data)
            body = "".join(data.decode().splitlines()[1:-1])
            needles |= {f"encrypted PEM [{i}:{i + 40}]": body[i:i + 40] for i in (100, 900)}
        monkeypatch.setenv("BYBIT_API_KEY", PLANTED_KEY)
        monkeypatch.setenv("BYBIT_API_PRIVATE_KEY_FILE", str(key_file))
        scan = Scan(needles)
        result = run_cell(ip, scan, "%borrow USDT 550 BTC --network testnet")
        assert isinstance(result.error_in_exec, UsageError)
        assert len(str(result.error_in_exec).splitlines()) == 1
        assert posts(exchange) == [] and default_ledger().count() == 0
        scan.assert_clean({"output", "exceptions"})

    def test_keys_add_with_the_key_as_its_path(self, ip, exchange: Sandbox, keyring_file,
                                               tmp_path: Path, planted_rsa) -> None:
        """%loan_keys add --private-key-file with the PEM itself: refused in one line that
        never shows it; nothing stored."""
        pem_line = " ".join(planted_rsa.private_pem.decode().split("\n")).strip()
        scan = Scan(needles_for(planted_rsa))
        ip.user_ns["pem_line"] = pem_line  # pasted into a variable, as a user would
        result = run_cell(
            ip, scan, '%loan_keys add rsa --network testnet --no-check --private-key-file '
                      '"$pem_line"',
        )
        assert isinstance(result.error_in_exec, UsageError)
        assert "path" in str(result.error_in_exec)
        assert not (tmp_path / "config" / "profiles.json").exists()
        scan.assert_clean({"output", "exceptions"})


# --------------------------------------------------------------------------- an echoed key


def echo_of(key: str) -> str:
    """A 10004 retMsg in the shape Bybit has sent it: the string-to-sign, key included."""
    return f"error sign! origin_string[1748384960159{key}5000{{\"loanCurrency\":\"USDT\"}}]"


class TestEchoedKey:
    """An exchange answer that repeats the full API key: the key is masked everywhere."""

    def test_magics_client_and_ledger(self, ip, exchange: Sandbox, monkeypatch, caplog,
                                      planted_rsa) -> None:
        """%borrow, %loans and the client refused with the key echoed in retMsg: output,
        exception chains, logs and the ledger show it masked only."""
        caplog.set_level(logging.DEBUG)
        monkeypatch.setenv("BYBIT_API_KEY", PLANTED_KEY)
        monkeypatch.setenv("BYBIT_API_SECRET", PLANTED_SECRET)
        scan = Scan(needles_for(planted_rsa))
        exchange.faults.inject(BORROW, "retcode", times=2, code=10004, msg=echo_of(PLANTED_KEY))
        for cell in ("%borrow USDT 550 BTC --network testnet",
                     "from loan_widgets import LoanClient\n"
                     "LoanClient(network='testnet').borrow('USDT', '551', 'BTC')"):
            run_cell(ip, scan, cell)
        exchange.faults.inject("/v5/crypto-loan/ongoing-orders", "retcode", times=5,
                               code=10004, msg=echo_of(PLANTED_KEY))
        run_cell(ip, scan, "%loans --network testnet")
        keep_logs(scan, caplog)
        ledger = default_ledger()
        scan.add("ledger file", ledger_bytes(ledger.path))
        rows = ledger.rows()
        assert len(rows) == 2 and all("origin_string[1748384960159PL***42" in (r.ret_msg or "")
                                      for r in rows)
        assert scan.text("output").count("origin_string[1748384960159PL***42") >= 3
        assert len(posts(exchange)) == 2
        scan.assert_clean({"output", "exceptions", "logs", "ledger file"})

    def test_loan_keys_add_refused(self, ip, exchange: Sandbox, keyring_file, monkeypatch,
                                   tmp_path: Path, planted_rsa) -> None:
        """%loan_keys add with a secret the exchange refuses (10004, key echoed): one line,
        key masked, nothing stored."""
        import getpass

        answers = [PLANTED_KEY, "not-the-secret-1"]
        monkeypatch.setattr(getpass, "getpass", lambda prompt="", stream=None: answers.pop(0))
        exchange.faults.inject(LIMITS, "retcode", code=10004, msg=echo_of(PLANTED_KEY))
        scan = Scan(needles_for(planted_rsa))
        result = run_cell(ip, scan, "%loan_keys add planted --network testnet")
        assert isinstance(result.error_in_exec, UsageError)
        assert "retCode 10004" in str(result.error_in_exec) and "PL***42" in scan.text("output")
        assert not (tmp_path / "config" / "profiles.json").exists()
        assert keyring_file.get_password("loan_widgets", "planted") is None
        scan.assert_clean({"output", "exceptions"})


# --------------------------------------------------------------------------- the command line


def keys_cli(args: list[str], stdin: str, folder: Path,
             **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m loan_widgets keys ARGS`` with a file keyring and profiles under folder."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BYBIT_", "LOAN_WIDGETS_"))}
    return subprocess.run(
        [sys.executable, "-m", "loan_widgets", "keys", *args], input=stdin, text=True,
        capture_output=True, timeout=60, env={**base, **keyring_env(folder), **env},
    )


class TestKeysCommandLine:
    """python -m loan_widgets keys add: refusals, a missing keyring, short stdin, the key
    pasted as a path; stdout and stderr never hold the secret, the key or the PEM."""

    def test_refusals(self, server: SandboxServer, exchange: Sandbox, tmp_path: Path,
                      planted_rsa) -> None:
        """Each refusal is one 'error:' line on stderr with exit status 1; nothing stored."""
        pem_line = " ".join(planted_rsa.private_pem.decode().split("\n")).strip()
        two_lines = f"{PLANTED_KEY}\n{PLANTED_SECRET}\n"
        exchange.faults.inject(LIMITS, "retcode", code=10004, msg=echo_of(PLANTED_KEY))
        runs = [
            (["add", "t", "--network", "testnet", "--stdin"], two_lines, {}),  # 10004, echoed
            (["add", "t", "--network", "testnet", "--stdin", "--no-check"], two_lines,
             {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}),
            (["add", "t", "--network", "testnet", "--stdin"], f"{PLANTED_KEY}\n", {}),
            (["add", "t", "--network", "testnet", "--stdin"],
             f"{PLANTED_KEY} {PLANTED_SECRET}\n", {}),
            (["add", "t", "--network", "testnet", "--stdin", "--no-check",
              "--private-key-file", pem_line], f"{PLANTED_KEY}\n", {}),
            (["add", "t", "--network", "testnet", "--stdin",
              "--host", f"https://u:{PLANTED_SECRET}/x@api-testnet.bybit.com"], two_lines, {}),
        ]
        scan = Scan(needles_for(planted_rsa))
        for args, stdin, env in runs:
            done = keys_cli(args, stdin, tmp_path, LOAN_WIDGETS_BASE_URL=server.base_url,
                            **env)
            scan.add("cli output", done.stdout + done.stderr)
            assert done.returncode == 1, (args, done.stderr)
            assert done.stderr.startswith("error: ") and len(done.stderr.splitlines()) == 1
            assert done.stdout == ""
        assert "retCode 10004" in scan.text("cli output") and "PL***42" in scan.text()
        assert not (tmp_path / "config" / "profiles.json").exists()
        scan.assert_clean({"cli output"})


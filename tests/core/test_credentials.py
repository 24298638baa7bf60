"""Credentials: checked when loaded, looked up in order, bound to their network and host.

Every exchange here is a real sandbox on loopback; the keyring is keyrings.alt's file
backend registered through keyring's own API (the ``keyring_file`` fixture). An audit
hook proves that refusals happen before any connection.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519
from support import (
    MAINNET_HOSTS,
    OTHER_KEY,
    OTHER_SECRET,
    PLANTED_KEY,
    PLANTED_SECRET,
    pem,
    signed_by,
)
from support import store_profile as store

from loan_widgets import ConfigurationError, CredentialsError, LoanClient, keys, profiles
from loan_widgets.credentials import MAX_KEY_FILE_BYTES, Credentials, resolve

ACCEPTED = "Bybit accepts an HMAC secret (a system-generated API key) or an RSA private key"

# --------------------------------------------------------------------------- helpers


class _Connections:
    """Records (and blocks) every resolve or connect to a host that is not loopback, when armed."""

    def __init__(self) -> None:
        self.installed = False
        self.armed = False
        self.seen: list[str] = []

    def __call__(self, event: str, args: tuple) -> None:
        if not self.armed or event not in ("socket.getaddrinfo", "socket.connect"):
            return
        target = args[0] if event == "socket.getaddrinfo" else args[1]
        host = target[0] if isinstance(target, tuple) else target
        if str(host) not in ("127.0.0.1", "::1", "localhost"):
            self.seen.append(f"{event} {host}")
            raise OSError(f"test: no connection to {host}")


CONNECTIONS = _Connections()


@pytest.fixture
def no_outside_connections() -> Iterator[_Connections]:
    """Arm the audit hook: any resolve or connect off loopback is recorded and refused."""
    if not CONNECTIONS.installed:  # an audit hook cannot be removed: add it once, when needed
        sys.addaudithook(CONNECTIONS)
        CONNECTIONS.installed = True
    CONNECTIONS.seen.clear()
    CONNECTIONS.armed = True
    try:
        yield CONNECTIONS
    finally:
        CONNECTIONS.armed = False


# --------------------------------------------------------------------------- checked when loaded

HOSTILE_TEXT = [
    pytest.param("PLANTEDKEY\u200b0042", "U+200B (ZERO WIDTH SPACE) at position 11", id="zwsp"),
    pytest.param("PLANTED\u201cKEY0042", "U+201C (LEFT DOUBLE QUOTATION MARK)", id="curly-quote"),
    pytest.param("PLANTEDKEY\n0042", "a line break at position 11", id="newline-inside"),
    pytest.param("PLANTED KEY0042", "a space at position 8", id="space"),
    pytest.param("PLANTED\tKEY0042", "a tab", id="tab"),
    pytest.param("PLANTEDKEY\u00a00042", "U+00A0 (NO-BREAK SPACE)", id="nbsp"),
    pytest.param("PLANTEDKÉY0042", "U+00C9 (LATIN CAPITAL LETTER E WITH ACUTE)", id="accent"),
    pytest.param("PLANTEDKEY\x1b[31m0042", "U+001B (a control character)", id="escape"),
    pytest.param("   ", "is empty", id="blank"),
    pytest.param("K" * 300, "300 characters long", id="too-long"),
]


class TestCheckedText:
    """Keys and secrets are printable ASCII with no whitespace; errors never echo them."""

    @pytest.mark.parametrize(("value", "says"), HOSTILE_TEXT)
    def test_hostile_key(self, value: str, says: str) -> None:
        """A hostile API key: one line naming the character and where it came from, no value."""
        with pytest.raises(CredentialsError) as info:
            Credentials(value, PLANTED_SECRET)
        text = str(info.value)
        assert says in text and "API key given" in text
        assert len(text.splitlines()) == 1
        assert "PLANTED" not in text and "0042" not in text and "KKKK" not in text

    @pytest.mark.parametrize(("value", "says"), HOSTILE_TEXT)
    def test_hostile_secret(self, value: str, says: str) -> None:
        """A hostile secret from the environment: named by its variable, never shown."""
        with pytest.raises(CredentialsError) as info:
            Credentials.from_env({"BYBIT_API_KEY": PLANTED_KEY, "BYBIT_API_SECRET": value})
        text = str(info.value)
        if not value.strip():
            says = "BYBIT_API_SECRET is not set"
        else:
            assert "API secret from BYBIT_API_SECRET" in text
        assert says in text
        assert len(text.splitlines()) == 1 and "PLANTED" not in text and PLANTED_KEY not in text

    def test_surrounding_whitespace_is_dropped(self) -> None:
        """A pasted trailing newline is not part of the key: it signs like the clean one."""
        clean = Credentials(PLANTED_KEY, PLANTED_SECRET)
        pasted = Credentials(f" {PLANTED_KEY}\n", f"{PLANTED_SECRET}\r\n")
        assert pasted.api_key == PLANTED_KEY
        assert pasted.sign(b"message") == clean.sign(b"message")


class TestHostileKeysThroughTheClient:
    """A hostile key fails in one line before anything is sent, with no ledger row."""

    @pytest.mark.parametrize("key", ["PLANTEDKEY\u200b0042", "PLANTED\u201dKEY0042",
                                     f"{PLANTED_KEY}\n{PLANTED_KEY}"])
    def test_from_environment(self, key, monkeypatch, server, exchange, ledger) -> None:
        """BYBIT_API_KEY with a zero-width space, curly quote or newline: nothing sent."""
        monkeypatch.setenv("BYBIT_API_KEY", key)
        monkeypatch.setenv("BYBIT_API_SECRET", PLANTED_SECRET)
        client = LoanClient(network="testnet", base_url=server.base_url, ledger=ledger)
        with pytest.raises(CredentialsError) as info:
            client.borrow("USDT", "550", "BTC")
        text = str(info.value)
        assert "BYBIT_API_KEY" in text and len(text.splitlines()) == 1
        assert PLANTED_KEY not in text and "PLANTED" not in text
        assert exchange.count() == 0 and ledger.count() == 0

    def test_from_arguments(self, server, exchange, ledger) -> None:
        """The same key given to LoanClient is refused when the client is made."""
        with pytest.raises(CredentialsError, match="U\\+200B"):
            LoanClient(network="testnet", base_url=server.base_url, ledger=ledger,
                       api_key=PLANTED_KEY, api_secret=PLANTED_SECRET + "\u200b")
        assert exchange.count() == 0 and ledger.count() == 0


# --------------------------------------------------------------------------- key files


class TestKeyFiles:
    """A private-key file is read with a size bound; a key type Bybit refuses is named."""

    def _refused(self, tmp_path: Path, data: bytes) -> str:
        path = tmp_path / "key.pem"
        path.write_bytes(data)
        with pytest.raises(CredentialsError) as info:
            Credentials.from_env({"BYBIT_API_KEY": PLANTED_KEY,
                                  "BYBIT_API_PRIVATE_KEY_FILE": str(path)})
        text = str(info.value)
        assert len(text.splitlines()) == 1 and "BEGIN" not in text and "MII" not in text
        return text

    @pytest.mark.parametrize(
        ("make", "kind"),
        [
            (lambda: ed25519.Ed25519PrivateKey.generate(), "an Ed25519 private key"),
            (lambda: ec.generate_private_key(ec.SECP256R1()), "an EC private key (secp256r1)"),
            (lambda: dsa.generate_private_key(2048), "a DSA private key"),
        ],
        ids=["ed25519", "ec", "dsa"],
    )
    def test_other_key_types_name_what_bybit_takes(self, make, kind, tmp_path) -> None:
        """Ed25519, EC, DSA: the message names the key type and the types Bybit accepts."""
        text = self._refused(tmp_path, pem(make()))
        assert kind in text and ACCEPTED in text and "BYBIT_API_PRIVATE_KEY_FILE" in text

    def test_openssh_key(self, tmp_path) -> None:
        """An OpenSSH-format key says so and how to convert an RSA one to PEM."""
        data = pem(ed25519.Ed25519PrivateKey.generate(), serialization.PrivateFormat.OpenSSH)
        text = self._refused(tmp_path, data)
        assert "OpenSSH private key" in text and "ssh-keygen" in text and ACCEPTED in text

    def test_public_key_instead_of_private(self, tmp_path, rsa_key) -> None:
        """A public key is not taken for a private one."""
        public = rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert "public key" in self._refused(tmp_path, public)

    def test_encrypted_key(self, tmp_path, rsa_key) -> None:
        """An encrypted PEM asks for an unencrypted one."""
        data = pem(rsa_key, encryption=serialization.BestAvailableEncryption(b"pass"))
        assert "is encrypted" in self._refused(tmp_path, data)

    def test_size_bound(self, tmp_path, rsa_key) -> None:
        """Past 64 KiB a file is refused unread; at the bound it is parsed (and refused as PEM)."""
        big = self._refused(tmp_path, pem(rsa_key) + b"\n" * MAX_KEY_FILE_BYTES)
        assert "larger than 64 KiB" in big and ACCEPTED in big
        at_bound = self._refused(tmp_path, b"x" * MAX_KEY_FILE_BYTES)
        assert "could not be read as a PEM private key" in at_bound

    @pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
    def test_fifo_and_directory_are_not_key_files(self, tmp_path) -> None:
        """A named pipe (which would block a reader) and a folder are refused at once."""
        fifo = tmp_path / "pipe"
        os.mkfifo(fifo)
        for path in (fifo, tmp_path):
            with pytest.raises(CredentialsError, match="not a regular file"):
                Credentials.from_env({"BYBIT_API_KEY": PLANTED_KEY,
                                      "BYBIT_API_PRIVATE_KEY_FILE": str(path)})

    def test_rsa_pkcs1_and_pkcs8_sign_alike(self, tmp_path, rsa_key) -> None:
        """Both PEM layouts of one RSA key load and give the same signature."""
        signatures = set()
        layouts = (serialization.PrivateFormat.PKCS8,
                   serialization.PrivateFormat.TraditionalOpenSSL)
        for number, fmt in enumerate(layouts):
            path = tmp_path / f"key{number}.pem"
            path.write_bytes(pem(rsa_key, fmt))
            found = Credentials.from_env({"BYBIT_API_KEY": "RSAKEY0001",
                                          "BYBIT_API_PRIVATE_KEY_FILE": str(path)})
            assert found is not None and found.kind == "rsa"
            signatures.add(found.sign(b"1728629356551RSAKEY00015000"))
        assert len(signatures) == 1

    def test_key_object_of_another_type(self) -> None:
        """A loaded non-RSA key object given in code is refused the same way."""
        with pytest.raises(CredentialsError, match="an Ed25519 private key: Bybit accepts"):
            Credentials(PLANTED_KEY, private_key=ed25519.Ed25519PrivateKey.generate())


# --------------------------------------------------------------------------- resolution order


class TestResolveOrder:
    """Explicit profile, per-network variables, BYBIT_API_*, then the network's profile."""

    def test_nothing_anywhere(self) -> None:
        """No variables and no profiles: None, and the client's message says how to add keys."""
        assert resolve("testnet") is None
        with pytest.raises(CredentialsError) as info:
            LoanClient(network="testnet").credentials  # noqa: B018
        text = str(info.value)
        assert "%loan_keys add NAME --network testnet" in text
        assert "BYBIT_TESTNET_API_KEY" in text and "BYBIT_API_KEY" in text

    def test_each_source_in_turn(self, keyring_file) -> None:
        """Each source wins over the ones after it; each reports where it came from."""
        store("tn", "testnet", "PROFILEKEY01", "profile-secret")
        env = {"BYBIT_API_KEY": "GENERICKEY01", "BYBIT_API_SECRET": "generic-secret",
               "BYBIT_TESTNET_API_KEY": "TESTNETKEY01", "BYBIT_TESTNET_API_SECRET": "t-secret",
               "BYBIT_MAINNET_API_KEY": "MAINNETKEY01", "BYBIT_MAINNET_API_SECRET": "m-secret",
               "LOAN_WIDGETS_CONFIG_DIR": str(profiles.config_file().parent)}
        found = resolve("testnet", environ=env)
        assert (found.api_key, found.source) == ("TESTNETKEY01", "BYBIT_TESTNET_API_KEY")
        assert resolve("mainnet", environ=env).api_key == "MAINNETKEY01"
        for name in ("BYBIT_TESTNET_API_KEY", "BYBIT_TESTNET_API_SECRET"):
            del env[name]
        found = resolve("testnet", environ=env)
        assert (found.api_key, found.source) == ("GENERICKEY01", "BYBIT_API_KEY")
        explicit = resolve("testnet", profile="tn", environ=env)
        assert (explicit.api_key, explicit.profile) == ("PROFILEKEY01", "tn")
        for name in ("BYBIT_API_KEY", "BYBIT_API_SECRET"):
            del env[name]
        found = resolve("testnet", environ=env)
        assert (found.api_key, found.source, found.profile) == ("PROFILEKEY01", "profile 'tn'",
                                                                "tn")
        assert resolve("mainnet", environ=env).api_key == "MAINNETKEY01"
        assert repr(found) == "Credentials(api_key='PR***01', kind='hmac', profile='tn')"

    def test_profile_secret_signs(self, keyring_file, server, exchange, ledger) -> None:
        """A profile's keyring secret signs a borrow the exchange accepts."""
        store("tn", "testnet", PLANTED_KEY, PLANTED_SECRET)
        client = LoanClient(network="testnet", base_url=server.base_url, ledger=ledger)
        assert len(client.borrow("USDT", "550", "BTC").order_id) == 19
        assert signed_by(exchange) == {PLANTED_KEY}

    @pytest.mark.parametrize(
        ("env", "says"),
        [
            ({"BYBIT_TESTNET_API_KEY": "K1234567"}, "BYBIT_TESTNET_API_SECRET is not set"),
            ({"BYBIT_TESTNET_API_SECRET": "s"}, "BYBIT_TESTNET_API_KEY is not set"),
            ({"BYBIT_MAINNET_API_KEY": "K1234567", "BYBIT_MAINNET_API_SECRET": "s",
              "BYBIT_MAINNET_API_PRIVATE_KEY_FILE": "/x.pem"}, "set only one of"),
        ],
    )
    def test_half_set_variables(self, env, says) -> None:
        """A half-set pair of per-network variables names the missing one."""
        network = "mainnet" if "BYBIT_MAINNET_API_KEY" in env else "testnet"
        with pytest.raises(CredentialsError, match=says):
            resolve(network, environ=env)

    def test_per_network_key_file(self, tmp_path, rsa_key, server, exchange, ledger,
                                  monkeypatch) -> None:
        """BYBIT_TESTNET_API_PRIVATE_KEY_FILE gives an RSA key the exchange accepts."""
        path = tmp_path / "testnet.pem"
        path.write_bytes(pem(rsa_key))
        public = rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        exchange.add_credentials("RSATESTNET01", public_key_pem=public)
        monkeypatch.setenv("BYBIT_TESTNET_API_KEY", "RSATESTNET01")
        monkeypatch.setenv("BYBIT_TESTNET_API_PRIVATE_KEY_FILE", str(path))
        client = LoanClient(network="testnet", base_url=server.base_url, ledger=ledger)
        assert client.credentials.kind == "rsa"
        assert len(client.borrow("USDT", "550", "BTC").order_id) == 19
        assert signed_by(exchange) == {"RSATESTNET01"}


# --------------------------------------------------------------------------- bindings


class TestBindings:
    """Network-bound keys never go to a host of the other network; host-bound ones stay home."""

    @pytest.mark.parametrize("host", sorted(MAINNET_HOSTS))
    def test_testnet_profile_never_at_mainnet_hosts(self, keyring_file, host) -> None:
        """Every Bybit mainnet host in the reference refuses a testnet profile."""
        store("tn", "testnet", PLANTED_KEY, PLANTED_SECRET)
        for profile in ("tn", None):
            with pytest.raises(CredentialsError, match="testnet keys are never sent there"):
                resolve("testnet", host=f"https://{host.upper()}.", profile=profile)

    @pytest.mark.parametrize("host", ["https://api-testnet.bybit.com", "http://127.0.0.1:9",
                                      "https://api-demo.bybit.com"])
    def test_mainnet_profile_only_at_mainnet_hosts(self, keyring_file, host) -> None:
        """A mainnet profile is not used at testnet, demo or loopback hosts."""
        store("main", "mainnet", PLANTED_KEY, PLANTED_SECRET)
        with pytest.raises(CredentialsError, match="mainnet keys are sent to mainnet hosts only"):
            resolve("mainnet", host=host, profile="main")
        assert resolve("mainnet", host="https://api.bytick.com", profile="main") is not None

    def test_per_network_variables_are_bound_too(self) -> None:
        """BYBIT_TESTNET_API_KEY is not sent to a mainnet host either."""
        env = {"BYBIT_TESTNET_API_KEY": PLANTED_KEY, "BYBIT_TESTNET_API_SECRET": PLANTED_SECRET}
        with pytest.raises(CredentialsError, match="BYBIT_TESTNET_API_KEY holds testnet keys"):
            resolve("testnet", host="https://api.bybit.nl", environ=env)

    def test_profile_of_another_network(self, keyring_file) -> None:
        """A testnet profile asked for on mainnet (and the reverse) is refused by name."""
        store("tn", "testnet", PLANTED_KEY, PLANTED_SECRET)
        store("main", "mainnet", OTHER_KEY, OTHER_SECRET)
        with pytest.raises(CredentialsError, match="profile 'tn' is for testnet, not mainnet"):
            resolve("mainnet", profile="tn")
        with pytest.raises(CredentialsError, match="profile 'main' is for mainnet, not testnet"):
            resolve("testnet", profile="main")

    def test_host_bound_profile(self, keyring_file, server, other_server) -> None:
        """A profile bound to one host is refused at another, explicit or not."""
        store("a", "testnet", PLANTED_KEY, PLANTED_SECRET, host=server.base_url + "/")
        with pytest.raises(CredentialsError, match=r"bound to http://127\.0\.0\.1"):
            resolve("testnet", host=other_server.base_url, profile="a")
        with pytest.raises(CredentialsError, match="bound to other hosts: a"):
            resolve("testnet", host=other_server.base_url)
        assert resolve("testnet", host=server.base_url).profile == "a"

    def test_client_refuses_before_connecting(self, keyring_file, ledger,
                                              no_outside_connections) -> None:
        """Through LoanClient: no resolve, no connect, no ledger row (audit hook armed)."""
        store("tn", "testnet", PLANTED_KEY, PLANTED_SECRET)
        store("main", "mainnet", OTHER_KEY, OTHER_SECRET)
        attempts = [  # refused when built (a contradicting host) or when borrowing
            dict(network="mainnet", profile="tn"),
            dict(network="testnet", base_url="https://api.bybit.com"),
            dict(network="testnet", base_url="https://api.bybit.com", profile="tn"),
            dict(network="mainnet", base_url="https://api-testnet.bybit.com"),
        ]
        for settings in attempts:
            with pytest.raises(ConfigurationError):
                LoanClient(ledger=ledger, **settings).borrow("USDT", "550", "BTC")
        assert no_outside_connections.seen == [] and ledger.count() == 0
        with pytest.raises(OSError, match="test: no connection"):  # the hook does see lookups
            socket.getaddrinfo("exchange.invalid", 443)
        assert no_outside_connections.seen == ["socket.getaddrinfo exchange.invalid"]

    def test_profile_sets_network_and_host(self, keyring_file, other_server) -> None:
        """LoanClient(profile=) takes the profile's network and host unless given."""
        store("b", "testnet", OTHER_KEY, OTHER_SECRET, host=other_server.base_url)
        client = LoanClient(profile="b")
        assert (client.network, client.base_url) == ("testnet", other_server.base_url)
        with pytest.raises(CredentialsError, match="is for testnet, not sandbox"):
            LoanClient(profile="b", network="sandbox").credentials  # noqa: B018

    def test_mainnet_host_classification(self) -> None:
        """Hosts are classified by name, case and trailing dot aside; testnet ones are not."""
        assert profiles.is_mainnet_host("https://API.BYBIT.COM.:443/")
        assert profiles.is_mainnet_host("api.bybitgeorgia.ge")
        for host in ("https://api-testnet.bybit.com", "https://api.bybit.com.evil.test",
                     "http://127.0.0.1:8080", "https://api-testnet.manepa.jp"):
            assert not profiles.is_mainnet_host(host)


class TestSelection:
    """Without a name: the network's default profile, else its only one, else an error."""

    def test_default_and_ambiguity(self, keyring_file) -> None:
        """The first profile of a network is its default; --default moves it; removal heals."""
        assert store("one", "testnet", "ONEKEY0001", "s1").profile.default
        assert not store("two", "testnet", "TWOKEY0002", "s2").profile.default
        assert store("m", "mainnet", "MAINKEY001", "s3").profile.default
        assert resolve("testnet").profile == "one"
        store("two", "testnet", "TWOKEY0002", "s2", default=True)
        assert resolve("testnet").profile == "two"
        assert [p.name for p in keys.list_profiles() if p.default] == ["m", "two"]
        keys.remove("two")
        assert resolve("testnet").profile == "one"  # the one left became the default
        store("three", "testnet", "THREEKEY03", "s3")
        assert resolve("testnet").profile == "one"

    def test_several_without_default(self, keyring_file) -> None:
        """Several fitting profiles and no default (edited file): an error naming them."""
        store("one", "testnet", "ONEKEY0001", "s1")
        store("two", "testnet", "TWOKEY0002", "s2")
        path = profiles.config_file()
        data = json.loads(path.read_text())
        for item in data["profiles"].values():
            item["default"] = False
        path.write_text(json.dumps(data))
        with pytest.raises(CredentialsError, match=r"several testnet profiles fit \(one, two\)"):
            resolve("testnet")


class TestStaysCheap:
    """keyring is imported only when a secret is read or written."""

    def test_import_and_env_credentials_skip_keyring(self, tmp_path) -> None:
        """import loan_widgets, and resolving from the environment, never import keyring."""
        code = (
            "import sys, loan_widgets\n"
            "from loan_widgets.credentials import resolve\n"
            "assert resolve('testnet', environ={'BYBIT_API_KEY': 'K1234567',"
            " 'BYBIT_API_SECRET': 's', 'LOAN_WIDGETS_CONFIG_DIR': sys.argv[1]})\n"
            "assert resolve('mainnet', environ={'LOAN_WIDGETS_CONFIG_DIR': sys.argv[1]}) is None\n"
            "print('keyring' in sys.modules)\n"
        )
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                             text=True, check=True)
        assert out.stdout.strip() == "False"

    def test_credential_modules_are_core(self) -> None:
        """The credentials modules and the command line import no UI library."""
        code = (
            "import sys\n"
            "import loan_widgets.credentials, loan_widgets.profiles, loan_widgets.keystore\n"
            "import loan_widgets.keys, loan_widgets.__main__\n"
            "print(sorted({'IPython', 'ipywidgets', 'traitlets', 'pandas'} & set(sys.modules)))\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
        assert out.stdout.strip() == "[]"

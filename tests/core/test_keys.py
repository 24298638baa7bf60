"""Setting credentials up: the profiles file, the keyring path, keys.add, the command line.

Every exchange here is a real sandbox on loopback; the keyring is keyrings.alt's file
backend registered through keyring's own API (the ``keyring_file`` fixture), or a small
backend of the tests' own registered the same way.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from keyring.backend import KeyringBackend
from keyring.errors import PasswordSetError
from support import (
    OTHER_KEY,
    OTHER_SECRET,
    PLANTED_KEY,
    PLANTED_SECRET,
    keyring_env,
    pem,
    posts,
    signed_by,
    store_profile,
)

from loan_widgets import CredentialsError, LoanClient, keys, profiles
from loan_widgets.credentials import mask, resolve
from loan_widgets.profiles import Profile

store = store_profile


# --------------------------------------------------------------------------- the profiles file


class TestProfilesFile:
    """profiles.json: private, atomic, secret-free; refused when others may write it."""

    def test_private_and_secret_free(self, keyring_file) -> None:
        """Folder 0700, file 0600, no temporary left; the secret only in the keyring."""
        store("tn", "testnet", PLANTED_KEY, PLANTED_SECRET, host="HTTPS://Api-Testnet.Bybit.com:443")
        path = profiles.config_file()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert [p.name for p in path.parent.iterdir()] == ["profiles.json"]
        raw = path.read_bytes()
        for needle in (PLANTED_SECRET, base64.b64encode(PLANTED_SECRET.encode()).decode(),
                       PLANTED_SECRET.encode().hex()):
            assert needle.encode() not in raw
        stored = json.loads(raw)["profiles"]["tn"]
        assert stored == {"network": "testnet", "host": "https://api-testnet.bybit.com",
                          "api_key": PLANTED_KEY, "secret": "keyring", "private_key_file": None,
                          "default": True}
        assert keyring_file.get_password("loan_widgets", "tn") == PLANTED_SECRET

    def test_writable_by_others_is_refused(self, keyring_file) -> None:
        """A group- or world-writable profiles file could redirect keys: refused in one line."""
        store("tn", "testnet", PLANTED_KEY, PLANTED_SECRET)
        path = profiles.config_file()
        path.chmod(0o620)
        with pytest.raises(CredentialsError, match=r"writable by other users.*chmod 600"):
            resolve("testnet")

    @pytest.mark.parametrize("content", [b"{", b"[]", b'{"version": 2, "profiles": {}}',
                                         b'{"version": 1, "profiles": {"x": {"secret": "x"}}}',
                                         b'{"version": 1, "profiles": {"bad name": {}}}'])
    def test_broken_file(self, content: bytes) -> None:
        """A broken profiles file is one line naming it, not a traceback."""
        path = profiles.config_file()
        path.parent.mkdir(mode=0o700, parents=True)
        path.write_bytes(content)
        path.chmod(0o600)
        with pytest.raises(CredentialsError) as info:
            resolve("testnet")
        assert "cannot be used" in str(info.value) and len(str(info.value).splitlines()) == 1

    @pytest.mark.parametrize(
        ("name", "host", "says"),
        [
            ("has space", None, "profile name 'has space' is not valid"),
            ("-flag", None, "is not valid"),
            ("x" * 65, None, "is not valid"),
            ("ok", "http://api.bybit.com", "would travel in clear text"),
            ("ok", "https://user:pw@api.bybit.com", "carries user info"),
            ("ok", "https://api.bybit.com/v5?x=1", "no query or fragment"),
            ("ok", "ftp://api.bybit.com", "must start with http:// or https://"),
            ("ok", "https://api.bybit.com:99999", "has a bad port"),
        ],
    )
    def test_bad_names_and_hosts(self, keyring_file, name, host, says) -> None:
        """Bad names and hosts are refused before any prompt; nothing is stored."""
        asked: list[str] = []
        with pytest.raises(CredentialsError, match=says) as info:
            keys.add(name, network="mainnet", host=host, prompt=asked.append)
        assert "pw" not in str(info.value)
        assert asked == [] and not profiles.config_file().exists()


# --------------------------------------------------------------------------- the keyring


class LeakyKeyring(KeyringBackend):
    """A keyring backend that is locked for reads and quotes the password in its errors."""

    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError("the keyring is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError(f"could not store {password!r} for {username}\nmore")

    def delete_password(self, service: str, username: str) -> None:
        raise RuntimeError("locked")


class TestKeyring:
    """The keyring path: real backends, failures in one line without the secret."""

    def test_no_keyring(self, server, exchange) -> None:
        """No usable keyring (the fail backend): one line pointing at the alternatives."""
        asked = iter([PLANTED_KEY, PLANTED_SECRET])
        with pytest.raises(CredentialsError) as info:
            keys.add("tn", network="testnet", host=server.base_url,
                     prompt=lambda _: next(asked))
        text = str(info.value)
        assert "no usable OS keyring" in text and "PYTHON_KEYRING_BACKEND" in text
        assert "BYBIT_TESTNET_API_KEY" in text and "nothing was stored" in text
        assert PLANTED_SECRET not in text and not profiles.config_file().exists()
        assert signed_by(exchange) == {PLANTED_KEY}  # checked first, then refused to store

    def test_backend_errors_never_show_the_secret(self, keyring_file) -> None:
        """A backend that quotes the password in its error: blanked, one line."""
        import keyring

        store("tn", "testnet", PLANTED_KEY, PLANTED_SECRET)
        keyring.set_keyring(LeakyKeyring())
        with pytest.raises(CredentialsError) as info:
            store("tn2", "testnet", OTHER_KEY, OTHER_SECRET)
        text = str(info.value)
        assert OTHER_SECRET not in text and "***" in text and len(text.splitlines()) == 1
        with pytest.raises(CredentialsError, match="keyring is locked"):
            resolve("testnet")
        with pytest.raises(CredentialsError, match="cannot remove"):
            keys.remove("tn")
        assert [p.name for p in keys.list_profiles()] == ["tn"]  # nothing half-removed

    def test_secret_gone_from_keyring(self, keyring_file) -> None:
        """A secret deleted outside loan_widgets: the message says how to add it again."""
        store("tn", "testnet", PLANTED_KEY, PLANTED_SECRET)
        keyring_file.delete_password("loan_widgets", "tn")
        with pytest.raises(CredentialsError,
                           match=r"not in the OS keyring .*%loan_keys add tn --network testnet"):
            resolve("testnet")

    def test_remove_takes_the_secret_out(self, keyring_file) -> None:
        """remove() deletes the keyring entry and the profile; a second remove names the rest."""
        store("tn", "testnet", PLANTED_KEY, PLANTED_SECRET)
        store("m", "mainnet", OTHER_KEY, OTHER_SECRET)
        assert keys.remove("tn").name == "tn"
        assert keyring_file.get_password("loan_widgets", "tn") is None
        assert keyring_file.get_password("loan_widgets", "m") == OTHER_SECRET
        with pytest.raises(CredentialsError, match=r"named 'tn' \(profiles: m\)"):
            keys.remove("tn")


# --------------------------------------------------------------------------- keys.add


class TestAdd:
    """add() asks with a prompt, checks with a signed read, and only then stores."""

    def test_prompts_check_and_store(self, keyring_file, server, exchange, ledger) -> None:
        """Two prompts (the second shows the masked key); one signed GET; a usable profile."""
        asked: list[str] = []
        answers = iter([PLANTED_KEY, PLANTED_SECRET])

        def prompt(text: str) -> str:
            asked.append(text)
            return next(answers)

        added = keys.add("tn", network="testnet", host=server.base_url, prompt=prompt)
        assert asked == ["API key for profile 'tn' (testnet): ",
                         f"API secret for key {mask(PLANTED_KEY)}: "]
        checks = [r for r in exchange.requests if r.headers.get("x-bapi-api-key")]
        assert [(r.method, r.path, r.ret_code) for r in checks] == [
            ("GET", "/v5/crypto-loan/borrowable-collateralisable-number", 0)]
        text = str(added)
        assert added.checked_at == server.base_url and "accepted the key" in text
        assert mask(PLANTED_KEY) in text and PLANTED_KEY not in text
        assert PLANTED_SECRET not in text + repr(added.profile) + repr(keys.list_profiles())
        client = LoanClient(profile="tn", ledger=ledger)
        assert len(client.borrow("USDT", "550", "BTC").order_id) == 19
        assert posts(exchange)[0].headers["x-bapi-api-key"] == PLANTED_KEY

    @pytest.mark.parametrize(("key", "secret", "says"), [
        (PLANTED_KEY, "wrong-secret", "retCode 10004"),
        ("UNKNOWNKEY01", PLANTED_SECRET, "retCode 10003"),
    ])
    def test_refused_key_stores_nothing(self, keyring_file, server, key, secret, says) -> None:
        """A key the exchange refuses: one line, no profile, no keyring entry."""
        with pytest.raises(CredentialsError, match=says) as info:
            keys.add("tn", network="testnet", host=server.base_url, api_key=key,
                     api_secret=secret)
        assert "nothing was stored" in str(info.value) and secret not in str(info.value)
        assert not profiles.config_file().exists()
        assert keyring_file.get_password("loan_widgets", "tn") is None

    def test_unreachable_host_stores_nothing(self, keyring_file) -> None:
        """No exchange at the host: one line offering --no-check, nothing stored."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]  # closed once the block ends: connection refused
        with pytest.raises(CredentialsError, match=r"could not check the key.*--no-check"):
            keys.add("tn", network="testnet", host=f"http://127.0.0.1:{port}",
                     api_key=PLANTED_KEY, api_secret=PLANTED_SECRET)
        assert not profiles.config_file().exists()

    def test_no_check_sends_nothing(self, keyring_file, server, exchange) -> None:
        """check=False stores without a request."""
        added = store("tn", "testnet", PLANTED_KEY, PLANTED_SECRET, host=server.base_url)
        assert added.checked_at is None and "not checked" in str(added)
        assert exchange.count() == 0

    def test_checked_where_it_will_be_used(self, keyring_file, server, exchange,
                                           monkeypatch) -> None:
        """Without a host, the key is checked at the network's host: LOAN_WIDGETS_BASE_URL."""
        monkeypatch.setenv("LOAN_WIDGETS_BASE_URL", server.base_url)
        added = keys.add("tn", network="testnet", api_key=PLANTED_KEY, api_secret=PLANTED_SECRET)
        assert added.checked_at == server.base_url and added.profile.host is None
        assert signed_by(exchange) == {PLANTED_KEY}

    def test_mainnet_profile_is_not_checked_off_mainnet(self, keyring_file, server, exchange,
                                                        monkeypatch) -> None:
        """A mainnet profile is never checked (nor its key sent) at a non-mainnet host."""
        monkeypatch.setenv("LOAN_WIDGETS_BASE_URL", server.base_url)
        with pytest.raises(CredentialsError, match="mainnet hosts only"):
            keys.add("main", network="mainnet", api_key=PLANTED_KEY, api_secret=PLANTED_SECRET)
        assert exchange.count() == 0 and not profiles.config_file().exists()

    def test_rsa_key_file_profile(self, keyring_file, tmp_path, rsa_key, server, exchange,
                                  ledger) -> None:
        """A key-file profile stores the file's path (no keyring entry) and signs with RSA."""
        path = tmp_path / "rsa.pem"
        path.write_bytes(pem(rsa_key))
        public = rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        exchange.add_credentials("RSAPROFILE01", public_key_pem=public)
        asked: list[str] = []
        added = keys.add("rsa", network="testnet", host=server.base_url,
                         private_key_file=path, prompt=lambda t: asked.append(t) or "RSAPROFILE01")
        assert len(asked) == 1 and added.profile.private_key_file == str(path.resolve())
        assert keyring_file.get_password("loan_widgets", "rsa") is None
        assert b"PRIVATE" not in profiles.config_file().read_bytes()
        client = LoanClient(profile="rsa", ledger=ledger)
        assert client.credentials.kind == "rsa"
        assert len(client.borrow("USDT", "550", "BTC").order_id) == 19
        ed = tmp_path / "ed.pem"
        ed.write_bytes(pem(ed25519.Ed25519PrivateKey.generate()))
        with pytest.raises(CredentialsError, match="Ed25519 private key: Bybit accepts"):
            keys.add("ed", network="testnet", api_key="EDKEY00001", private_key_file=ed)


class TestTwoSandboxes:
    """Testnet keys in one profile, other keys in another: each signs at its own exchange."""

    def test_each_profile_signs_with_its_key(self, keyring_file, server, exchange,
                                             other_server, monkeypatch, ledger) -> None:
        """network='testnet' uses the default profile; profile='other' its own key and host."""
        monkeypatch.setenv("LOAN_WIDGETS_BASE_URL", server.base_url)
        keys.add("testnet", network="testnet", api_key=PLANTED_KEY, api_secret=PLANTED_SECRET)
        keys.add("other", network="testnet", host=other_server.base_url, api_key=OTHER_KEY,
                 api_secret=OTHER_SECRET)
        first = LoanClient(network="testnet", ledger=ledger).borrow("USDT", "550", "BTC")
        second = LoanClient(profile="other", ledger=ledger).borrow("USDT", "551", "BTC")
        assert len(first.order_id) == len(second.order_id) == 19
        assert [r.headers["x-bapi-api-key"] for r in posts(exchange)] == [PLANTED_KEY]
        assert [r.headers["x-bapi-api-key"] for r in posts(other_server.sandbox)] == [OTHER_KEY]
        assert signed_by(exchange) == {PLANTED_KEY}
        assert signed_by(other_server.sandbox) == {OTHER_KEY}


# --------------------------------------------------------------------------- the command line


def _cli(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BYBIT_", "LOAN_WIDGETS_"))}
    env.update(keyring_env(tmp_path))
    return subprocess.run(
        [sys.executable, "-m", "loan_widgets", "keys", *args], input=stdin, text=True,
        capture_output=True, env=env, timeout=60, start_new_session=True,  # no terminal
    )


class TestCommandLine:
    """python -m loan_widgets keys add|list|remove, in processes of their own."""

    def test_add_list_remove(self, tmp_path, server, exchange) -> None:
        """--stdin add is checked and stored; list masks; remove clears; nothing echoes."""
        added = _cli(tmp_path, "add", "tn", "--network", "testnet", "--host", server.base_url,
                     "--stdin", stdin=f"{PLANTED_KEY}\n{PLANTED_SECRET}\n")
        assert added.returncode == 0, added.stderr
        assert "Stored profile 'tn' for testnet" in added.stdout
        assert signed_by(exchange) == {PLANTED_KEY}
        listed = _cli(tmp_path, "list")
        assert listed.returncode == 0 and "tn (default)" in listed.stdout
        assert mask(PLANTED_KEY) in listed.stdout
        removed = _cli(tmp_path, "remove", "tn")
        assert removed.returncode == 0 and "Removed profile 'tn'" in removed.stdout
        assert "No credentials profiles yet" in _cli(tmp_path, "list").stdout
        for run in (added, listed, removed):
            for text in (run.stdout, run.stderr):
                assert PLANTED_SECRET not in text and PLANTED_KEY not in text
        config = tmp_path / "config" / "profiles.json"
        assert stat.S_IMODE(config.stat().st_mode) == 0o600

    def test_errors_are_one_line(self, tmp_path, server) -> None:
        """A refused key: exit 1, one line on stderr, nothing stored; a usage error: exit 2."""
        refused = _cli(tmp_path, "add", "tn", "--network", "testnet", "--host", server.base_url,
                       "--stdin", stdin=f"{PLANTED_KEY}\nwrong-secret\n")
        assert refused.returncode == 1 and refused.stdout == ""
        assert refused.stderr.startswith("error: ") and len(refused.stderr.splitlines()) == 1
        assert "retCode 10004" in refused.stderr
        assert not (tmp_path / "config" / "profiles.json").exists()
        bad = _cli(tmp_path, "add", "tn")
        assert bad.returncode == 2 and "--network" in bad.stderr

    def test_prompt_on_a_terminal_echoes_nothing(self, tmp_path, server, exchange) -> None:
        """On a real terminal getpass asks twice and echoes neither the key nor the secret."""
        pexpect = pytest.importorskip("pexpect")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("BYBIT_", "LOAN_WIDGETS_"))}
        env.update(keyring_env(tmp_path))
        child = pexpect.spawn(
            sys.executable,
            ["-m", "loan_widgets", "keys", "add", "tn", "--network", "testnet", "--host",
             server.base_url],
            env=env, encoding="utf-8", timeout=60,
        )
        child.expect_exact("API key for profile 'tn' (testnet): ")
        child.sendline(PLANTED_KEY)
        child.expect_exact(f"API secret for key {mask(PLANTED_KEY)}: ")
        child.sendline(PLANTED_SECRET)
        child.expect(pexpect.EOF)
        child.close()
        shown = (child.before or "") + str(child.after)
        assert child.exitstatus == 0, shown
        assert "Stored profile 'tn'" in shown
        assert PLANTED_KEY not in shown and PLANTED_SECRET not in shown
        assert signed_by(exchange) == {PLANTED_KEY}


class TestProfileRepr:
    """A profile shows its name, network and host, never its key."""

    def test_repr_hides_the_key(self) -> None:
        """The API key is left out of repr entirely."""
        profile = Profile("tn", "testnet", PLANTED_KEY, "https://api-testnet.bybit.com")
        assert PLANTED_KEY not in repr(profile)
        assert repr(profile).startswith("Profile(name='tn', network='testnet', host='https://")

"""%loan_keys in a real IPython shell, against the test sandboxes, with a real file keyring.

The shell here has no kernel, so ``getpass.getpass`` is swapped for a recorder of the
prompts, exactly as ipykernel swaps it for its own prompt while a cell runs; the
real kernel's prompt is driven through its stdin channel in
``tests/evidence/test_secret_scan.py``.
"""

from __future__ import annotations

import getpass
import subprocess
import sys
from collections.abc import Callable

import pytest
from IPython.core.error import StdinNotImplementedError, UsageError
from IPython.utils.capture import capture_output
from support import OTHER_KEY, OTHER_SECRET, PLANTED_KEY, PLANTED_SECRET, posts

from loan_widgets import BorrowResult, profiles
from loan_widgets.credentials import mask
from loan_widgets.keys import ProfileList
from loan_widgets.ledger import default_ledger
from loan_widgets.sandbox import Sandbox


class Prompts:
    """Answers getpass prompts in order and records what was asked."""

    def __init__(self) -> None:
        self.answers: list[str] = []
        self.asked: list[str] = []

    def __call__(self, prompt: str = "Password: ", stream: object = None) -> str:
        self.asked.append(prompt)
        if not self.answers:
            raise AssertionError(f"unexpected prompt {prompt!r}")
        return self.answers.pop(0)


@pytest.fixture
def prompts(monkeypatch: pytest.MonkeyPatch) -> Prompts:
    """getpass.getpass answered from a list (as a front end's masked input would)."""
    answering = Prompts()
    monkeypatch.setattr(getpass, "getpass", answering)
    return answering


def run(ip, line: str) -> tuple[object, str]:
    """Run ``%loan_keys line``; its value and what it printed."""
    with capture_output() as captured:
        value = ip.run_line_magic("loan_keys", line)
    return value, captured.stdout + captured.stderr


def keys_used(exchange: Sandbox) -> list[str]:
    return [r.headers["x-bapi-api-key"] for r in posts(exchange)]


@pytest.mark.usefixtures("keyring_file")
class TestLoanKeys:
    """add asks with getpass, checks, stores; list masks; remove forgets."""

    def test_add_list_remove(self, ip, prompts, exchange) -> None:
        """The key and secret are asked with getpass; the output shows a masked key only."""
        prompts.answers = [PLANTED_KEY, PLANTED_SECRET]
        value, out = run(ip, "add tn --network testnet")
        assert value is None
        assert prompts.asked == ["API key for profile 'tn' (testnet): ",
                                 f"API secret for key {mask(PLANTED_KEY)}: "]
        assert out.startswith("Stored profile 'tn' for testnet (key PL***42, the default)")
        assert "the exchange at http://127.0.0.1:" in out
        assert [r.path for r in exchange.requests if r.headers.get("x-bapi-api-key")] == [
            "/v5/crypto-loan/borrowable-collateralisable-number"]
        listed, _ = run(ip, "list")
        assert isinstance(listed, ProfileList) and [p.name for p in listed] == ["tn"]
        assert "tn (default)" in repr(listed) and mask(PLANTED_KEY) in repr(listed)
        assert repr(run(ip, "")[0]) == repr(listed)
        value, out = run(ip, "remove tn")
        assert value is None and out == "Removed profile 'tn' (testnet) and its secret.\n"
        assert "No credentials profiles yet" in repr(run(ip, "list")[0])
        for text in (out, repr(listed), *prompts.asked):
            assert PLANTED_KEY not in text and PLANTED_SECRET not in text

    def test_borrow_after_add_in_the_same_session(self, ip, prompts, exchange) -> None:
        """%borrow without keys says how to add them; after %loan_keys add it signs with them."""
        with pytest.raises(UsageError, match="%loan_keys add NAME --network testnet"):
            ip.run_line_magic("borrow", "USDT 550 BTC --network testnet")
        prompts.answers = [PLANTED_KEY, PLANTED_SECRET]
        run(ip, "add tn --network testnet")
        result = ip.run_line_magic("borrow", "USDT 550 BTC --network testnet")
        assert isinstance(result, BorrowResult) and keys_used(exchange) == [PLANTED_KEY]

    def test_changes_reach_cached_clients(self, ip, prompts, exchange) -> None:
        """A new default or a removal takes effect on %borrow's next call, not a restart."""
        exchange.add_credentials(OTHER_KEY, secret=OTHER_SECRET)
        prompts.answers = [PLANTED_KEY, PLANTED_SECRET, OTHER_KEY, OTHER_SECRET]
        run(ip, "add one --network testnet")
        ip.run_line_magic("borrow", "USDT 550 BTC --network testnet")
        run(ip, "add two --network testnet --default")
        ip.run_line_magic("borrow", "USDT 551 BTC --network testnet")
        assert keys_used(exchange) == [PLANTED_KEY, OTHER_KEY]
        run(ip, "remove two")
        ip.run_line_magic("borrow", "USDT 552 BTC --network testnet")
        run(ip, "remove one")
        with pytest.raises(UsageError, match="no API credentials for testnet"):
            ip.run_line_magic("borrow", "USDT 553 BTC --network testnet")
        assert keys_used(exchange) == [PLANTED_KEY, OTHER_KEY, PLANTED_KEY]

    def test_refused_key_stores_nothing(self, ip, prompts) -> None:
        """A secret the exchange refuses: a one-line UsageError without it; nothing stored."""
        prompts.answers = [PLANTED_KEY, "wrong-secret"]
        with pytest.raises(UsageError) as info:
            ip.run_line_magic("loan_keys", "add tn --network testnet")
        text = str(info.value)
        assert "retCode 10004" in text and "nothing was stored" in text
        assert len(text.splitlines()) == 1 and "wrong-secret" not in text
        assert not profiles.config_file().exists()

    def test_hostile_paste_is_named_not_shown(self, ip, prompts, exchange) -> None:
        """A pasted zero-width space in the key is refused before the secret is asked."""
        prompts.answers = [PLANTED_KEY[:5] + "\u200b" + PLANTED_KEY[5:]]
        with pytest.raises(UsageError) as info:
            ip.run_line_magic("loan_keys", "add tn --network testnet")
        text = str(info.value)
        assert "U+200B (ZERO WIDTH SPACE) at position 6" in text and "the prompt" in text
        assert PLANTED_KEY[5:] not in text and len(prompts.asked) == 1
        assert exchange.count() == 0

    def test_front_end_without_input(self, ip, monkeypatch) -> None:
        """No password prompt in this front end: one line pointing to the terminal command."""

        def no_stdin(prompt: str = "", stream: object = None) -> str:
            raise StdinNotImplementedError("getpass was called, but this frontend does not "
                                           "support input requests.")

        monkeypatch.setattr(getpass, "getpass", no_stdin)
        with pytest.raises(UsageError, match="python -m loan_widgets keys add NAME"):
            ip.run_line_magic("loan_keys", "add tn --network testnet")
        assert not profiles.config_file().exists()

    @pytest.mark.parametrize(("line", "says"), [
        ("add tn", "the following arguments are required: --network"),
        ("add tn --network devnet", "invalid choice: 'devnet'"),
        ("add 'bad name' --network testnet", "profile name 'bad name' is not valid"),
        ("add tn --network testnet --stdin", "unrecognized arguments: --stdin"),
        ("add tn --network testnet --host http://api.bybit.com", "would travel in clear text"),
        ("frobnicate", "invalid choice: 'frobnicate'"),
        ("remove nope", "no credentials profile named 'nope'"),
        ("add 'unclosed --network testnet", "cannot parse the line"),
    ])
    def test_usage_errors(self, ip, prompts, line: str, says: str) -> None:
        """Bad lines are one-line UsageErrors; nothing is asked or stored."""
        with pytest.raises(UsageError) as info:
            ip.run_line_magic("loan_keys", line)
        assert says in str(info.value) and len(str(info.value).splitlines()) == 1
        assert prompts.asked == [] and not profiles.config_file().exists()

    def test_help(self, ip) -> None:
        """%loan_keys? documents the grammar and where secrets go."""
        doc = ip.find_line_magic("loan_keys").__doc__
        for text in ("add NAME --network testnet|mainnet", "list", "remove NAME", "OS keyring",
                     "password prompt", "python -m loan_widgets keys"):
            assert text in doc

    def test_checked_at_the_configured_host(self, ip, prompts, other_server) -> None:
        """With %config BorrowMagics.base_url set, the key is checked where %borrow will go."""
        ip.run_line_magic("config", f'BorrowMagics.base_url = "{other_server.base_url}"')
        prompts.answers = [OTHER_KEY, OTHER_SECRET]
        _, out = run(ip, "add tn --network testnet")
        assert f"the exchange at {other_server.base_url} accepted the key" in out


class TestHostileKeysInMagics:
    """Finding 16 through %borrow: a hostile key is one line, nothing sent, no ledger row."""

    @pytest.mark.parametrize("key", ["PLANTEDKEY\u200b0042", "PLANTED\u2019KEY0042",
                                     "PLANTEDKEY0042\nPLANTEDKEY0042"])
    def test_borrow_with_hostile_key(self, ip, exchange, monkeypatch, key: str) -> None:
        """Zero-width space, curly quote, newline: named, never echoed."""
        monkeypatch.setenv("BYBIT_API_KEY", key)
        monkeypatch.setenv("BYBIT_API_SECRET", PLANTED_SECRET)
        with pytest.raises(UsageError) as info:
            ip.run_line_magic("borrow", "USDT 550 BTC --network testnet")
        text = str(info.value)
        assert "the API key from BYBIT_API_KEY has" in text and len(text.splitlines()) == 1
        assert "PLANTED" not in text and "0042" not in text
        assert exchange.count() == 0 and default_ledger().count() == 0


class TestTwoProfilesInOneNotebook:
    """Testnet keys in one profile, other keys in another, two sandboxes: the right key each."""

    @pytest.fixture
    def two_profiles(self, keyring_file, ip, prompts, other_server) -> Callable[[], None]:
        """Profile 'testnet' (the default, any host) and 'other' (bound to the second sandbox)."""
        prompts.answers = [PLANTED_KEY, PLANTED_SECRET, OTHER_KEY, OTHER_SECRET]
        run(ip, "add testnet --network testnet")
        run(ip, f"add other --network testnet --host {other_server.base_url}")
        return lambda: None

    @pytest.mark.usefixtures("two_profiles")
    def test_network_uses_the_default_profile(self, ip, exchange, other_server) -> None:
        """%borrow --network testnet signs with the testnet profile, at its sandbox."""
        ip.run_line_magic("borrow", "USDT 550 BTC --network testnet")
        assert keys_used(exchange) == [PLANTED_KEY] and posts(other_server.sandbox) == []

    @pytest.mark.usefixtures("two_profiles")
    def test_profile_flag_picks_the_other(self, ip, exchange, other_server) -> None:
        """%borrow --network testnet, then --profile other: each signs with its own key."""
        ip.run_line_magic("borrow", "USDT 550 BTC --network testnet")
        ip.run_line_magic("borrow", "USDT 551 BTC --profile other")
        assert keys_used(exchange) == [PLANTED_KEY]
        assert keys_used(other_server.sandbox) == [OTHER_KEY]

    @pytest.mark.usefixtures("two_profiles")
    def test_config_profile(self, ip, other_server) -> None:
        """%config BorrowMagics.profile = "other" makes %borrow sign with that profile."""
        ip.run_line_magic("config", 'BorrowMagics.profile = "other"')
        ip.run_line_magic("borrow", "USDT 551 BTC")
        assert keys_used(other_server.sandbox) == [OTHER_KEY]


class TestStaysLazy:
    """%load_ext loan_widgets registers %loan_keys without importing keyring."""

    def test_load_ext_does_not_import_keyring(self) -> None:
        """The magic is there; keyring, pandas and ipywidgets are not loaded."""
        code = (
            "import sys\n"
            "from IPython.testing.globalipapp import start_ipython\n"
            "ip = start_ipython()\n"
            "ip.run_line_magic('load_ext', 'loan_widgets')\n"
            "assert 'loan_keys' in ip.magics_manager.magics['line']\n"
            "ip.run_line_magic('unload_ext', 'loan_widgets')\n"
            "assert 'loan_keys' not in ip.magics_manager.magics['line']\n"
            "print(sorted({'keyring', 'pandas', 'ipywidgets'} & set(sys.modules)))\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, timeout=120)
        assert out.stdout.strip().splitlines()[-1] == "[]"

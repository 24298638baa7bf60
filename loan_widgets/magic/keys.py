"""``%loan_keys``: credentials profiles from a notebook (add, list, remove).

The key and secret are asked for with ``getpass``, which Jupyter front ends
show as a masked input whose answer is never saved in the notebook; they are
never a widget field or a traitlet. Core errors become one-line ``UsageError``s.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any, NoReturn

from IPython.core.error import StdinNotImplementedError, UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from .. import keys
from ..errors import LoanWidgetsError

__all__ = ["KeysMagics"]


class _Parser(argparse.ArgumentParser):
    """argparse that raises a one-line ``UsageError`` instead of exiting the kernel."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see %loan_keys?)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError((message or "").strip() or "see %loan_keys?")


def _prompt(text: str) -> str:
    """A masked prompt; a front end without input gets a one-line way out."""
    import getpass  # looked up at call time: ipykernel swaps in its own masked prompt

    try:
        return getpass.getpass(text)
    except (StdinNotImplementedError, EOFError) as error:
        raise UsageError(
            "%loan_keys add asks for the key and secret with a password prompt, and this front "
            "end cannot show one: run python -m loan_widgets keys add NAME --network NETWORK in "
            "a terminal"
        ) from error


@magics_class
class KeysMagics(Magics):
    """``%loan_keys add | list | remove``: API keys by network, secrets in the OS keyring."""

    @line_magic
    def loan_keys(self, line: str = "") -> Any:
        """Credentials profiles: API keys bound to a network, secrets in the OS keyring.

        Usage::

            %loan_keys add NAME --network testnet|mainnet [--host URL] [--default]
                           [--private-key-file FILE] [--no-check]
            %loan_keys list                 # (or just %loan_keys) keys masked
            %loan_keys remove NAME

        ``add`` asks for the API key and secret with a password prompt (never
        saved in the notebook), reads the account's borrow limits with them at
        the host the profile will be used with, and only then stores the
        secret in the OS keyring and the profile (no secret) in the profiles
        file. The first profile of a network is its default: ``%borrow
        --network testnet`` signs with it; ``--profile NAME`` picks another.
        A testnet profile is never used against a mainnet host, nor the reverse.
        ``--private-key-file`` stores the path of a self-generated RSA key.
        The same from Python: ``loan_widgets.keys.add/list_profiles/remove``,
        and from a terminal: ``python -m loan_widgets keys add|list|remove``.
        """
        try:
            words = shlex.split(line)
        except ValueError as error:
            raise UsageError(f"cannot parse the line: {error}") from None
        args = keys.build_parser("%loan_keys", cls=_Parser, cli=False).parse_args(words or ["list"])
        try:
            if args.action == "list":
                return keys.list_profiles()
            if args.action == "remove":
                gone = keys.remove(args.name)
                self._forget_clients()
                print(f"Removed profile {gone.name!r} ({gone.network}) and its secret.")
                return None
            added = keys.add(
                args.name,
                network=args.network,
                host=args.host,
                private_key_file=args.private_key_file,
                default=args.default,
                check=not args.no_check,
                check_at=self._configured("base_url"),
                prompt=_prompt,
            )
        except LoanWidgetsError as error:
            raise UsageError(" ".join(str(error).split())) from None
        self._forget_clients()
        print(added)
        return None

    def _borrow_magics(self) -> list[Any]:
        configurables = self.shell.configurables if self.shell is not None else []
        return [c for c in configurables if type(c).__name__ == "BorrowMagics"]

    def _configured(self, name: str) -> str | None:
        """A ``%config BorrowMagics`` setting, so keys are checked where ``%borrow`` will go."""
        values = [getattr(m, name, "") for m in self._borrow_magics()]
        return next((v for v in values if v), None)

    def _forget_clients(self) -> None:
        """Drop ``%borrow``'s cached clients: the next call resolves the credentials afresh."""
        for magics in self._borrow_magics():
            cached = getattr(magics, "_clients", None)
            if isinstance(cached, dict):
                for client in cached.values():
                    client.close()
                cached.clear()

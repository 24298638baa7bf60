"""``%borrow``: the IPython edge. Parse the line, build a request, call the client.

Core errors become one-line ``UsageError`` messages here and only here.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from IPython.core.error import StdinNotImplementedError, UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Float, Int, TraitError, Unicode, validate
from traitlets.config import Configurable

from .client import LoanClient
from .config import NETWORKS
from .endpoints import BORROW
from .errors import LoanWidgetsError, ValidationError
from .orders import BorrowRequest

__all__ = ["BorrowMagics", "load_ipython_extension", "unload_ipython_extension"]

_FLAGS = {
    "--collateral-amount": "--collateral-amount",
    "-c": "--collateral-amount",
    "--term": "--term",
    "-t": "--term",
    "--network": "--network",
    "-n": "--network",
    "--dry-run": "--dry-run",
    "--yes": "--yes",
    "-y": "--yes",
    "--widget": "--widget",
}


@magics_class
class BorrowMagics(Magics, Configurable):
    """Borrow crypto from a notebook through Bybit's crypto-loan API.

    Settings (``%config BorrowMagics.network = "testnet"``) are traitlets;
    credentials are never settings: they come from the environment.
    """

    network = Unicode(
        "",
        help="sandbox, testnet or mainnet (empty: $LOAN_WIDGETS_NETWORK, else sandbox)",
    ).tag(config=True)
    base_url = Unicode(
        "", help="Another host for the network (empty: $LOAN_WIDGETS_BASE_URL or the default)"
    ).tag(config=True)
    recv_window = Int(5000, help="Milliseconds a signed request stays valid").tag(config=True)
    timeout = Float(
        0.0, help="Seconds to wait for an answer (0: $LOAN_WIDGETS_TIMEOUT, else 10)"
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, config=shell.config if shell is not None else None, **kwargs)
        if shell is not None and self not in shell.configurables:
            shell.configurables.append(self)
        self._clients: dict[tuple[Any, ...], LoanClient] = {}

    @validate("network")
    def _check_network(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"]).strip().lower()
        if value and value not in NETWORKS:
            raise TraitError(f"network must be one of {', '.join(NETWORKS)}, not {value!r}")
        return value

    @validate("recv_window")
    def _check_recv_window(self, proposal: dict[str, Any]) -> int:
        if not 1 <= proposal["value"] <= 60_000:
            raise TraitError("recv_window must be between 1 and 60000 ms")
        return proposal["value"]

    @validate("timeout")
    def _check_timeout(self, proposal: dict[str, Any]) -> float:
        if not 0 <= proposal["value"] <= 600:
            raise TraitError("timeout must be between 0 and 600 seconds")
        return proposal["value"]

    def client(self, network: str | None = None) -> LoanClient:
        """The client for the current settings (one per settings and credentials)."""
        key = (
            network or self.network or os.environ.get("LOAN_WIDGETS_NETWORK", ""),
            self.base_url or os.environ.get("LOAN_WIDGETS_BASE_URL", ""),
            self.recv_window,
            self.timeout or os.environ.get("LOAN_WIDGETS_TIMEOUT", ""),
            os.environ.get("BYBIT_API_KEY", ""),
            hash(os.environ.get("BYBIT_API_SECRET", "")),
            os.environ.get("BYBIT_API_PRIVATE_KEY_FILE", ""),
        )
        if key not in self._clients:
            self._clients[key] = LoanClient(
                network=key[0] or None,
                base_url=key[1] or None,
                recv_window=self.recv_window,
                timeout=self.timeout or None,
                source="magic",
            )
        return self._clients[key]

    @magic_arguments()
    @argument(
        "words",
        nargs="*",
        metavar="LOAN_COIN [LOAN_AMOUNT] COLLATERAL_COIN",
        help="coin to borrow, how much (optional with --collateral-amount), coin to pledge",
    )
    @argument(
        "-c",
        "--collateral-amount",
        metavar="X",
        help="pledge this much collateral; without LOAN_AMOUNT the loan is the most it supports",
    )
    @argument(
        "-t",
        "--term",
        metavar="DAYS",
        help="flexible (default) or a fixed term: 7, 14, 30, 90, 180",
    )
    @argument("-n", "--network", metavar="NAME", help="sandbox, testnet or mainnet for this call")
    @argument(
        "--dry-run",
        action="store_true",
        help="validate and sign, show the exact request, send nothing",
    )
    @argument("-y", "--yes", action="store_true", help="confirm a mainnet borrow without asking")
    @argument("--widget", action="store_true", help="show the BorrowWidget, prefilled")
    @line_magic
    def borrow(self, line: str = "") -> Any:
        """Borrow a coin against collateral through Bybit's crypto-loan API.

        Examples::

            %borrow USDT 550 BTC                        # borrow 550 USDT against BTC
            %borrow USDT BTC --collateral-amount 0.1 --term 30
            %borrow ETH 2 USDC --term 7 --dry-run       # show the signed request only
            r = %borrow USDT $amount BTC                # r.order_id, r.request, ...
            %borrow                                     # the BorrowWidget

        Runs on the local sandbox unless ``%config BorrowMagics.network`` (or
        ``--network``) says ``testnet`` or ``mainnet``; those read
        ``BYBIT_API_KEY`` with ``BYBIT_API_SECRET`` (or
        ``BYBIT_API_PRIVATE_KEY_FILE``) from the environment. A mainnet borrow
        needs ``--yes`` or a typed confirmation. Every order is recorded in the
        ledger: ``loan_widgets.orders()``.
        """
        _reject_duplicate_flags(line)
        args = parse_argstring(self.borrow, line)
        if args.network is not None and args.network.strip().lower() not in NETWORKS:
            raise UsageError(
                f"--network {args.network!r} is not a network: use {', '.join(NETWORKS)}"
            )
        if not args.words and args.collateral_amount is None and args.term is None:
            return self._show_widget(args, None)
        try:
            request = _request_from(args)
            if args.widget:
                return self._show_widget(args, request)
            client = self.client(args.network.strip().lower() if args.network else None)
            if args.dry_run:
                return client.prepare(BORROW, body=request.to_body())
            if client.network == "mainnet" and not args.yes:
                _confirm_mainnet(request)
            return client.borrow(request=request, source="magic")
        except LoanWidgetsError as error:
            raise UsageError(_one_line(error)) from None

    def _show_widget(self, args: Any, request: BorrowRequest | None) -> None:
        try:
            from .widget import BorrowWidget
        except ImportError as error:  # the widget ships later than the magic
            raise UsageError(
                f"the BorrowWidget is not available ({error}); give LOAN_COIN [AMOUNT] "
                "COLLATERAL_COIN, see %borrow?"
            ) from None
        from IPython.display import display

        widget = BorrowWidget(client=self.client(args.network), source="widget")
        if request is not None:
            widget.prefill(request)
        display(widget)
        return None


def _reject_duplicate_flags(line: str) -> None:
    try:
        words = shlex.split(line, posix=True)
    except ValueError as error:
        raise UsageError(f"cannot parse the line: {error}") from None
    seen: set[str] = set()
    for word in words:
        flag = _FLAGS.get(word.split("=", 1)[0])
        if flag is None:
            continue
        if flag in seen:
            raise UsageError(f"{flag} is given twice")
        seen.add(flag)


def _request_from(args: Any) -> BorrowRequest:
    words = list(args.words)
    if len(words) == 3:
        loan_coin, amount, collateral_coin = words
    elif len(words) == 2:
        (loan_coin, collateral_coin), amount = words, None
        if args.collateral_amount is None:
            raise ValidationError(
                f"no amount: write %borrow {words[0]} AMOUNT {words[1]}, or add --collateral-amount"
            )
    else:
        raise ValidationError(
            "expected LOAN_COIN [LOAN_AMOUNT] COLLATERAL_COIN, e.g. %borrow USDT 550 BTC "
            f"(got {len(words)} word{'s' if len(words) != 1 else ''})"
        )
    return BorrowRequest(
        loan_currency=loan_coin,
        collateral_currency=collateral_coin,
        loan_amount=amount,
        collateral_amount=args.collateral_amount,
        term=args.term,
    )


def _confirm_mainnet(request: BorrowRequest) -> None:
    prompt = f"Borrow {request.describe()} on MAINNET with real funds? Type 'yes' to confirm: "
    try:
        answer = input(prompt)
    except (EOFError, OSError, RuntimeError, StdinNotImplementedError):
        raise UsageError(
            "mainnet borrow needs confirmation and there is no interactive input: "
            "add --yes to confirm"
        ) from None
    if answer.strip().lower() != "yes":
        raise UsageError("mainnet borrow cancelled: nothing was sent")


def _one_line(error: LoanWidgetsError) -> str:
    return " ".join(str(error).split())


def load_ipython_extension(ip: Any) -> None:
    """Register ``%borrow`` (called by ``%load_ext loan_widgets``)."""
    magics = BorrowMagics(ip)
    ip.register_magics(magics)


def unload_ipython_extension(ip: Any) -> None:
    """Remove ``%borrow`` (called by ``%unload_ext loan_widgets``)."""
    ip.magics_manager.magics["line"].pop("borrow", None)
    ip.configurables[:] = [c for c in ip.configurables if not isinstance(c, BorrowMagics)]

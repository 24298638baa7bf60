"""``%borrow``: the IPython edge. Parse the line, build a request, call the client.

Core errors become one-line ``UsageError`` messages here and only here.
"""

from __future__ import annotations

import os
import shlex
from decimal import Decimal
from typing import Any

from IPython.core.error import StdinNotImplementedError, UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Float, Int, TraitError, Unicode, validate
from traitlets.config import Configurable

from .client import LoanClient
from .config import NETWORKS
from .endpoints import ADJUST_COLLATERAL, REPAY
from .errors import LoanWidgetsError, ValidationError
from .orders import AdjustRequest, BorrowRequest, RepayRequest

__all__ = ["BorrowMagics", "load_ipython_extension", "unload_ipython_extension"]

_FLAGS = {
    "--api": "--api",
    "--rate": "--rate",
    "-r": "--rate",
    "--reconcile": "--reconcile",
    "--all": "--all",
    "--history": "--history",
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
    "--watch": "--watch",
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
    api = Unicode(
        "legacy", help="legacy (/v5/crypto-loan/borrow) or new (flexible/fixed loan API)"
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

    @validate("api")
    def _check_api(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"]).strip().lower()
        if value not in ("legacy", "new"):
            raise TraitError(f"api must be legacy or new, not {value!r}")
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
    @argument(
        "-r",
        "--rate",
        metavar="R",
        help="annual rate for a fixed term on the new API (0.05 = 5 %%)",
    )
    @argument("--api", metavar="API", help="legacy or new (default: %%config BorrowMagics.api)")
    @argument("-y", "--yes", action="store_true", help="confirm a mainnet borrow without asking")
    @argument("--widget", action="store_true", help="show the BorrowWidget, prefilled")
    @argument(
        "--reconcile",
        action="store_true",
        help="settle 'unknown' ledger rows by reading the exchange (sends no order)",
    )
    @line_magic
    def borrow(self, line: str = "") -> Any:
        """Borrow a coin against collateral through Bybit's crypto-loan API.

        Examples::

            %borrow USDT 550 BTC                        # borrow 550 USDT against BTC
            %borrow USDT BTC --collateral-amount 0.1 --term 30
            %borrow ETH 2 USDC --term 7 --dry-run       # show the signed request only
            r = %borrow USDT $amount BTC                # r.order_id, r.request, ...
            %borrow USDT 550 BTC --api new              # Bybit's new flexible loan API
            %borrow USDT 550 BTC --api new --term 30 --rate 0.05   # new API, fixed
            %borrow --reconcile                         # decide 'unknown' ledger rows
            %borrow                                     # the BorrowWidget

        Runs on the local sandbox unless ``%config BorrowMagics.network`` (or
        ``--network``) says ``testnet`` or ``mainnet``; those read
        ``BYBIT_API_KEY`` with ``BYBIT_API_SECRET`` (or
        ``BYBIT_API_PRIVATE_KEY_FILE``) from the environment. A mainnet borrow
        needs ``--yes`` or a typed confirmation. Every order is recorded in the
        ledger: ``loan_widgets.orders()``.
        """
        args = self._parse(self.borrow, line)
        if args.reconcile:
            if args.words:
                raise UsageError("--reconcile takes no coins or amounts")
            return self._run(lambda: self.client(args.network).reconcile())
        if not args.words and all(
            v is None for v in (args.collateral_amount, args.term, args.rate)
        ):
            unused = [f for f, on in (("--dry-run", args.dry_run), ("--yes", args.yes),
                                      ("--api", args.api is not None)) if on]
            if unused:
                raise UsageError(
                    f"{' '.join(unused)} needs an order: LOAN_COIN [AMOUNT] COLLATERAL_COIN"
                )
            return self._show_widget(args, None)
        api = (args.api or self.api).strip().lower()
        if api not in ("legacy", "new"):
            raise UsageError(f"--api {args.api!r} is not known: use legacy or new")

        def run() -> Any:
            request = _request_from(args)
            if args.widget:
                return self._show_widget(args, request)
            client = self.client(args.network)
            endpoint, body = client.borrow_endpoint(request, api)
            if args.dry_run:
                return client.prepare(endpoint, body=body)
            if client.network == "mainnet" and not args.yes:
                _confirm_mainnet(request.describe(), "Borrow")
            return client.borrow(request=request, api=api, source="magic")

        return self._run(run)

    @magic_arguments()
    @argument("order_id", nargs="?", metavar="ORDER_ID", help="the loan order to repay")
    @argument("amount", nargs="?", metavar="AMOUNT", help="how much of the loan coin to repay")
    @argument("--all", action="store_true", help="repay everything owed: principal and interest")
    @argument("-n", "--network", metavar="NAME", help="sandbox, testnet or mainnet for this call")
    @argument("--dry-run", action="store_true", help="show the exact request, send nothing")
    @argument("-y", "--yes", action="store_true", help="confirm on mainnet without asking")
    @line_magic
    def repay(self, line: str = "") -> Any:
        """Repay a crypto loan (interest is settled first, then principal).

        Examples::

            %repay 1794267532472646144 100      # repay 100 of the loan coin
            %repay 1794267532472646144 --all    # repay it in full; collateral comes back

        Never resent on a lost answer: the ledger row becomes 'unknown' and
        ``%borrow --reconcile`` settles it by reading the exchange.
        """
        args = self._parse(self.repay, line)
        if args.order_id is None:
            raise UsageError("expected ORDER_ID AMOUNT (or ORDER_ID --all), see %repay?")
        if args.all == (args.amount is not None):
            raise UsageError("give either AMOUNT or --all, not both or neither")

        def run() -> Any:
            client = self.client(args.network)
            amount = client.amount_owed(args.order_id) if args.all else args.amount
            request = RepayRequest(args.order_id, amount)
            if args.dry_run:
                return client.prepare(REPAY, body=request.to_body())
            if client.network == "mainnet" and not args.yes:
                _confirm_mainnet(request.describe(), "Repay")
            return client.repay(request.order_id, request.amount, source="magic")

        return self._run(run)

    @magic_arguments()
    @argument("direction", nargs="?", metavar="add|reduce", help="add or reduce collateral")
    @argument("order_id", nargs="?", metavar="ORDER_ID", help="the loan order")
    @argument("amount", nargs="?", metavar="AMOUNT", help="collateral to move (collateral coin)")
    @argument("-n", "--network", metavar="NAME", help="sandbox, testnet or mainnet for this call")
    @argument("--dry-run", action="store_true", help="show the exact request, send nothing")
    @argument("-y", "--yes", action="store_true", help="confirm on mainnet without asking")
    @line_magic
    def collateral(self, line: str = "") -> Any:
        """Add collateral to a loan, or take some back, showing the LTV before and after.

        Examples::

            %collateral add 1794267532472646144 0.01
            %collateral reduce 1794267532472646144 0.001    # at most the allowed maximum
            %collateral reduce 1794267532472646144          # show the allowed maximum only
        """
        args = self._parse(self.collateral, line)
        if args.direction not in ("add", "reduce") or args.order_id is None:
            raise UsageError("expected add|reduce ORDER_ID AMOUNT, see %collateral?")

        def run() -> Any:
            client = self.client(args.network)
            if args.amount is None:
                if args.direction == "add":
                    raise ValidationError("how much collateral to add? give AMOUNT")
                most = client.max_collateral_reduction(args.order_id)
                return MaxReduction(args.order_id, most)
            request = AdjustRequest(args.order_id, args.amount, args.direction)
            if args.dry_run:
                return client.prepare(ADJUST_COLLATERAL, body=request.to_body())
            if request.direction == "reduce":
                most = client.max_collateral_reduction(request.order_id)
                if request.amount > most:
                    raise ValidationError(
                        f"at most {format(most, 'f')} can be taken from loan {request.order_id} "
                        "now (the exchange's max allowed reduction)"
                    )
            if client.network == "mainnet" and not args.yes:
                _confirm_mainnet(request.describe(), "Adjust collateral")
            return client.adjust_collateral(
                request.order_id, request.amount, request.direction, source="magic"
            )

        return self._run(run)

    @magic_arguments()
    @argument(
        "--history",
        nargs="?",
        const="loans",
        metavar="KIND",
        help="completed loans (default), repayments or adjustments instead of open loans",
    )
    @argument("-n", "--network", metavar="NAME", help="sandbox, testnet or mainnet for this call")
    @argument("--watch", action="store_true", help="open the LoanDesk: every open loan, live")
    @line_magic
    def loans(self, line: str = "") -> Any:
        """Open loans: debt, interest, current LTV against margin-call and liquidation LTV.

        Rows near a margin call are highlighted. ``x = %loans`` gives a table
        whose ``.frame`` is a DataFrame with exact Decimal amounts.

        Examples::

            %loans
            %loans --history                 # completed loans
            %loans --history repayments      # or: adjustments
            %loans --watch                   # the LoanDesk: live, with alerts and actions
        """
        args = self._parse(self.loans, line)
        if args.watch:
            if args.history is not None:
                raise UsageError("--watch shows open loans: drop --history")
            from IPython.display import display

            from .desk import LoanDesk

            display(self._run(lambda: LoanDesk(client=self.client(args.network))))
            return None

        def run() -> Any:
            client = self.client(args.network)
            if args.history is not None:
                return client.history(args.history)
            from .frames import LoansTable

            return LoansTable(client.loans(), client.network)

        return self._run(run)

    def _parse(self, magic: Any, line: str) -> Any:
        _reject_duplicate_flags(line)
        magic.parser.allow_abbrev = False  # --ter must not silently mean --term
        try:
            args = parse_argstring(magic, line)
        except UsageError as error:  # argparse echoes arguments verbatim: keep it one short line
            raise UsageError(_shorten(str(error))) from None
        network = getattr(args, "network", None)
        if network is not None:
            if network.strip().lower() not in NETWORKS:
                raise UsageError(
                    f"--network {network!r} is not a network: use {', '.join(NETWORKS)}"
                )
            args.network = network.strip().lower()
        return args

    @staticmethod
    def _run(action: Any) -> Any:
        try:
            return action()
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
        name = word.split("=", 1)[0]
        if len(name) > 2 and name[0] == "-" and name[1] != "-":
            name = name[:2]  # -t7 is -t with its value attached
        flag = _FLAGS.get(name)
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
        annual_rate=args.rate,
    )


def _confirm_mainnet(what: str, verb: str) -> None:
    prompt = f"{verb}: {what} on MAINNET with real funds? Type 'yes' to confirm: "
    try:
        answer = input(prompt)
    except (EOFError, OSError, RuntimeError, StdinNotImplementedError):
        raise UsageError(
            f"mainnet {verb.lower()} needs confirmation and there is no interactive input: "
            "add --yes to confirm"
        ) from None
    if answer.strip().lower() != "yes":
        raise UsageError(f"mainnet {verb.lower()} cancelled: nothing was sent")


class MaxReduction:
    """The largest collateral reduction a loan allows now."""

    def __init__(self, order_id: str, amount: Decimal) -> None:
        self.order_id, self.amount = order_id, amount

    def __repr__(self) -> str:
        return (
            f"At most {format(self.amount, 'f')} collateral can be taken from loan "
            f"{self.order_id} now."
        )


def _one_line(error: LoanWidgetsError) -> str:
    return " ".join(str(error).split())


def _shorten(text: str, limit: int = 160) -> str:
    """One printable line of at most ``limit`` characters."""
    flat = " ".join(text.encode("unicode_escape").decode("ascii").replace("\\n", " ").split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def load_ipython_extension(ip: Any) -> None:
    """Register ``%borrow``, ``%repay``, ``%collateral`` and ``%loans``."""
    magics = BorrowMagics(ip)
    ip.register_magics(magics)


def unload_ipython_extension(ip: Any) -> None:
    """Remove the magics (called by ``%unload_ext loan_widgets``)."""
    for name in ("borrow", "repay", "collateral", "loans"):
        ip.magics_manager.magics["line"].pop(name, None)
    ip.configurables[:] = [c for c in ip.configurables if not isinstance(c, BorrowMagics)]

"""``%borrow``, ``%repay``, ``%collateral``, ``%loans``: the IPython edge.

Each magic parses its line, builds a request and calls the client: the client
owns dry runs, the duplicate guard and the collateral rules, so every entry
point behaves alike. Shared options are declared once
(:mod:`loan_widgets.magic.options`); core errors become one-line
``UsageError`` messages, with their suggestions as flags, here and only here
(:mod:`loan_widgets.magic.render`).
"""

from __future__ import annotations

import os
from typing import Any

from IPython.core.display_functions import display
from IPython.core.displaypub import DisplayPublisher
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Float, Int, TraitError, Unicode, validate
from traitlets.config import Configurable

from ..client import LoanClient
from ..config import Settings, check_api, check_network, check_recv_window
from ..errors import ConfigurationError, LoanWidgetsError, ValidationError
from ..orders import AdjustRequest, BorrowRequest, RepayRequest
from ..terms import LEGACY_TERMS, NEW_API_TERMS
from .keys import KeysMagics
from .new_api import Plan, cancel_plan, collateral_plan, new_only_given, repay_plan
from .options import options, parse, shorten
from .render import confirm_mainnet, usage_error

__all__ = ["BorrowMagics", "load_ipython_extension", "unload_ipython_extension"]

_SETTINGS_ENV = ("LOAN_WIDGETS_NETWORK", "LOAN_WIDGETS_BASE_URL", "LOAN_WIDGETS_TIMEOUT")
"""Read by the client when no setting is given: a change makes a new client."""

USAGE = (
    "%borrow shows the BorrowWidget in a notebook (JupyterLab, Notebook, Voila). Here, "
    "borrow with a line: %borrow LOAN_COIN AMOUNT COLLATERAL_COIN, e.g. %borrow USDT 550 BTC "
    "(--dry-run to see the signed request first; %borrow? for every option)."
)


def _validated(check: Any, value: Any) -> Any:
    try:
        return check(value)
    except ConfigurationError as error:
        raise TraitError(str(error)) from None


@magics_class
class BorrowMagics(Magics, Configurable):
    """Borrow crypto from a notebook through Bybit's crypto-loan API.

    Settings (``%config BorrowMagics.network = "testnet"``) are traitlets;
    credentials are never settings: ``profile`` only names where they are kept.
    """

    network = Unicode(
        "", help="sandbox, testnet or mainnet (empty: $LOAN_WIDGETS_NETWORK, else sandbox)"
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
    profile = Unicode(
        "", help="The credentials profile to use (empty: the network's default credentials)"
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, config=shell.config if shell is not None else None, **kwargs)
        if shell is not None and self not in shell.configurables:
            shell.configurables.append(self)
        self._clients: dict[tuple[Any, ...], LoanClient] = {}

    @validate("network")
    def _check_network(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"]).strip().lower()
        return _validated(check_network, value) if value else ""

    @validate("api")
    def _check_api(self, proposal: dict[str, Any]) -> str:
        return _validated(check_api, proposal["value"])

    @validate("recv_window")
    def _check_recv_window(self, proposal: dict[str, Any]) -> int:
        return _validated(check_recv_window, proposal["value"])

    @validate("timeout")
    def _check_timeout(self, proposal: dict[str, Any]) -> float:
        if not 0 <= proposal["value"] <= 600:
            raise TraitError("timeout must be between 0 and 600 seconds")
        return proposal["value"]

    def client(self, network: str | None = None, profile: str | None = None) -> LoanClient:
        """The client for the current settings and profile (kept while they stay the same).

        A profile brings its own network and host: they apply unless ``--network`` or
        ``%config BorrowMagics.network``/``base_url`` say otherwise (a contradiction is
        refused by the client).
        """
        profile = profile or self.profile or None
        network = network or self.network or None
        base_url = self.base_url or None
        if profile is None:
            settings = Settings.resolve(network, base_url, self.recv_window, self.timeout or None)
            network, base_url = settings.network, settings.base_url
        ambient = tuple(os.environ.get(name, "") for name in _SETTINGS_ENV)
        key = (network, base_url, self.recv_window, self.timeout, profile, ambient)
        if key not in self._clients:
            self._clients[key] = LoanClient(
                network=network, base_url=base_url, recv_window=self.recv_window,
                timeout=self.timeout or None, profile=profile, source="magic",
            )
        client = self._clients[key]
        client.refresh_credentials()  # keys may have changed since the last line
        return client

    def _api(self, args: Any) -> str:
        """The loan API of this line: ``--api``, else ``%config BorrowMagics.api``. Options
        only the new API has are refused on the legacy one (nothing is read or sent)."""
        try:
            api = check_api(args.api or self.api)
        except ConfigurationError:
            raise UsageError(
                f"--api {shorten(str(args.api), 40)!r} is not known: use legacy or new"
            ) from None
        given = new_only_given(args)
        if api == "legacy" and given:
            raise UsageError(f"{given[0]} is an option of the new loan API: add --api new")
        return api

    def _plan(self, args: Any, plan: Plan | Any) -> Any:
        """Dry-run, confirm or send a new-API plan (anything else is a read's result)."""
        if not isinstance(plan, Plan):
            return plan
        return self._send(args, plan.verb, plan.what, plan.prepare, plan.send)

    def _send(self, args: Any, verb: str, what: str, prepare: Any, send: Any) -> Any:
        """The one dry-run and mainnet guard: show the request, or confirm, then send."""
        client = self.client(args.network, args.profile)
        if args.dry_run:
            return prepare(client)
        if client.is_mainnet and not args.yes:
            confirm_mainnet(client, what, verb, args.profile or self.profile or None)
        return send(client)

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
        "-t", "--term", metavar="DAYS",
        help=f"flexible (default) or a fixed term: {', '.join(LEGACY_TERMS)} "
             f"(--api new: {', '.join(NEW_API_TERMS)})",
    )
    @argument(
        "-r", "--rate", metavar="R",
        help="annual rate for a fixed term on the new API (0.05 = 5 %%)",
    )
    @argument("--strategy", metavar="S", help="new API, fixed: PARTIAL (default) or FULL fill")
    @argument(
        "--repay-type", metavar="R",
        help="new API, fixed: at maturity auto (repay from Funding, default) or flexible",
    )
    @argument(
        "--cancel", metavar="ORDER_ID",
        help="new API: cancel this fixed borrow order while it is still matching",
    )
    @argument("--widget", action="store_true", help="show the BorrowWidget, prefilled")
    @argument(
        "--reconcile",
        action="store_true",
        help="settle 'unknown' ledger rows by reading the exchange (sends no order)",
    )
    @options("api", "network", "dry-run", "yes", "force", "profile")
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
            %borrow USDT 550 BTC --api new -t 30 -r 0.05 --strategy FULL  # all or nothing
            %borrow --cancel 13010 --api new            # cancel a matching fixed order
            %borrow --reconcile                         # settle 'unknown' ledger rows
            %borrow                                     # the BorrowWidget

        Runs on the local sandbox unless ``%config BorrowMagics.network`` (or
        ``--network``) says ``testnet`` or ``mainnet``; credentials come from
        the environment or ``--profile``. A mainnet borrow needs ``--yes`` or a
        typed confirmation. An order identical to one still pending or unknown
        is refused until ``%borrow --reconcile`` settles it (or ``--force``).
        Every order is recorded in the ledger: ``loan_widgets.orders()``.
        """
        args = parse(self.borrow, line)
        if args.reconcile:
            if args.words or args.cancel is not None:
                raise UsageError("--reconcile takes no coins, amounts or --cancel")
            return self._run(lambda: self.client(args.network, args.profile).reconcile())
        api = self._api(args)
        if args.cancel is not None:
            extra = [f for f, on in (("coins or amounts", args.words), ("--widget", args.widget),
                                     ("--term", args.term), ("--rate", args.rate),
                                     ("--collateral-amount", args.collateral_amount),
                                     ("--strategy", args.strategy is not None),
                                     ("--repay-type", args.repay_type is not None)) if on]
            if extra:
                raise UsageError(f"--cancel ORDER_ID takes no {extra[0]}")
            return self._run(lambda: self._plan(args, cancel_plan(args)))
        if not args.words and all(
            v is None for v in (args.collateral_amount, args.term, args.rate)
        ):
            unused = [f for f, on in (("--dry-run", args.dry_run and not args.widget),
                                      ("--yes", args.yes), ("--force", args.force),
                                      ("--api", args.api is not None and not args.widget)) if on]
            if unused:
                raise UsageError(
                    f"{' '.join(unused)} needs an order: LOAN_COIN [AMOUNT] COLLATERAL_COIN"
                )
            return self._run(lambda: self._show_widget(args, None, api))

        def run() -> Any:
            request = _request_from(args)
            if args.widget:
                return self._show_widget(args, request, api)
            if args.strategy is not None or args.repay_type is not None:
                from ..new_orders import NewBorrowRequest

                order = NewBorrowRequest(request, args.repay_type, args.strategy)
                return self._send(
                    args, "Borrow", order.describe(), lambda c: c.new.prepare(order),
                    lambda c: c.new.borrow(request=request, repay_type=order.repay_type,
                                           strategy=order.strategy, source="magic",
                                           force=args.force),
                )
            return self._send(
                args, "Borrow", request.describe(),
                lambda c: c.prepare_borrow(request, api),
                lambda c: c.borrow(request=request, api=api, source="magic", force=args.force),
            )

        return self._run(run)

    @magic_arguments()
    @argument(
        "order_id", nargs="?", metavar="ORDER_ID|COIN",
        help="the loan order to repay (legacy), or the loan coin (new API)",
    )
    @argument("amount", nargs="?", metavar="AMOUNT", help="how much of the loan coin to repay")
    @argument("--all", action="store_true", help="repay everything owed: principal and interest")
    @argument("--loan-id", metavar="ID", help="new API: this fixed contract (in full)")
    @argument(
        "--fixed", action="store_true", help="new API: fixed debt of COIN (in full: every contract)"
    )
    @argument(
        "--collateral", metavar="COINS",
        help="new API: repay AMOUNT by selling these pooled collateral coins (BTC or BTC,ETH)",
    )
    @options("api", "network", "dry-run", "yes", "force", "profile")
    @line_magic
    def repay(self, line: str = "") -> Any:
        """Repay a crypto loan (interest is settled first, then principal).

        Examples::

            %repay 1794267532472646144 100      # repay 100 of the loan coin
            %repay 1794267532472646144 --all    # repay it in full; collateral comes back
            %repay USDT 100 --api new           # new API: flexible USDT debt
            %repay USDT --all --api new         # all of it, as owed now
            %repay --loan-id 570 --api new      # new API: fixed contract 570 in full
            %repay USDT --fixed --api new       # every fixed USDT contract in full
            %repay USDT 100 --collateral BTC --api new   # sell pooled BTC to repay
            %repay USDT 100 --collateral BTC --loan-id 570 --api new

        Never resent on a lost answer: the ledger row becomes 'unknown' and
        ``%borrow --reconcile`` settles it by reading the exchange.
        """
        args = parse(self.repay, line)
        if self._api(args) == "new":
            return self._run(lambda: self._plan(
                args, repay_plan(args, self.client(args.network, args.profile))))
        if args.order_id is None:
            raise UsageError("expected ORDER_ID AMOUNT (or ORDER_ID --all), see %repay?")
        if args.all == (args.amount is not None):
            raise UsageError("give either AMOUNT or --all, not both or neither")

        def run() -> Any:
            client = self.client(args.network, args.profile)
            amount = client.amount_owed(args.order_id) if args.all else args.amount
            request = RepayRequest(args.order_id, amount)
            return self._send(
                args, "Repay", request.describe(),
                lambda c: c.prepare_repay(request.order_id, request.amount),
                lambda c: c.repay(
                    request.order_id, request.amount, source="magic", force=args.force
                ),
            )

        return self._run(run)

    @magic_arguments()
    @argument("direction", nargs="?", metavar="add|reduce", help="add or reduce collateral")
    @argument(
        "order_id", nargs="?", metavar="ORDER_ID|COIN",
        help="the loan order (legacy), or the pooled coin (new API)",
    )
    @argument("amount", nargs="?", metavar="AMOUNT", help="collateral to move (collateral coin)")
    @options("api", "network", "dry-run", "yes", "force", "profile")
    @line_magic
    def collateral(self, line: str = "") -> Any:
        """Add collateral to a loan, or take some back, showing the LTV before and after.

        Examples::

            %collateral add 1794267532472646144 0.01
            %collateral reduce 1794267532472646144 0.001    # at most the allowed maximum
            %collateral reduce 1794267532472646144          # show the allowed maximum only
            %collateral add BTC 0.1 --api new               # new API: the account's pool
            %collateral reduce BTC --api new                # the most BTC it may give back
        """
        args = parse(self.collateral, line)
        if args.direction not in ("add", "reduce") or args.order_id is None:
            what = "COIN" if (args.api or self.api) == "new" else "ORDER_ID"
            raise UsageError(f"expected add|reduce {what} AMOUNT, see %collateral?")
        if self._api(args) == "new":
            return self._run(lambda: self._plan(
                args, collateral_plan(args, self.client(args.network, args.profile))))

        def run() -> Any:
            if args.amount is None:
                if args.direction == "add":
                    raise ValidationError("how much collateral to add? give AMOUNT")
                client = self.client(args.network, args.profile)
                return client.collateral_reduction_limit(args.order_id)
            request = AdjustRequest(args.order_id, args.amount, args.direction)
            return self._send(
                args, "Adjust collateral", request.describe(),
                lambda c: c.prepare_adjust(request.order_id, request.amount, request.direction),
                lambda c: c.adjust_collateral(
                    request.order_id, request.amount, request.direction, source="magic",
                    force=args.force,
                ),
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
    @options("api", "network", "profile")
    @argument("--watch", action="store_true", help="open the LoanDesk: every open loan, live")
    @line_magic
    def loans(self, line: str = "") -> Any:
        """Open loans of both loan APIs: debt, interest, current LTV against margin-call and
        liquidation LTV; the new API's flexible debts, fixed contracts, fixed borrow orders
        still matching (and how to cancel them) and pooled collateral.

        Rows near a margin call are highlighted. ``x = %loans`` gives a table
        whose ``.frame`` is a DataFrame with exact Decimal amounts. ``--api``
        shows one API only; ``--history`` shows the histories of ``--api`` (or
        ``%config BorrowMagics.api``).

        Examples::

            %loans
            %loans --api new                 # the new API's positions only
            %loans --history                 # completed loans
            %loans --history repayments      # or: adjustments
            %loans --history repayments --api new    # the new API's repayments
            %loans --watch                   # the LoanDesk: live, with alerts and actions
        """
        args = parse(self.loans, line)
        api = self._api(args)
        if args.watch:
            if args.history is not None:
                raise UsageError("--watch shows open loans: drop --history")
            from ..desk import LoanDesk

            desk = self._run(lambda: LoanDesk(client=self.client(args.network, args.profile)))
            display(desk)
            return None

        def run() -> Any:
            client = self.client(args.network, args.profile)
            if args.history is not None:
                return client.history(args.history, api)
            from ..frames import LoansTable

            return LoansTable(client.loans(args.api and api), client.network)

        return self._run(run)

    @staticmethod
    def _run(action: Any) -> Any:
        try:
            return action()
        except LoanWidgetsError as error:
            raise usage_error(error) from None

    def _show_widget(self, args: Any, request: BorrowRequest | None, api: str) -> None:
        shell_display = getattr(self.shell, "display_pub", None)
        if type(shell_display) is DisplayPublisher:  # a terminal: no front end draws widgets
            print(USAGE)
            return None
        from ..widget import BorrowWidget

        widget = BorrowWidget(
            client=self.client(args.network, args.profile),
            source="widget",
            api=api,
            dry_run=bool(args.dry_run),
        )
        if request is not None:
            widget.prefill(request)
        display(widget)
        return None


def _request_from(args: Any) -> BorrowRequest:
    words = list(args.words)
    if len(words) == 3:
        loan_coin, amount, collateral_coin = words
    elif len(words) == 2:
        (loan_coin, collateral_coin), amount = words, None
        if _looks_like_amount(collateral_coin):
            raise ValidationError(
                f"no collateral coin: write %borrow {words[0]} {words[1]} COLLATERAL_COIN, "
                f"e.g. %borrow {words[0]} {words[1]} BTC"
            )
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


def _looks_like_amount(word: str) -> bool:
    text = word.strip().lstrip("+-")
    return bool(text) and text.replace(".", "", 1).isascii() and text.replace(".", "", 1).isdigit()


def load_ipython_extension(ip: Any) -> None:
    """Register ``%borrow``, ``%repay``, ``%collateral`` and ``%loans``."""
    ip.register_magics(BorrowMagics(ip))
    ip.register_magics(KeysMagics)


def unload_ipython_extension(ip: Any) -> None:
    """Remove the magics (called by ``%unload_ext loan_widgets``)."""
    for name in ("borrow", "repay", "collateral", "loans", "loan_keys"):
        ip.magics_manager.magics["line"].pop(name, None)
    ip.configurables[:] = [c for c in ip.configurables if not isinstance(c, BorrowMagics)]

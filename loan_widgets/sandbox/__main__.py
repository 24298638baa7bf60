"""``python -m loan_widgets.sandbox``: run a sandbox exchange, or manage the user's one.

``python -m loan_widgets.sandbox [--port 0 --api-key K --api-secret S --seed N ...]``
serves a fresh in-memory exchange until SIGINT or SIGTERM. It prints exactly one
line, ``BASE_URL=http://HOST:PORT``, once it is listening. The demo credentials are
always registered, plus any given here.

``python -m loan_widgets.sandbox status|reset|stop`` shows, resets or stops the user's
own sandbox (the one every kernel shares, :mod:`loan_widgets.sandbox.home`);
``serve-user`` runs it in the foreground (kernels start it on their own).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from .account import Sandbox
from .market import DEMO_API_KEY, DEMO_API_SECRET
from .server import SandboxServer

COMMANDS = ("status", "reset", "stop", "serve-user")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loan_widgets.sandbox",
        description="Serve a local Bybit V5 crypto-loan sandbox exchange on HTTP.",
        epilog=f"Demo credentials (always valid): {DEMO_API_KEY} / {DEMO_API_SECRET}",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: any free port)")
    parser.add_argument("--api-key", help="an extra API key to accept")
    parser.add_argument("--api-secret", help="the HMAC secret of --api-key")
    parser.add_argument("--rsa-public-key", type=Path, metavar="FILE",
                        help="PEM RSA public key of --api-key (self-generated key)")
    parser.add_argument("--seed", type=int, default=0, help="seed for order ids (0)")
    parser.add_argument("--balance", action="append", default=[], metavar="COIN=AMOUNT",
                        help="set a Funding-wallet balance, e.g. BTC=100 (repeatable)")
    parser.add_argument("--legacy-borrow", choices=("serve", "reject", "gone"), default="serve",
                        help="answer POST /v5/crypto-loan/borrow normally (serve), refuse it "
                             "as deprecated after auth (reject), or as an unknown path (gone)")
    parser.add_argument("--no-new-api-rate-limits", action="store_true",
                        help="do not apply the new API's documented 1/s and 5/s UID limits")
    parser.add_argument("--no-ip-rate-limit", action="store_true",
                        help="do not apply Bybit's IP limit (600 requests per 5 s, HTTP 403)")
    return parser


def _user_command(command: str, argv: list[str]) -> int:
    from . import home

    parser = argparse.ArgumentParser(
        prog=f"python -m loan_widgets.sandbox {command}",
        description="The user's own sandbox, shared by every kernel "
                    f"(folder: ${home.HOME_ENV} or the user data folder).")
    parser.add_argument("--home", type=Path, help="the sandbox folder to act on")
    args = parser.parse_args(argv)
    folder = args.home.expanduser() if args.home else home.home()
    if command == "serve-user":
        idle = float(os.environ.get(home.IDLE_ENV, "0") or 0)
        return home.serve(folder, idle=idle or None)
    if command == "stop":
        print("stopped" if home.stop(folder) else "not running")
        return 0
    if command == "reset":
        home.reset(folder)
        print("reset")
        return 0
    found = home.status(folder)
    print(json.dumps(found, indent=2, sort_keys=True))
    return 0 if found["running"] else 3


def main(argv: list[str] | None = None) -> int:
    """Run the server (or a user-sandbox command); returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        return _user_command(argv[0], argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.api_key and bool(args.api_secret) == bool(args.rsa_public_key):
        parser.error("--api-key needs exactly one of --api-secret or --rsa-public-key")
    if not args.api_key and (args.api_secret or args.rsa_public_key):
        parser.error("--api-secret and --rsa-public-key need --api-key")
    sandbox = Sandbox(seed=args.seed, credentials={DEMO_API_KEY: DEMO_API_SECRET},
                      legacy_borrow=args.legacy_borrow,
                      new_api_rate_limits=not args.no_new_api_rate_limits,
                      ip_rate_limit=None if args.no_ip_rate_limit else 600)
    if args.api_key:
        try:
            pem = args.rsa_public_key.read_bytes() if args.rsa_public_key else None
            sandbox.add_credentials(args.api_key, args.api_secret, pem)
        except (OSError, ValueError) as exc:
            parser.error(f"cannot use the given key: {exc}")
    for item in args.balance:
        coin, _, amount = item.partition("=")
        try:
            sandbox.set_balance(coin.strip().upper(), amount.strip())
        except (TypeError, ValueError, ArithmeticError) as exc:
            parser.error(f"--balance {item!r}: {exc}")
    stopping = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    server = SandboxServer(sandbox, host=args.host, port=args.port).start()
    try:
        print(f"BASE_URL={server.base_url}", flush=True)
        while not stopping.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

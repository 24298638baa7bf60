"""``make app``: the desk and the BorrowWidget as one Voila app, on loopback unless opted out.

    python -m loan_widgets.desk.app [--host 127.0.0.1] [--port 8866]
                                    [--network sandbox|testnet|mainnet] [--allow-remote]

Whoever reaches a Voila page acts with the server's keys: the app's kernel
reads them from the server's environment, and every visitor's clicks borrow,
repay and move collateral with them. So the app listens on loopback only; on
another interface with the testnet or mainnet network it refuses to start
unless ``--allow-remote`` (``make app HOST=0.0.0.0 ALLOW_REMOTE=1``) says that
every visitor may act with those keys. On the sandbox the credential variables
are removed from the app's environment (as ``make lab`` does), so it runs on
the public demo key whatever the shell holds.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..config import is_loopback
from ..credentials import VARIABLES as CREDENTIAL_VARS

__all__ = ["APP_NOTEBOOK", "Refused", "is_loopback", "main", "plan"]

APP_NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "app.ipynb"
NETWORKS = ("sandbox", "testnet", "mainnet")


class Refused(Exception):
    """The app will not start this way; the message says why, in one line."""


def plan(
    host: str,
    port: int,
    network: str | None,
    allow_remote: bool,
    environ: Mapping[str, str],
    notebook: Path = APP_NOTEBOOK,
    voila_options: Sequence[str] = (),
) -> tuple[list[str], dict[str, str]]:
    """The Voila command line and its environment, or :class:`Refused`.

    ``voila_options`` (``--Name.trait=value`` words) are passed on to Voila.
    """
    chosen = (network or environ.get("LOAN_WIDGETS_NETWORK") or "sandbox").strip().lower()
    if chosen not in NETWORKS:
        raise Refused(f"network {chosen!r} is not one of {', '.join(NETWORKS)}")
    if not 0 < port < 65536:
        raise Refused(f"port {port} is not a TCP port")
    if not is_loopback(host.strip()) and chosen != "sandbox" and not allow_remote:
        raise Refused(
            f"refusing to serve the {chosen} app on {host}: anyone who reaches the page acts "
            "with this server's API keys. Serve it on 127.0.0.1 (and reach it through an SSH "
            "tunnel), or opt in with ALLOW_REMOTE=1 (--allow-remote)"
        )
    env = dict(environ)
    env["LOAN_WIDGETS_NETWORK"] = chosen
    if chosen == "sandbox":
        for name in CREDENTIAL_VARS:
            env.pop(name, None)
    argv = [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}",
            f"--Voila.ip={host}", *voila_options]
    return argv, env


def main(argv: Sequence[str] | None = None) -> int:
    """Check the plan, then replace this process with Voila."""
    parser = argparse.ArgumentParser(prog="python -m loan_widgets.desk.app",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8866)
    parser.add_argument("--network", default=None)
    parser.add_argument("--allow-remote", action="store_true")
    parser.add_argument("--notebook", type=Path, default=APP_NOTEBOOK)
    parser.add_argument("--print", action="store_true", help="print the command, do not run")
    args, voila_options = parser.parse_known_args(argv)
    unknown = [word for word in voila_options if not word.startswith("--") or "." not in word]
    if unknown:
        parser.error(
            f"unknown arguments {' '.join(unknown)} (Voila options are --Name.trait=value)"
        )
    try:
        command, env = plan(args.host, args.port, args.network, args.allow_remote, os.environ,
                            args.notebook, voila_options)
    except Refused as refused:
        print(f"make app: {refused}", file=sys.stderr)
        return 2
    if not is_loopback(args.host.strip()):
        print(f"make app: serving on {args.host}: every visitor acts with the "
              f"{env['LOAN_WIDGETS_NETWORK']} credentials of this server", file=sys.stderr)
    if args.print:
        print(" ".join(command))
        return 0
    os.execvpe(command[0], command, env)  # Voila takes over this process
    return 0  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())

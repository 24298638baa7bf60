"""The magics' shared options and line parsing.

Options every write magic takes are declared once (:data:`OPTIONS`) and put
on a magic with :func:`options`; a flag given twice is found from the
magic's own parser (its option strings and aliases), never from a hand list;
argparse's own errors become one short ``UsageError`` line.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, parse_argstring

from ..config import NETWORKS, check_network
from ..errors import ConfigurationError

__all__ = ["OPTIONS", "options", "parse", "shorten"]

OPTIONS: dict[str, argument] = {
    "network": argument(
        "-n", "--network", metavar="NAME", help="sandbox, testnet or mainnet for this call"
    ),
    "dry-run": argument(
        "--dry-run", action="store_true", help="validate and sign, show the exact request, "
        "send nothing"
    ),
    "yes": argument("-y", "--yes", action="store_true", help="confirm on mainnet without asking"),
    "force": argument(
        "--force", action="store_true",
        help="send even though an identical order is still pending or unknown",
    ),
    "profile": argument(
        "--profile", metavar="NAME", help="the credentials profile to use (%%loan_keys)"
    ),
    "api": argument(
        "--api", metavar="API", help="legacy or new loan API (default: %%config BorrowMagics.api)"
    ),
}


def options(*names: str) -> Callable[[Any], Any]:
    """Put the shared options ``names`` (keys of :data:`OPTIONS`) on a magic."""

    def apply(func: Any) -> Any:
        for name in reversed(names):
            func = OPTIONS[name](func)
        return func

    return apply


def _flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Every option string of the parser -> the option's canonical (longest) name."""
    found: dict[str, str] = {}
    for action in parser._actions:  # argparse keeps its actions here; no public accessor
        strings = [s for s in action.option_strings if s not in ("-h", "--help")]
        if strings:
            canonical = max(strings, key=len)
            found.update({s: canonical for s in strings})
    return found


def _reject_duplicates(parser: argparse.ArgumentParser, line: str) -> None:
    try:
        words = shlex.split(line, posix=True)
    except ValueError as error:
        raise UsageError(f"cannot parse the line: {error}") from None
    flags = _flags(parser)
    seen: set[str] = set()
    for word in words:
        name = word.split("=", 1)[0]
        if len(name) > 2 and name[0] == "-" and name[1] != "-":
            name = name[:2]  # -t7 is -t with its value attached
        flag = flags.get(name)
        if flag is None:
            continue
        if flag in seen:
            raise UsageError(f"{flag} is given twice")
        seen.add(flag)


def shorten(text: str, limit: int = 160) -> str:
    """One printable line of at most ``limit`` characters."""
    flat = " ".join(text.encode("unicode_escape").decode("ascii").replace("\\n", " ").split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def parse(magic: Any, line: str) -> Any:
    """The parsed arguments of ``line`` for ``magic``, or a one-line ``UsageError``."""
    parser = magic.parser
    parser.allow_abbrev = False  # --ter must not silently mean --term
    _reject_duplicates(parser, line)
    try:
        args = parse_argstring(magic, line)
    except UsageError as error:  # argparse echoes arguments verbatim: keep it one short line
        raise UsageError(shorten(str(error))) from None
    network = getattr(args, "network", None)
    if network is not None:
        try:
            args.network = check_network(network)
        except ConfigurationError:
            raise UsageError(
                f"--network {shorten(network, 40)!r} is not a network: use {', '.join(NETWORKS)}"
            ) from None
    return args

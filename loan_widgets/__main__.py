"""``python -m loan_widgets keys add|list|remove``: credentials profiles from a terminal.

::

    python -m loan_widgets keys add main --network mainnet       # asks for key and secret
    python -m loan_widgets keys add testnet --network testnet --stdin < two-lines.txt
    python -m loan_widgets keys list
    python -m loan_widgets keys remove main

``add`` asks with ``getpass`` (nothing is echoed); ``--stdin`` reads the API
key, then the secret, one per line, for password managers and scripts. Errors
are one line on stderr (exit status 1; 2 for a usage error, 130 when cancelled).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from . import keys
from .errors import LoanWidgetsError

USAGE = "usage: python -m loan_widgets keys add|list|remove ...  (keys -h for help)"


def _stdin_reader() -> Callable[[str], str]:
    """Answers the prompts with the lines of stdin, in order, without echoing anything."""

    def read(prompt: str) -> str:
        line = sys.stdin.readline()
        if not line:
            raise LoanWidgetsError(
                "--stdin expects the API key and then the secret, one per line"
            )
        return line.rstrip("\r\n")

    return read


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``keys`` command; the exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    if not words or words[0] != "keys":
        print(USAGE, file=sys.stderr)
        return 2
    args = keys.build_parser("python -m loan_widgets keys").parse_args(words[1:])
    try:
        if args.action == "add":
            print(keys.add(
                args.name,
                network=args.network,
                host=args.host,
                private_key_file=args.private_key_file,
                default=args.default,
                check=not args.no_check,
                prompt=_stdin_reader() if args.stdin else None,
            ))
        elif args.action == "remove":
            gone = keys.remove(args.name)
            print(f"Removed profile {gone.name!r} ({gone.network}) and its secret.")
        else:
            print(keys.list_profiles())
    except LoanWidgetsError as error:
        print("error: " + " ".join(str(error).split()), file=sys.stderr)
        return 1
    except (KeyboardInterrupt, EOFError):
        print("\ncancelled: nothing was stored", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

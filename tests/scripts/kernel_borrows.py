"""One "kernel" for tests/test_faults.py: an IPython shell borrowing with ``%borrow`` in a loop.

Usage: ``python kernel_borrows.py GO_FILE COUNT FIRST_AMOUNT``. Prints ``READY`` once the
extension is loaded, waits for GO_FILE to exist, then borrows COUNT times (FIRST_AMOUNT,
FIRST_AMOUNT + 1, ... USDT against BTC) and prints ``ORDER_ID AMOUNT`` after each, flushed.
Network, host, ledger and keys come from the environment, as in a notebook kernel.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from IPython.testing.globalipapp import start_ipython


def main() -> int:
    go, count, first = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    shell = start_ipython()
    shell.run_line_magic("load_ext", "loan_widgets")
    print("READY", flush=True)
    deadline = time.monotonic() + 30
    while not go.exists():
        if time.monotonic() > deadline:
            return 2
        time.sleep(0.002)
    for amount in range(first, first + count):
        result = shell.run_line_magic("borrow", f"USDT {amount} BTC")
        print(result.order_id, amount, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

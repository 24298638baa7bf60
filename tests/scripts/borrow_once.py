"""One borrow from its own process, for tests that kill it while the answer is on its way.

Usage: ``python borrow_once.py BASE_URL LEDGER LOAN_COIN AMOUNT COLLATERAL_COIN``, with the
sandbox's public demo key. Prints the order id if it ever gets one.
"""

from __future__ import annotations

import sys

from loan_widgets import Ledger, LoanClient
from loan_widgets.sandbox import DEMO_API_KEY, DEMO_API_SECRET


def main() -> int:
    url, ledger, coin, amount, collateral = sys.argv[1:6]
    with LoanClient(base_url=url, api_key=DEMO_API_KEY, api_secret=DEMO_API_SECRET,
                    ledger=Ledger(ledger), timeout=60) as client:
        print(client.borrow(coin, amount, collateral).order_id, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A ledger writer for tests/test_durability.py: appends rows in a tight loop until killed.

Usage: ``python ledger_writer.py LEDGER_PATH``. For each row it records ``pending``, prints
``pending ID``, settles it ``accepted`` with order id ``9ID``, prints ``settled ID``; every
line is printed and flushed only after the write it reports has returned (committed).
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal

from loan_widgets.ledger import Ledger


def main() -> int:
    ledger = Ledger(sys.argv[1])
    n = 0
    while True:
        n += 1
        row = ledger.record_pending(
            network="sandbox",
            source="api",
            body=json.dumps({"loanCurrency": "USDT", "loanAmount": str(n)}),
            loan_currency="USDT",
            loan_amount=Decimal(n),
            collateral_currency="BTC",
            term="flexible",
        )
        print(f"pending {row}", flush=True)
        ledger.settle(row, "accepted", order_id=f"9{row}", ret_code=0, http_status=200)
        print(f"settled {row}", flush=True)


if __name__ == "__main__":
    sys.exit(main())

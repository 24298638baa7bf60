"""Saving and loading a sandbox account's state: one file, written atomically, owner-only.

The state is Decimals, dataclass records, sorted indexes and plain containers, so
it is written with :mod:`pickle` (a JSON codec for every record type would be a
second copy of their shape to keep in step). Loading goes through an unpickler that
resolves only the classes listed in :data:`ALLOWED`, so a state file can rebuild
sandbox records and nothing else. Files are created ``0600`` in a ``0700`` folder
and replaced with ``os.replace`` after ``fsync``, so a crash leaves the old or the
new state, never half of one.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

__all__ = ["ALLOWED", "VERSION", "dump", "fields", "load"]

VERSION = 1

ALLOWED: frozenset[tuple[str, str]] = frozenset({
    ("builtins", "int"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("collections", "deque"),
    ("copyreg", "__newobj__"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"),
    ("decimal", "Decimal"),
    ("sortedcontainers.sorteddict", "SortedDict"),
    ("loan_widgets.sandbox.wire", "ById"),
    ("loan_widgets.sandbox.legacy", "Loan"),
    ("loan_widgets.sandbox.legacy", "RiskEvent"),
    ("loan_widgets.sandbox.market", "LoanCoin"),
    ("loan_widgets.sandbox.market", "CollateralCoin"),
    ("loan_widgets.sandbox.market", "NewLoanCoin"),
    ("loan_widgets.sandbox.market", "CollateralTier"),
    ("loan_widgets.sandbox.market", "LendingOffer"),
    ("loan_widgets.sandbox.new_records", "FlexibleDebt"),
    ("loan_widgets.sandbox.new_records", "FixedOrder"),
    ("loan_widgets.sandbox.new_records", "FixedContract"),
    ("loan_widgets.sandbox.new_records", "SupplyOrder"),
    ("loan_widgets.sandbox.new_records", "SupplyContract"),
})
"""(module, name) pairs a state file may refer to."""


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"a sandbox state may not hold {module}.{name}")
        return super().find_class(module, name)


def fields(obj: object, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object's attributes, without the ones named in ``skip`` (back references)."""
    return {k: v for k, v in vars(obj).items() if k not in skip}


def dump(path: Path, data: Any) -> None:
    """Write ``data`` to ``path`` atomically, readable by the owner only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    raw = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def load(path: Path) -> Any:
    """Read a state written by :func:`dump` (only the classes in :data:`ALLOWED`)."""
    return _Unpickler(io.BytesIO(path.read_bytes())).load()

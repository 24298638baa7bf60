"""Exchange lists and the ledger as pandas DataFrames people can read.

Every frame here keeps exact values and shows them plainly:

* amounts are :class:`PlainDecimal`, a ``Decimal`` (``isinstance`` and ``==`` hold) whose
  text is plain notation, so pandas prints ``0.00000001`` where ``Decimal`` prints
  ``1E-8``: in the text and HTML repr, in a Series, in ``to_csv``, in a ``Styler``;
* a missing value is ``pd.NA`` in every column but datetimes (``NaT``), and all of them
  display as ``<NA>``; times are tz-aware UTC; texts are pandas ``string``, integers
  ``Int64``, floats ``Float64``;
* a :class:`CompactFrame` displays its compact columns (the ones read at a glance, so the
  table fits a notebook) while holding every column; ``.full`` displays them all.

This module imports pandas: the rest of the core imports it only when a frame is asked for,
so ``import loan_widgets`` stays cheap.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import pandas as pd

from .loan_rows import COLUMNS as LOAN_COLUMNS
from .loan_rows import NEAR_MARGIN_CALL, NewPositions, legacy_rows, new_rows
from .loan_rows import notes as loan_notes
from .numbers import plain

__all__ = [
    "LEDGER_COMPACT",
    "NA_TEXT",
    "NEAR_MARGIN_CALL",
    "CompactFrame",
    "LoansTable",
    "PlainDecimal",
    "history_frame",
    "ledger_frame",
    "loans_frame",
    "typed_frame",
]

NA_TEXT = "<NA>"
"""How every missing value displays (pandas' own marker for ``pd.NA``)."""


class PlainDecimal(Decimal):
    """A ``Decimal`` that prints in plain notation: ``0.00000001``, never ``1E-8``.

    Equal to, hashing like and ``isinstance`` of ``Decimal``; arithmetic returns plain
    ``Decimal``. Only its text differs, so tables of amounts read as people write them.
    """

    __slots__ = ()

    def __str__(self) -> str:
        return plain(self)

    def __repr__(self) -> str:
        return f"Decimal('{plain(self)}')"

    def __format__(self, spec: str, *args: Any) -> str:
        return plain(self) if spec == "" else super().__format__(spec, *args)


class CompactFrame(pd.DataFrame):
    """A DataFrame that displays its compact columns and holds all of them.

    Every column is there for code (``frame["ret_msg"]``). The repr shows the compact
    columns, times to the second, and a note saying what is left out; a compact column
    marked ``shared`` whose every row holds one value is named once in the note instead.
    That holds while the frame has the columns it was built with (row filters, ``head``,
    ``sort_values`` keep them); a frame with other columns (a selection, an ``assign``)
    displays exactly its columns. ``.full`` displays every column. Missing values of every
    kind display as ``<NA>``; in HTML, long column names may wrap after an underscore.
    """

    _metadata: ClassVar[list[str]] = ["_compact", "_shared", "_built"]  # pandas keeps these
    _compact: tuple[str, ...] = ()
    _shared: tuple[str, ...] = ()
    _built: tuple[str, ...] = ()

    @property
    def _constructor(self) -> type[CompactFrame]:
        return CompactFrame

    @classmethod
    def build(
        cls, data: Any, compact: Iterable[str], shared: Iterable[str] = (), **kwargs: Any
    ) -> CompactFrame:
        """A frame of ``data`` (``kwargs`` go to ``DataFrame``) displaying ``compact``."""
        frame = cls(data, **kwargs)
        frame._built = tuple(frame.columns)
        frame._compact = tuple(c for c in compact if c in frame.columns)
        frame._shared = tuple(c for c in shared if c in frame._compact)
        return frame

    @property
    def full(self) -> CompactFrame:
        """The same frame, displaying every column."""
        out = self.copy(deep=False)
        out._compact = ()
        return out

    def _shown(self) -> tuple[pd.DataFrame, str, dict[str, Any]]:
        """The frame as displayed, the note under it ("" for none), per-column formatters."""
        whole = pd.DataFrame(self)
        if not self._compact or tuple(self.columns) != self._built:
            return whole, "", {}
        said = []
        columns = list(self._compact)
        for name in self._shared:
            values = whole[name].unique()
            if len(values) == 1 and not pd.isna(values[0]):
                said.append(f"{name}: {values[0]}")
                columns.remove(name)
        seconds = {  # formatters see only the rows shown: cheap on a long ledger
            name: _to_the_second
            for name in columns
            if isinstance(whole[name].dtype, pd.DatetimeTZDtype)
        }
        if len(columns) < len(self._built):
            said.append(f"{len(columns)} of {len(self._built)} columns shown; .full shows all")
        return whole[columns], "; ".join(said), seconds

    def __repr__(self) -> str:
        view, note, formatters = self._shown()
        # pandas' own repr settings (what DataFrame.__repr__ uses); pandas-stubs lacks it
        params = pd.io.formats.format.get_dataframe_repr_params()  # type: ignore[attr-defined]
        if note or formatters:
            params["max_cols"] = len(view.columns)  # chosen to be read: wrap, never drop one
        text = view.to_string(na_rep=NA_TEXT, formatters=formatters or None, **params)
        return f"{text}\n[{note}]" if note else text

    def _repr_html_(self) -> str | None:
        if not pd.get_option("display.notebook_repr_html"):
            return None
        view, note, formatters = self._shown()
        max_rows = pd.get_option("display.max_rows")
        if max_rows and len(view) > max_rows:  # what DataFrame's own repr does
            max_rows = pd.get_option("display.min_rows") or max_rows
        table = view.to_html(
            notebook=True,
            na_rep=NA_TEXT,
            formatters=formatters or None,
            max_rows=max_rows,
            max_cols=pd.get_option("display.max_columns"),
            show_dimensions=pd.get_option("display.show_dimensions"),
        )
        for name in view.columns:  # "collateral_currency" over "BTC" need not be that wide
            label = html.escape(str(name))
            if "_" in label:
                wrapping = label.replace("_", "_<wbr>")
                table = table.replace(f"<th>{label}</th>", f"<th>{wrapping}</th>", 1)
        return f"{table}\n<p><small>{html.escape(note)}</small></p>" if note else table


def _to_the_second(stamp: Any) -> str:
    return NA_TEXT if pd.isna(stamp) else str(stamp.floor("s"))


# --------------------------------------------------------------------------- columns


def _decimals(values: Iterable[Any]) -> pd.Series:
    """Exact amounts from wire or ledger text (or numbers); each distinct text is parsed once."""
    parsed: dict[str, PlainDecimal] = {}  # amounts repeat: a 100,000-row ledger holds few
    out: list[Any] = []
    for value in values:
        if value is None or value == "" or (isinstance(value, float) and value != value):
            out.append(pd.NA)  # a NaN left by pandas is a gap, like None
            continue
        text = value if isinstance(value, str) else str(value)
        found = parsed.get(text)
        if found is None:
            found = parsed[text] = PlainDecimal(text)
        out.append(found)
    return pd.Series(out, dtype="object")


def _ms(value: Any) -> int | None:
    """Milliseconds from an int or digit text; anything else (``""``, ``None``, a NaN or
    ``pd.NA`` a frame left behind) is a gap, never an error."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = value.strip() if isinstance(value, str) else ""
    return int(text) if text.isascii() and text.isdigit() else None


def _times(values: Iterable[Any]) -> pd.Series:
    """Milliseconds since 1970 (ints or wire strings) as tz-aware UTC times."""
    return pd.to_datetime(pd.Series([_ms(v) for v in values], dtype="Int64"), unit="ms",
                          utc=True)


def _texts(values: Iterable[Any]) -> pd.Series:
    return pd.Series([None if v in (None, "") else v for v in values], dtype="string")


# --------------------------------------------------------------------------- the ledger

LEDGER_COMPACT = (
    "submitted_at",
    "network",
    "action",
    "loan_currency",
    "loan_amount",
    "collateral_currency",
    "collateral_amount",
    "status",
    "order_id",
)
"""The ledger columns shown by default (those the ledger has)."""

_AMOUNT_SUFFIXES = ("amount", "_price", "_ltv", "_rate")


def ledger_frame(
    columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]
) -> CompactFrame:
    """Ledger rows as a typed frame indexed by ``id``, built from the columns' own types.

    ``columns`` are ``(name, declared SQLite type)`` in row order, so columns added to the
    ledger appear without changes here: ``*_at_ms`` integers become tz-aware UTC times
    named without ``_ms``; text named like an amount (``*amount``, ``*_price``, ``*_ltv``,
    ``*_rate``) becomes :class:`PlainDecimal`; other text ``string``, INTEGER ``Int64``,
    REAL ``Float64``.
    """
    names = [name for name, _ in columns]
    values = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    data = dict(zip(names, values, strict=True))
    index = pd.Index(data.pop("id", range(len(rows))), dtype="int64", name="id")
    out: dict[str, Any] = {}
    for name, declared in columns:
        if name not in data:
            continue
        column = data[name]
        kind = declared.upper()
        if name.endswith("_at_ms"):
            stamps = pd.to_datetime(pd.array(column, dtype="Int64"), unit="ms", utc=True)
            out[name.removesuffix("_ms")] = stamps
        elif "TEXT" in kind and name.endswith(_AMOUNT_SUFFIXES):
            out[name] = _decimals(column).array
        elif "INT" in kind:
            out[name] = pd.array(column, dtype="Int64")
        elif "REAL" in kind or "FLOA" in kind or "DOUB" in kind:
            out[name] = pd.array(column, dtype="Float64")
        else:
            out[name] = pd.array(column, dtype="string")
    return CompactFrame.build(out, LEDGER_COMPACT, shared=("network",), index=index)


# --------------------------------------------------------------------------- exchange lists

_HISTORY_COLUMNS: dict[str, dict[str, str]] = {
    # kind -> {wire field: column}; amounts become Decimal, *Time fields datetimes
    "loans": {
        "orderId": "order_id",
        "loanCurrency": "loan_currency",
        "initialLoanAmount": "loan_amount",
        "collateralCurrency": "collateral_currency",
        "initialCollateralAmount": "collateral_amount",
        "loanTerm": "term",
        "hourlyInterestRate": "hourly_interest_rate",
        "repaidInterest": "repaid_interest",
        "repaidPenaltyInterest": "repaid_penalty_interest",
        "borrowTime": "borrowed_at",
        "expirationTime": "expires_at",
        "status": "status",
    },
    "repayments": {
        "repayId": "repay_id",
        "orderId": "order_id",
        "loanCurrency": "loan_currency",
        "repayAmount": "amount",
        "collateralCurrency": "collateral_currency",
        "collateralReturn": "collateral_returned",
        "loanTerm": "term",
        "repayTime": "repaid_at",
        "repayStatus": "status",
        "repayType": "repay_type",
    },
    "adjustments": {
        "adjustId": "adjust_id",
        "orderId": "order_id",
        "collateralCurrency": "collateral_currency",
        "amount": "amount",
        "direction": "direction",
        "preLTV": "ltv_before",
        "afterLTV": "ltv_after",
        "adjustTime": "adjusted_at",
    },
}
_HISTORY_COMPACT: dict[str, tuple[str, ...]] = {
    "loans": (
        "order_id", "loan_currency", "loan_amount", "collateral_currency", "collateral_amount",
        "term", "borrowed_at", "status",
    ),
    "repayments": (
        "repay_id", "order_id", "loan_currency", "amount", "collateral_currency",
        "collateral_returned", "repaid_at", "status",
    ),
    "adjustments": tuple(_HISTORY_COLUMNS["adjustments"].values()),
}
_DECIMAL_FIELDS = {
    "initialLoanAmount", "initialCollateralAmount", "hourlyInterestRate", "repaidInterest",
    "repaidPenaltyInterest", "repayAmount", "collateralReturn", "amount", "preLTV", "afterLTV",
}


def history_frame(kind: str, items: list[Mapping[str, Any]]) -> CompactFrame:
    """One of the legacy history lists as a typed frame."""
    columns = _HISTORY_COLUMNS[kind]
    data: dict[str, Any] = {}
    for wire, column in columns.items():
        values = [item.get(wire) for item in items]
        if wire.endswith("Time"):
            data[column] = _times(values)
        elif wire in _DECIMAL_FIELDS:
            data[column] = _decimals(values)
        elif wire in ("status", "repayStatus", "direction"):
            data[column] = pd.Series(values, dtype="Int64")
        elif wire == "loanTerm":
            data[column] = pd.Series([v or "flexible" for v in values], dtype="string")
        else:
            data[column] = _texts(values)
    return CompactFrame.build(data, _HISTORY_COMPACT[kind])


def typed_frame(
    rows: Sequence[Mapping[str, Any]], kinds: Mapping[str, str], compact: Iterable[str]
) -> CompactFrame:
    """Rows of plain values as a typed frame; ``kinds`` maps each column to ``time`` (ms),
    ``decimal``, ``int`` or ``text`` (the new API's histories: :mod:`loan_widgets.views`)."""
    data: dict[str, Any] = {}
    for name, kind in kinds.items():
        values = [row.get(name) for row in rows]
        if kind == "time":
            data[name] = _times(values)
        elif kind == "decimal":
            data[name] = _decimals(values)
        elif kind == "int":
            data[name] = pd.Series([_ms(v) for v in values], dtype="Int64")
        else:
            data[name] = _texts(values)
    return CompactFrame.build(data, compact)


LOANS_COMPACT = (
    "order_id", "api", "kind", "loan_currency", "debt", "collateral_currency",
    "collateral_amount", "current_ltv", "margin_call_ltv", "liquidation_ltv", "flag",
)
"""The open-loan columns shown by default."""

_LOAN_TEXTS = ("order_id", "api", "kind", "loan_currency", "collateral_currency", "term",
               "to_act")


def loans_frame(
    items: Sequence[Mapping[str, Any]], levels: Mapping[str, Mapping[str, Any]],
    new: NewPositions | None = None,
) -> CompactFrame:
    """Open loans of both APIs (see :mod:`loan_widgets.loan_rows`), typed.

    Legacy loans (``items``, with the collateral coins' ``levels``) show their LTV next to
    the margin-call and liquidation LTV; ``debt`` is unpaid principal plus interest and
    penalty interest, in the loan coin; ``flag`` says ``liquidation`` / ``margin call`` /
    ``near margin call``, ``overdue`` (a fixed contract) or ``matching`` (a fixed order).
    ``new`` adds the new API's positions. ``frame.attrs["notes"]`` holds the lines shown
    under the table (matching orders and how to cancel them).
    """
    rows = legacy_rows(items, levels) + (new_rows(new) if new is not None else [])
    data: dict[str, Any] = {}
    for name in LOAN_COLUMNS:
        values = [row[name] for row in rows]
        if name == "expires_at":
            data[name] = _times(values)
        elif name in _LOAN_TEXTS:
            data[name] = _texts(values)
        elif name == "flag":  # "" when there is nothing to say, never a gap
            data[name] = pd.Series([v or "" for v in values], dtype="string")
        else:
            data[name] = _decimals(values)
    frame = CompactFrame.build(data, LOANS_COMPACT)
    frame.attrs["notes"] = loan_notes(rows, new)
    return frame


class LoansTable:
    """Open loans for display: rows near or past a margin call are highlighted.

    ``.frame`` is the whole frame (see :func:`loans_frame`); the table shows its compact
    columns, then its notes (matching fixed orders and how to cancel them, the new API's
    magics).
    """

    def __init__(self, frame: pd.DataFrame, network: str) -> None:
        self.frame = frame
        self.network = network

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def notes(self) -> list[str]:
        """The lines shown under the table."""
        return list(self.frame.attrs.get("notes") or ())

    def _view(self) -> pd.DataFrame:
        shown = [c for c in LOANS_COMPACT if c in self.frame.columns]
        return pd.DataFrame(self.frame)[shown or list(self.frame.columns)]

    def __repr__(self) -> str:
        notes = "".join(f"\n* {line}" for line in self.notes)
        if self.frame.empty:
            return f"No open loans on {self.network}.{notes}"
        table = self._view().to_string(index=False, na_rep=NA_TEXT)
        return f"Open loans on {self.network}:\n{table}{notes}"

    def _repr_html_(self) -> str:
        notes = "".join(f"<li>{html.escape(line)}</li>" for line in self.notes)
        notes = f"<ul style='margin:4px 0'>{notes}</ul>" if notes else ""
        if self.frame.empty:
            return f"<p>No open loans on {html.escape(self.network)}.</p>{notes}"
        colours = {
            "liquidation": "background-color: #f8b4b4",
            "margin call": "background-color: #fbd38d",
            "near margin call": "background-color: #fef3c7",
            "overdue": "background-color: #fbd38d",
        }

        def paint(row: pd.Series) -> list[str]:
            return [colours.get(str(row["flag"]), "")] * len(row)

        view = self._view()
        digest = hashlib.sha1(view.to_csv().encode("utf-8")).hexdigest()[:10]
        styled = (  # a content-derived id keeps the saved HTML the same from run to run
            view.style.set_uuid(f"loans{digest}")
            .format(na_rep=NA_TEXT)
            .apply(paint, axis=1)
            .hide(axis="index")
        )
        caption = f"Open loans on {html.escape(self.network)}"
        return styled.set_caption(caption).to_html() + notes

"""loan_widgets benchmarks, measured side by side in one run.

    python benchmarks/run.py [--calls 2000] [--import-runs 21] [--rows 100000]

1. Borrow round trip against one loopback sandbox (a separate process):
   ``LoanClient.borrow`` (ledger writes included) vs pybit's
   ``borrow_crypto_loan``, interleaved in blocks of 100 so both see the same
   machine state, each block on a new connection for both. Median and p99
   per call, and the ratio; then the same with client and sandbox on one core
   (where a request never waits for an idle second core to wake up: on a
   quiet virtual machine that wake-up adds about the same time to both
   clients' round trips, and so moves the ratio towards 1).
2. ``import loan_widgets`` + ``%load_ext loan_widgets`` vs
   ``import pybit.unified_trading``, each in a fresh interpreter that already
   runs an IPython shell (as a notebook kernel does), alternating.
3. Ledger: appends 100,000 rows (insert pending + settle, each timed), compares
   the last 1,000 appends with the first 1,000 to a new ledger, alternating
   (median per append, and their totals), then times ``orders()`` building the
   DataFrame (best of 3 builds).
4. Widget: median time of a linked-amount update (typing a loan amount and
   getting the collateral estimate), from ``widget_timing.py`` (also runnable
   alone, with ``--check`` against its 2 ms budget).

Each result says what it measured and on what; the machine's load average is
printed before and after (the ratios are what to compare on a shared machine).
Nothing here is asserted: numbers are reported, not tested.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from widget_timing import bench_widget

KEY, SECRET = "BENCHKEY00001", "bench-secret-not-a-secret"


def _load() -> str:
    """The 1, 5 and 15 minute load averages (other work on the machine)."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        return "unknown"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_borrow(calls: int, cpu: int | None = None) -> dict[str, float]:
    """Per-call borrow round trip: ours vs pybit on the same loopback sandbox.

    ``cpu`` runs this process and the sandbox on that one core (Linux), as
    ``taskset -c CPU`` would: no wake-up of an idle second core per request.
    """
    if cpu is not None:
        kept = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {cpu})  # the sandbox, started below, inherits it
        try:
            return bench_borrow(calls)
        finally:
            os.sched_setaffinity(0, kept)
    import pybit.unified_trading as pybit_http

    from loan_widgets import Ledger, LoanClient
    from loan_widgets.orders import BorrowRequest

    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loan_widgets.sandbox",
            "--api-key",
            KEY,
            "--api-secret",
            SECRET,
            "--balance",
            "BTC=1000000",
            "--no-ip-rate-limit",  # 4,000+ borrows in a few seconds: Bybit's IP limit is 600/5 s
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip().split("=", 1)[1]
        tmp = tempfile.mkdtemp()
        ours = LoanClient(
            network="testnet",
            base_url=base_url,
            api_key=KEY,
            api_secret=SECRET,
            ledger=Ledger(Path(tmp) / "bench.sqlite3"),
        )
        logging.getLogger("pybit").setLevel(logging.ERROR)
        peer = pybit_http.HTTP(api_key=KEY, api_secret=SECRET)
        peer.endpoint = base_url
        peer.crypto_loan_legacy_message = "legacy crypto-loan endpoint"  # pybit 5.14+ bug
        request = BorrowRequest("USDT", "BTC", "550")

        def run_ours() -> None:
            ours.borrow(request=request)

        def run_peer() -> None:
            answer = peer.borrow_crypto_loan(
                loanCurrency="USDT", loanAmount="550", collateralCurrency="BTC"
            )
            assert answer["retCode"] == 0

        for fn in (run_ours, run_peer):  # warm up connections and caches
            for _ in range(50):
                fn()
        # Each block starts both clients on a new connection (warmed by one untimed call):
        # the sandbox serves every connection on a thread of its own, and where the kernel
        # runs that thread against the client moved one connection's round trip by up to
        # ~60 us for a whole run; new connections per block spread that over both clients.
        hang_up = {"ours": ours.close, "pybit": peer.client.close}
        times: dict[str, list[float]] = {"ours": [], "pybit": []}
        block = 100
        for i in range(0, calls, block):
            order = [("ours", run_ours), ("pybit", run_peer)]
            if (i // block) % 2:
                order.reverse()
            for name, fn in order:
                hang_up[name]()
                fn()
                for _ in range(min(block, calls - i)):
                    start = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - start)
        ours.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    result = {}
    for name, values in times.items():
        result[f"{name}_median_us"] = statistics.median(values) * 1e6
        result[f"{name}_p99_us"] = _pct(values, 0.99) * 1e6
        result[f"{name}_calls"] = len(values)
    result["ratio_median"] = result["ours_median_us"] / result["pybit_median_us"]
    result["ratio_p99"] = result["ours_p99_us"] / result["pybit_p99_us"]
    return result


_IMPORT_PRELUDE = (
    "from IPython.testing.globalipapp import start_ipython\n"
    "ip = start_ipython()\n"
    "import time\n"
    "t = time.perf_counter()\n"
)
_IMPORT_OURS = "import loan_widgets\nip.run_line_magic('load_ext', 'loan_widgets')\n"
_IMPORT_PEER = "import pybit.unified_trading\n"
_IMPORT_EPILOGUE = "print(time.perf_counter() - t)\n"


def bench_import(runs: int) -> dict[str, float]:
    """Fresh-interpreter import cost, alternating ours and pybit's."""
    import loan_widgets

    # An installed package is byte-compiled by pip; an editable checkout may not be
    # (PYTHONDONTWRITEBYTECODE), so compile it as pip would before timing imports.
    package = Path(loan_widgets.__file__).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOAN_WIDGETS_")}
    env["IPYTHONDIR"] = tempfile.mkdtemp()
    times: dict[str, list[float]] = {"ours": [], "pybit": []}
    for i in range(runs + 1):
        order = [("ours", _IMPORT_OURS), ("pybit", _IMPORT_PEER)]
        if i % 2:
            order.reverse()
        for name, body in order:
            out = subprocess.run(
                [sys.executable, "-c", _IMPORT_PRELUDE + body + _IMPORT_EPILOGUE],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            )
            if i:  # the first round only warms the file cache
                times[name].append(float(out.stdout.strip().splitlines()[-1]))
    result = {f"{k}_median_ms": statistics.median(v) * 1e3 for k, v in times.items()}
    result |= {f"{k}_min_ms": min(v) * 1e3 for k, v in times.items()}
    result["ratio"] = result["ours_median_ms"] / result["pybit_median_ms"]
    result["ratio_min"] = result["ours_min_ms"] / result["pybit_min_ms"]
    result["runs"] = runs
    return result


def bench_ledger(rows: int) -> dict[str, float]:
    """Append cost across ``rows`` appends and the DataFrame build.

    The last 1,000 appends to the ``rows``-row ledger alternate with the first
    1,000 appends to a new ledger beside it, so the two are compared on the same
    machine state (as the borrow round trip is).
    """
    from loan_widgets import Ledger
    from loan_widgets.orders import BorrowRequest

    folder = Path(tempfile.mkdtemp())
    ledger = Ledger(folder / "ledger.sqlite3")
    fresh = Ledger(folder / "fresh.sqlite3")
    request = BorrowRequest("USDT", "BTC", "550")
    chunk = 1000
    fields = {"loan_currency": "USDT", "loan_amount": request.loan_amount,
              "collateral_currency": "BTC", "term": request.term, "host": "bench"}
    order = 1794267532472646144
    clock = time.perf_counter

    def append(into: Ledger) -> float:
        nonlocal order
        start = clock()
        row = into.record_pending(network="sandbox", source="api", body=request.to_body(),
                                  **fields)
        order += 1
        into.settle(row, "accepted", order_id=str(order), ret_code=0)
        return clock() - start

    for _ in range(rows - chunk):
        append(ledger)
    first: list[float] = []
    last: list[float] = []
    for _ in range(chunk):
        last.append(append(ledger))
        first.append(append(fresh))
    import pandas  # noqa: F401 - a notebook has pandas loaded; time the build, not the import

    builds = []
    for _ in range(3):
        start = time.perf_counter()
        frame = ledger.to_frame()
        builds.append(time.perf_counter() - start)
        assert len(frame) == rows
        del frame
    return {
        "rows": rows,
        "first_1000_ms": sum(first) * 1e3,
        "last_1000_ms": sum(last) * 1e3,
        "first_median_us": statistics.median(first) * 1e6,
        "last_median_us": statistics.median(last) * 1e6,
        "last_over_first": statistics.median(last) / statistics.median(first),
        "total_last_over_first": sum(last) / sum(first),
        "frame_build_s": min(builds),
        "frame_build_median_s": statistics.median(builds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--import-runs", type=int, default=21)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    import pybit

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, pybit {getattr(pybit, 'VERSION', '?')}; "
        f"load average at start: {_load()}"
    )
    borrow = bench_borrow(args.calls)
    print(
        f"\n1. borrow round trip, {borrow['ours_calls']} calls each, same loopback sandbox "
        "(separate process), interleaved blocks of 100, each on a new connection"
        f"\n   loan_widgets: median {borrow['ours_median_us']:.0f} us, "
        f"p99 {borrow['ours_p99_us']:.0f} us (ledger writes included)"
        f"\n   pybit:        median {borrow['pybit_median_us']:.0f} us, "
        f"p99 {borrow['pybit_p99_us']:.0f} us"
        f"\n   ratio ours/pybit: median {borrow['ratio_median']:.2f}x, "
        f"p99 {borrow['ratio_p99']:.2f}x (target <= 0.5x)"
    )
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1:
        pinned = bench_borrow(args.calls, cpu=max(os.sched_getaffinity(0)))
        print(
            "   the same on one core (client and sandbox, as with taskset): loan_widgets "
            f"{pinned['ours_median_us']:.0f} us, pybit {pinned['pybit_median_us']:.0f} us, "
            f"ratio {pinned['ratio_median']:.2f}x"
        )
    imports = bench_import(args.import_runs)
    print(
        f"\n2. import in a fresh interpreter with IPython running, {imports['runs']} runs each"
        f"\n   import loan_widgets + %load_ext: median {imports['ours_median_ms']:.1f} ms, "
        f"min {imports['ours_min_ms']:.1f} ms"
        f"\n   import pybit.unified_trading:    median {imports['pybit_median_ms']:.1f} ms, "
        f"min {imports['pybit_min_ms']:.1f} ms"
        f"\n   ratio ours/pybit: median {imports['ratio']:.2f}x (target <= 0.25x), "
        f"min {imports['ratio_min']:.2f}x"
    )
    ledger = bench_ledger(args.rows)
    print(
        f"\n3. ledger, {ledger['rows']:,} rows appended (insert pending + settle each, timed)"
        f"\n   first 1,000 (a new ledger): median {ledger['first_median_us']:.0f} us per append "
        f"({ledger['first_1000_ms']:.0f} ms in all), last 1,000 (alternating with them): "
        f"median {ledger['last_median_us']:.0f} us ({ledger['last_1000_ms']:.0f} ms in all)"
        f"\n   last/first: {ledger['last_over_first']:.2f}x per append (target <= 1.5x), "
        f"{ledger['total_last_over_first']:.2f}x in all"
        f"\n   orders() DataFrame of {ledger['rows']:,} rows: best of 3 "
        f"{ledger['frame_build_s']:.2f} s, median {ledger['frame_build_median_s']:.2f} s "
        "(target < 1 s)"
    )
    widget = bench_widget()
    print(
        f"\n4. widget linked-amount update, {widget['updates']} updates: median "
        f"{widget['median_ms']:.3f} ms, p99 {widget['p99_ms']:.3f} ms (target < 2 ms); "
        f"network calls while typing: {widget['network_calls_while_typing']}"
    )
    print(f"\nload average at the end: {_load()}")


if __name__ == "__main__":
    main()

"""Load numbers for the sandbox exchange (loopback only): memory and page costs.

    .venv/bin/python benchmarks/sandbox_load.py

1. Memory (RSS) of a ``python -m loan_widgets.sandbox`` process before and after 1,000
   unauthenticated POSTs of 1 MiB each, then after 1,000 signed-looking ones (bad
   signature: read, refused with 10004, logged up to 64 KiB each).
2. ``GET /v5/crypto-loan/ongoing-orders?limit=1`` with 20,000 open loans: p50/p95 over
   200 calls, and ``/v5/market/time`` p50 while 4 threads keep asking for that page.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import socket
import statistics
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

from loan_widgets.sandbox import DEMO_API_KEY, DEMO_API_SECRET, Sandbox, SandboxServer
from loan_widgets.sandbox.legacy import Loan

MIB = 1 << 20


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def post_raw(port: int, head: bytes, body: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with contextlib.suppress(OSError):  # refused before the body: the server stops reading
            sock.sendall(head + body)
        return sock.recv(64)


def memory() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "loan_widgets.sandbox", "--port", "0",
                             "--no-ip-rate-limit"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])  # type: ignore[union-attr]
        body = b"x" * MIB
        print(f"sandbox RSS at start: {rss_mib(proc.pid):.1f} MiB")
        head = (b"POST /v5/crypto-loan/borrow HTTP/1.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % MIB)
        for _ in range(1000):
            post_raw(port, head, body)
        print(f"after 1,000 x 1 MiB unauthenticated POSTs: {rss_mib(proc.pid):.1f} MiB")
        signed = (b"POST /v5/crypto-loan/borrow HTTP/1.1\r\nContent-Type: application/json\r\n"
                  b"X-BAPI-API-KEY: " + DEMO_API_KEY.encode() + b"\r\nX-BAPI-SIGN: 00\r\n"
                  b"X-BAPI-TIMESTAMP: %d\r\nContent-Length: %d\r\n\r\n")
        for _ in range(1000):
            post_raw(port, signed % (time.time_ns() // 1_000_000, MIB), body)
        print(f"after 1,000 x 1 MiB signed (bad signature) POSTs: {rss_mib(proc.pid):.1f} MiB")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def signed_get(conn: http.client.HTTPConnection, path: str, query: str) -> float:
    stamp = str(time.time_ns() // 1_000_000)
    sign = hmac.new(DEMO_API_SECRET.encode(), (stamp + DEMO_API_KEY + "5000" + query).encode(),
                    hashlib.sha256).hexdigest()
    started = time.perf_counter()
    conn.request("GET", f"{path}?{query}", headers={
        "X-BAPI-API-KEY": DEMO_API_KEY, "X-BAPI-TIMESTAMP": stamp, "X-BAPI-RECV-WINDOW": "5000",
        "X-BAPI-SIGN": sign})
    conn.getresponse().read()
    return time.perf_counter() - started


def pages() -> None:
    sandbox = Sandbox(rate_limit=1_000_000, ip_rate_limit=None)
    now = sandbox.now_ms()
    for n in range(20_000):
        sandbox.legacy.open(Loan(str(10**18 + n), "USDT", "BTC", Decimal(20), Decimal("0.001"),
                                 "", None, now, Decimal(20), Decimal("0.001"), accrued_to=now))
    with SandboxServer(sandbox) as served:
        conn = http.client.HTTPConnection("127.0.0.1", served.port)
        took = [signed_get(conn, "/v5/crypto-loan/ongoing-orders", "limit=1")
                for _ in range(200)]
        print(f"ongoing-orders limit=1, 20,000 loans: p50 {statistics.median(took) * 1000:.2f} ms,"
              f" p95 {sorted(took)[189] * 1000:.2f} ms")
        stop = threading.Event()

        def hammer() -> None:
            mine = http.client.HTTPConnection("127.0.0.1", served.port)
            while not stop.is_set():
                signed_get(mine, "/v5/crypto-loan/ongoing-orders", "limit=1")
            mine.close()

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        times = []
        for _ in range(200):
            started = time.perf_counter()
            conn.request("GET", "/v5/market/time")
            conn.getresponse().read()
            times.append(time.perf_counter() - started)
        stop.set()
        for thread in threads:
            thread.join()
        print(f"/v5/market/time meanwhile: p50 {statistics.median(times) * 1000:.2f} ms")
        conn.close()


if __name__ == "__main__":
    memory()
    pages()

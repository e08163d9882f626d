"""Drive the scoring service on loopback at fixed rates; print p50, p99, throughput.

Run from the repository root, on a model folder written by ``shopseg run``::

    python benchmarks/bench_service.py --model out [--workers 2]
        [--rates 50,100,200,400] [--duration 15] [--orders FILE]

The script starts ``shopseg serve`` on 127.0.0.1 in a subprocess, waits for
``/health/ready``, sends single first orders to ``/v1/score`` at each fixed
rate for ``--duration`` seconds (after a short warm-up at that rate, not
counted), stops the server and prints one row per rate: requests sent, the
rate achieved, the p50, p99 and largest latency, and the share of errors
(any answer but 200; 503 and timeouts also on their own).

The load is open-loop: request i is due at ``start + i / rate`` whether or
not earlier ones were answered, and its latency runs from that due time, so
a server that falls behind shows it in its latencies (no coordinated
omission). Each request goes on a kept-alive connection that is free, or a
new one; at most ``--connections`` are open.

The orders are the first purchase days of customers of the Online Retail
export in ``--orders`` (default: ``online_retail.csv.gz`` in
$SHOPSEG_SHARED_DATA or ``../shared/data``), read by ``shopseg.read_files``,
a fixed sample of ``--sample`` customers, sent in turn; those whose first
day holds no purchase the model scores (only postage, say) are left out,
after one call of ``/v1/score/batch``.

Traffic stays on the loopback interface; every phase is bounded in time.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import numpy as np

from _shared import shared_data_dir

GOAL_P99_MS = 20.0
#: A p99 above this means requests queue faster than they are scored.
KEEP_UP_P99_MS = 2000.0
HOST = "127.0.0.1"


def default_orders():
    return shared_data_dir() / "online_retail.csv.gz"


def first_orders(path, sample, seed=0):
    """Request bodies: the first purchase day of ``sample`` customers."""
    import shopseg

    con = duckdb.connect()
    shopseg.read_files([str(path)], con)
    rows = con.execute(
        """
        WITH first AS (
            SELECT customer_id, min(CAST(invoice_date AS DATE)) AS day
            FROM lines_parsed
            WHERE customer_id IS NOT NULL AND quantity > 0 AND price > 0
            GROUP BY customer_id
        )
        SELECT l.invoice, l.stock_code, l.description, l.quantity,
            strftime(l.invoice_date, '%Y-%m-%dT%H:%M:%S') AS invoice_date,
            l.price, l.customer_id, l.country
        FROM lines_parsed AS l
        JOIN first AS f
          ON l.customer_id = f.customer_id
         AND CAST(l.invoice_date AS DATE) = f.day
        ORDER BY l.customer_id, l.line_no
        """
    ).fetchall()
    con.close()
    columns = ("invoice", "stock_code", "description", "quantity",
               "invoice_date", "price", "customer_id", "country")
    orders = {}
    for row in rows:
        orders.setdefault(row[6], []).append(dict(zip(columns, row)))
    rng = np.random.default_rng(seed)
    chosen = rng.choice(sorted(orders), size=min(sample, len(orders)), replace=False)
    return [
        json.dumps({"lines": orders[c][:1000]}).encode() for c in chosen
    ]


def scorable(port, bodies):
    """The bodies the service forecasts: a first day of only postage or
    fees gets 422, which would count as an error of the service."""
    lines = [line for body in bodies for line in json.loads(body)["lines"]]
    request = urllib.request.Request(
        f"http://{HOST}:{port}/v1/score/batch",
        data=json.dumps({"lines": lines}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        scored = {f["customer_id"] for f in json.load(response)["forecasts"]}
    return [b for b in bodies if json.loads(b)["lines"][0]["customer_id"] in scored]


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(model, port, workers, log):
    command = [sys.executable, "-m", "shopseg", "serve", "--model", str(model),
               "--host", HOST, "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped at start; see {log.name}")
        try:
            with urllib.request.urlopen(
                f"http://{HOST}:{port}/health/ready", timeout=2
            ) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.5)
    stop_server(process)
    raise SystemExit(f"the server was not ready within 300 s; see {log.name}")


def stop_server(process):
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


#: Seconds a connection may stay idle in the pool: uvicorn closes kept-alive
#: connections idle for 5 s, and a request sent on one would fail.
IDLE_SECONDS = 3.0


class Pool:
    """Kept-alive HTTP/1.1 connections to the server."""

    def __init__(self, port, limit):
        self.port = port
        self.limit = limit
        self.idle = []
        self.open = 0
        self.freed = asyncio.Condition()

    async def acquire(self):
        async with self.freed:
            while not self.idle and self.open >= self.limit:
                await self.freed.wait()
            now = time.monotonic()
            while self.idle:
                connection, since = self.idle.pop()
                if now - since < IDLE_SECONDS:
                    return connection
                connection[1].close()
                self.open -= 1
            self.open += 1
        try:
            return await asyncio.open_connection(HOST, self.port)
        except OSError:
            await self.discard()
            raise

    async def release(self, connection):
        async with self.freed:
            self.idle.append((connection, time.monotonic()))
            self.freed.notify()

    async def discard(self, connection=None):
        if connection is not None:
            connection[1].close()
        async with self.freed:
            self.open -= 1
            self.freed.notify()

    def close(self):
        for (_, writer), _ in self.idle:
            writer.close()


async def post(pool, path, body, timeout):
    """Send one request; return the status (0 for a failure of the connection)."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    connection = await pool.acquire()
    reader, writer = connection
    try:
        writer.write(head + body)
        header = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(
            int(line.split(":", 1)[1]) for line in lines
            if line.lower().startswith("content-length:")
        )
        await asyncio.wait_for(reader.readexactly(length), timeout)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
            ValueError, StopIteration):
        await pool.discard(connection)
        return 0
    await pool.release(connection)
    return status


async def drive(port, bodies, rate, seconds, connections, timeout, offset=0):
    """Open-loop load at ``rate`` for ``seconds``; return (latencies, statuses)."""
    pool = Pool(port, connections)
    n = int(rate * seconds)
    latencies = np.full(n, np.nan)
    statuses = np.zeros(n, dtype=int)
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05

    async def one(i):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        body = bodies[(offset + i) % len(bodies)]
        statuses[i] = await post(pool, "/v1/score", body, timeout)
        latencies[i] = loop.time() - due

    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = loop.time() - start
    pool.close()
    return latencies, statuses, elapsed


def measure(port, bodies, rate, seconds, warmup, connections, timeout):
    if warmup:
        asyncio.run(drive(port, bodies, rate, warmup, connections, timeout))
    latencies, statuses, elapsed = asyncio.run(
        drive(port, bodies, rate, seconds, connections, timeout,
              offset=int(rate * warmup))
    )
    ok = statuses == 200
    answered = latencies[ok] * 1e3
    return {
        "timeouts": (statuses == 0).mean(),
        "503": (statuses == 503).mean(),
        "rate": rate,
        "sent": len(statuses),
        "throughput": ok.sum() / elapsed,
        "p50": np.percentile(answered, 50) if ok.any() else float("nan"),
        "p99": np.percentile(answered, 99) if ok.any() else float("nan"),
        "max": answered.max() if ok.any() else float("nan"),
        "errors": 1 - ok.mean(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True,
                        help="model folder, or the --out folder of shopseg run")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rates", default="50,100,200,400",
                        help="requests per second, comma-separated")
    parser.add_argument("--duration", type=float, default=15.0,
                        help="seconds measured at each rate")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="seconds at each rate before measuring")
    parser.add_argument("--orders", type=Path, default=None)
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds before a request counts as an error")
    parser.add_argument("--log", type=Path, default=Path("bench_service.log"))
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]

    bodies = first_orders(args.orders or default_orders(), args.sample)
    sizes = [len(json.loads(b)["lines"]) for b in bodies]
    print(f"{len(bodies)} first orders, {np.median(sizes):.0f} lines median, "
          f"{max(sizes)} at most")
    port = free_port()
    with open(args.log, "w") as log:
        process = start_server(args.model, port, args.workers, log)
        try:
            bodies = scorable(port, bodies)
            print(f"{len(bodies)} of them with a purchase the model scores")
            rows = [
                measure(port, bodies, rate, args.duration, args.warmup,
                        args.connections, args.timeout)
                for rate in rates
            ]
        finally:
            stop_server(process)

    print(f"\n{args.workers} worker(s), {os.cpu_count()} cores, "
          f"{args.duration:g} s per rate after {args.warmup:g} s warm-up; "
          f"load average now {os.getloadavg()[0]:.1f}")
    print(f"{'rate/s':>7} {'sent':>6} {'done/s':>7} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8} {'errors':>7} {'503':>6} {'timeout':>7}")
    for row in rows:
        print(f"{row['rate']:7.0f} {row['sent']:6d} {row['throughput']:7.1f} "
              f"{row['p50']:8.1f} {row['p99']:8.1f} {row['max']:8.1f} "
              f"{row['errors']:7.1%} {row['503']:6.1%} {row['timeouts']:7.1%}")
    within = [r["rate"] for r in rows if r["p99"] < GOAL_P99_MS and r["errors"] == 0]
    kept_up = [r["rate"] for r in rows
               if r["errors"] < 0.01 and r["throughput"] >= 0.9 * r["rate"]
               and r["p99"] < KEEP_UP_P99_MS]
    print(f"highest rate with p99 under {GOAL_P99_MS:g} ms: "
          f"{max(within) if within else 'none of those tried'}")
    print(f"highest rate sustained (under 1% errors, 90% of the rate answered "
          f"per second, p99 under {KEEP_UP_P99_MS / 1000:g} s: no queue "
          "building up): "
          f"{max(kept_up) if kept_up else 'none of those tried'}")


if __name__ == "__main__":
    main()

"""Score orders for the service with :class:`shopseg.predict.OrderScorer`.

Single orders queue for one scoring thread, which scores every order
waiting in one call: most orders take well under a millisecond to
featurise in NumPy, but an order that needs DuckDB (a product the model
has not seen, say) costs some 20 ms of planning, nearly the same for one
order as for a dozen. Each order is scored as it would be alone in a
batch file (a customer's features do not depend on the other customers
of a call):

- its lines get a customer key of their own, so two orders never merge,
  whatever their customer identifiers;
- two orders holding the same product unknown to the model go in different
  calls, as the description an unknown product is categorised by is the
  commonest among the lines of a call;
- orders with a cancellation need netting: they go in calls of their own,
  netted in NumPy where it applies; those that only SQL can net go
  together through :func:`shopseg.predict.score_orders`, with one more
  order, the anchor, of a product the model knows, so that the call is
  never without a purchase line: an order whose purchases were all
  cancelled on the same day is then scored from them, as in a batch,
  instead of failing the whole call.
"""

import atexit
import collections
import concurrent.futures
import datetime
import hashlib
import json
import queue
import re
import threading
import time
import weakref

import pandas as pd

from ..exceptions import EmptyResultError, ModelInputError, ShopsegError
from ..predict import OrderScorer, score_orders
from ..predict._score import has_cancellation
from ..read import COLUMNS

#: Customer key of the anchor order.
ANCHOR = "anchor"

NO_PURCHASE = (
    "no purchase line is left after cleaning: the order holds only "
    "cancellations, write-offs, postage or fees, or lines with a price or "
    "quantity of 0"
)


#: Scorers whose thread may run; stopped at exit (see ``_stop_all``).
_LIVE = weakref.WeakSet()


@atexit.register
def _stop_all():
    """Stop every scoring thread before the interpreter shuts down.

    A daemon thread still alive at shutdown is ended wherever it stands;
    inside DuckDB, that aborts the process. Stopped here, each thread
    finishes its call and closes its connection.
    """
    for scorer in list(_LIVE):
        scorer.close(timeout=5)


class Busy(RuntimeError):
    """More orders wait than the service accepts; the client should retry."""


def model_version(card):
    """Return a short digest of a model card, naming the model's version.

    The card holds the SHA-256 of every file of the model folder, so two
    folders with the same version hold the same model.

    >>> model_version({"files": {"a": "00"}})
    '36a8749928fa'
    """
    text = json.dumps(card, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _columns(lines, customer=None):
    """The lines as lists per column; ``customer`` replaces customer_id."""
    columns = {name: [getattr(line, name) for line in lines] for name in COLUMNS}
    if customer is not None:
        columns["customer_id"] = [customer] * len(lines)
    return columns


def _merged(parts):
    """The columns of several orders, one after the other."""
    return {
        name: [value for part in parts for value in part[name]]
        for name in COLUMNS
    }


def _frame(parts):
    frame = pd.DataFrame(_merged(parts))
    frame["invoice_date"] = pd.to_datetime(frame["invoice_date"])
    return frame


class Scorer:
    """Forecast orders with a loaded model, batching the waiting single orders.

    Parameters
    ----------
    saved : shopseg.predict.SavedModel
        The model.
    max_batch : int, default=128
        Most orders scored in one call.
    max_waiting : int, default=2000
        Most single orders waiting or being scored; :meth:`submit` raises
        :class:`Busy` beyond it.
    on_batch : callable, default=None
        Called with the number of orders and the seconds of each call.
    """

    def __init__(self, saved, max_batch=128, max_waiting=2000, on_batch=None):
        self.saved = saved
        self.max_batch = max_batch
        self.max_waiting = max_waiting
        self.on_batch = on_batch
        self.orders = OrderScorer(saved)
        self.version = model_version(saved.card)
        self.created_at = saved.card.get("created_at")
        self.level = saved.card.get("interval_level")
        self._anchor = None
        self._queue = queue.SimpleQueue()
        self._waiting = 0
        self._lock = threading.Lock()
        self._next_key = 0
        self._thread = None
        _LIVE.add(self)

    # ------------------------------------------------------------ lifecycle
    def start(self):
        """Score one order to check the model, then start the scoring thread.

        Raises
        ------
        ModelInputError
            When the model cannot score an order.
        """
        try:
            self._anchor = self._anchor_columns()
            for score in (self.orders.score, self._score_netted):
                result = score(_merged([self._anchor]))
                self._forecast(next(result.itertuples()), ANCHOR)
        except Exception as exc:
            raise ModelInputError(
                "the model folder loads but cannot score an order "
                f"({type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}); "
                "train the model again with this version of shopseg"
            ) from exc
        self._ensure_thread()

    def _ensure_thread(self):
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="shopseg-scorer", daemon=True
                )
                self._thread.start()

    def close(self, timeout=30):
        """Stop the scoring thread once the orders waiting are scored."""
        thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=timeout)
            self._thread = None

    @property
    def ready(self):
        """Whether the scoring thread runs."""
        return self._thread is not None and self._thread.is_alive()

    # -------------------------------------------------------------- scoring
    def submit(self, lines):
        """Queue one customer's order lines; return a future of the forecast.

        Parameters
        ----------
        lines : list of OrderLine

        Returns
        -------
        concurrent.futures.Future
            Of a dict of :class:`~shopseg.service._schemas.Forecast` fields,
            or of :class:`~shopseg.exceptions.EmptyResultError` when no
            purchase line is left after cleaning.
        """
        if not self.ready:
            self._ensure_thread()
        with self._lock:
            if self._waiting >= self.max_waiting:
                raise Busy(
                    f"{self._waiting} orders are waiting to be scored; retry "
                    "in a moment"
                )
            self._waiting += 1
            self._next_key += 1
            key = f"q{self._next_key:012d}"
        unknown = frozenset(
            code for code in (line.stock_code.strip() for line in lines)
            if code not in self.orders.known_
        )
        job = _Job(key, lines[0].customer_id, _columns(lines, key), unknown)
        self._queue.put(job)
        return job.future

    def score_batch(self, lines):
        """Forecast every customer of order lines in one call, as in a batch.

        Returns
        -------
        list of dict
            One per customer with a purchase, sorted by customer.

        Raises
        ------
        EmptyResultError
            When no line of any customer is a purchase left after cleaning.
        """
        started = time.perf_counter()
        empty = EmptyResultError(
            NO_PURCHASE.replace("the order holds", "the lines hold")
        )
        try:
            result = self.orders.score(_columns(lines))
        except EmptyResultError:
            raise empty from None
        finally:
            # The request's thread is not ours: a DuckDB connection left
            # open in it could still be torn down at exit, which aborts.
            self.orders.close()
        if result.empty:
            raise empty
        self._report(len(result), started)
        return [self._forecast(row, row.customer_id) for row in result.itertuples()]

    def _run(self):
        try:
            self._serve_queue()
        finally:
            self.orders.close()

    def _serve_queue(self):
        pending = collections.deque()
        while True:
            if not pending:
                job = self._queue.get()
                if job is None:
                    return
                pending.append(job)
            while True:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self._queue.put(None)  # stop after the orders waiting
                    break
                pending.append(job)
            batch, pending = self._take(pending)
            self._score_jobs(batch)

    def _take(self, pending):
        """Split the waiting orders into the next call and the rest."""
        batch, rest, unknown = [], collections.deque(), set()
        for job in pending:
            if len(batch) < self.max_batch and not job.unknown & unknown:
                batch.append(job)
                unknown |= job.unknown
            else:
                rest.append(job)
        return batch, rest

    def _score_netted(self, columns):
        """Score orders with a cancellation that only SQL can net."""
        return score_orders(self.saved, _frame([self._anchor, columns]))

    def _score_jobs(self, jobs):
        netted = [job for job in jobs if job.cancellation]
        simple = [job for job in jobs if not job.cancellation]
        if netted:
            self._score_calls(
                netted, lambda: self.orders.score(
                    _merged([job.columns for job in netted]),
                    netted=self._score_netted,
                ),
            )
        if simple:
            self._score_calls(
                simple,
                lambda: self.orders.score(_merged([job.columns for job in simple])),
            )

    def _score_calls(self, jobs, call):
        started = time.perf_counter()
        try:
            result = call()
        except Exception as exc:
            if len(jobs) > 1:
                # One order broke the call: score each alone, so that it
                # fails by itself.
                for job in jobs:
                    self._score_jobs([job])
                return
            self._finish(jobs[0], error=exc)
            return
        self._report(len(jobs), started)
        rows = {row.customer_id: row for row in result.itertuples()}
        for job in jobs:
            row = rows.get(job.key)
            if row is None:
                self._finish(job, error=EmptyResultError(NO_PURCHASE))
                continue
            try:
                self._finish(job, self._forecast(row, job.customer_id))
            except Exception as exc:
                self._finish(job, error=exc)

    def _finish(self, job, forecast=None, error=None):
        with self._lock:
            self._waiting -= 1
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(forecast)

    def _report(self, orders, started):
        if self.on_batch is not None:
            self.on_batch(orders, time.perf_counter() - started)

    def _forecast(self, row, customer_id):
        """One forecast as plain Python values."""
        def number(name):
            value = getattr(row, name, None)
            return None if value is None or pd.isna(value) else float(value)

        segment = getattr(row, "next_year_segment", None)
        segment = None if segment is None or pd.isna(segment) else int(segment)
        day = row.first_purchase_day
        return {
            "customer_id": str(customer_id),
            "first_purchase_day": (
                day if isinstance(day, datetime.date) else pd.Timestamp(day).date()
            ),
            "predicted_spend": number("predicted_spend"),
            "spend_lower": number("spend_lower"),
            "spend_upper": number("spend_upper"),
            "interval_level": (
                None if number("spend_upper") is None else self.level
            ),
            "repeat_probability": number("repeat_probability"),
            "next_year_segment": segment,
            "next_year_segment_name": (
                getattr(row, "next_year_segment_name", None) or None
            ),
            "horizon_days": int(row.horizon_days),
            "later_lines": int(row.later_lines),
            "model_version": self.version,
        }

    def _anchor_columns(self):
        """An order of one product the model knows, on a day it was trained on."""
        products = self.saved.products
        prices = pd.to_numeric(products["reference_price"], errors="coerce")
        usable = products[(products["category"] >= 0) & (prices > 0)]
        if usable.empty:
            raise ModelInputError(
                "the model's product table holds no categorised product with a "
                "price; the model folder is incomplete. Train the model again"
            )
        product = usable.iloc[0]
        window = self.saved.card.get("window", {})
        day = window.get("test_start") or window.get("data_end") or "2011-01-03"
        return {
            "invoice": ["0"],
            "stock_code": [str(product["stock_code"])],
            "description": [product.get("description")],
            "quantity": [1],
            "invoice_date": [datetime.datetime.fromisoformat(f"{day}T10:00:00")],
            "price": [float(product["reference_price"])],
            "customer_id": [ANCHOR],
            "country": ["United Kingdom"],
        }


class _Job:
    """One single order waiting to be scored."""

    __slots__ = ("key", "customer_id", "columns", "unknown", "cancellation",
                 "future")

    def __init__(self, key, customer_id, columns, unknown):
        self.key = key
        self.customer_id = customer_id
        self.columns = columns
        self.unknown = unknown
        self.cancellation = has_cancellation(columns["invoice"])
        self.future = concurrent.futures.Future()


def public_message(exc):
    """An error's message without file paths: the scratch files are internal."""
    message = str(exc) if isinstance(exc, ShopsegError) else ""
    message = re.sub(r"(?:[A-Za-z]:)?(?:[\\/][\w.\-]+){2,}", "the order lines",
                     message)
    return message.replace("first_orders.parquet", "the order lines")

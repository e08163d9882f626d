"""Prometheus metrics of the service: requests, latencies, errors, batches.

Each app has its own registry, so that several apps live in one process (as
in the tests). With several worker processes, ``shopseg serve`` sets
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` adds up the workers' files.
"""

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

#: Latency buckets in seconds: fine below 50 ms, where the goal lies.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)

#: Buckets of the orders scored in one call.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)


class Metrics:
    """The service's metrics and their text exposition.

    Parameters
    ----------
    routes : iterable of str
        The paths counted under their own name; any other path counts as
        ``"other"``, so that a scan of random paths adds no series.
    """

    def __init__(self, routes):
        self.routes = frozenset(routes)
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "shopseg_http_requests", "HTTP requests answered.",
            ["method", "route", "status"], registry=self.registry,
        )
        self.errors = Counter(
            "shopseg_http_errors", "HTTP requests answered with a 4xx or 5xx.",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "shopseg_http_request_duration_seconds",
            "Time from the request's arrival to the end of the response.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.batch_orders = Histogram(
            "shopseg_scoring_batch_orders", "Orders scored in one model call.",
            buckets=BATCH_BUCKETS, registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "shopseg_scoring_batch_duration_seconds", "Time of one model call.",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.model = Gauge(
            "shopseg_model_info", "The model served (always 1).",
            ["model_version"], registry=self.registry, multiprocess_mode="max",
        )

    def route(self, path):
        """The route label of a path."""
        return path if path in self.routes else "other"

    def observe(self, method, route, status, seconds):
        """Count one answered request."""
        status = str(status)
        self.requests.labels(method, route, status).inc()
        if status[0] in "45":
            self.errors.labels(method, route, status).inc()
        self.latency.labels(method, route).observe(seconds)

    def observe_batch(self, orders, seconds):
        """Count one model call."""
        self.batch_orders.observe(orders)
        self.batch_seconds.observe(seconds)

    def exposition(self):
        """Return ``(body, content type)`` in the Prometheus text format."""
        registry = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST

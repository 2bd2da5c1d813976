"""Prometheus metrics, in a registry of the app's own (tests build many apps in one process).

Endpoints are labelled by route template (`/v1/models/{model}/encode`), never the raw path, and
models only by names the registry knows, so clients cannot inflate the label sets."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the text format every Prometheus version reads
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
INFERENCE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["method", "endpoint", "model"]
        self.requests = Counter(
            "vae_serve_requests", "HTTP requests answered.", [*labels, "status"],
            registry=self.registry,
        )  # fmt: skip
        self.errors = Counter(
            "vae_serve_request_errors", "HTTP requests answered with a 4xx or 5xx.",
            [*labels, "status", "code"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "vae_serve_request_duration_seconds", "Time from request to last response byte.",
            labels, buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.inference = Histogram(
            "vae_serve_inference_seconds", "ONNX Runtime time per graph run.", ["model", "graph"],
            buckets=INFERENCE_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.batch_size = Histogram(
            "vae_serve_batch_size", "Rows per ONNX Runtime run (merged runs when batching).",
            ["model", "graph"], buckets=BATCH_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.refusals = Counter(
            "vae_serve_inference_refused", "Requests refused at once because their expected wait "
            "was over the latency budget (or the queue was full): 503 overloaded.",
            registry=self.registry,
        )  # fmt: skip
        # Label children by their values: `labels()` validates and locks on every call. Bounded:
        # endpoints are route templates, models known names, statuses the few the app answers.
        self._request_children: dict[tuple[str, str, str, int], tuple[Any, Any]] = {}
        self._inference_children: dict[tuple[str, str], tuple[Any, Any]] = {}

    def observe_request(
        self, method: str, endpoint: str, model: str, status: int, seconds: float, code: str
    ) -> None:
        """Count one answered request: a dict lookup and three increments, on the event loop."""
        key = (method, endpoint, model, status)
        children = self._request_children.get(key)
        if children is None:
            labels = (method, endpoint, model)
            children = (self.requests.labels(*labels, str(status)), self.latency.labels(*labels))
            self._request_children[key] = children
        requests, latency = children
        requests.inc()
        latency.observe(seconds)
        if status >= 400:
            self.errors.labels(method, endpoint, model, str(status), code).inc()

    def count_refusal(self) -> None:
        """One request refused by the inference pool's admission (from any thread)."""
        self.refusals.inc()

    def observe_inference(self, model: str, graph: str, seconds: float, rows: int) -> None:
        children = self._inference_children.get((model, graph))
        if children is None:
            children = (self.inference.labels(model, graph), self.batch_size.labels(model, graph))
            self._inference_children[(model, graph)] = children
        inference, batch_size = children
        inference.observe(seconds)
        batch_size.observe(rows)

    def track_models(self, available: Callable[[], int], unavailable: Callable[[], int]) -> None:
        """Report the number of serving and broken bundles, read at each scrape."""
        for name, count in (("available", available), ("unavailable", unavailable)):
            gauge = Gauge(f"vae_serve_models_{name}", f"Bundles {name}.", registry=self.registry)
            gauge.set_function(count)

    def track_pool(self, admitted: Callable[[], int], capacity: int) -> None:
        """Report the inference jobs running or queued, and the most admitted before a 503."""
        gauge = Gauge(
            "vae_serve_inference_admitted", "Inference jobs running or queued.",
            registry=self.registry,
        )  # fmt: skip
        gauge.set_function(admitted)
        limit = Gauge(
            "vae_serve_inference_capacity", "Most inference jobs admitted before answering 503.",
            registry=self.registry,
        )  # fmt: skip
        limit.set(capacity)

    def track_precision(self, serving: Callable[[], Iterable[tuple[str, str]]]) -> None:
        """Report which precision each serving model runs at, read at each scrape from
        `serving()`'s (model, precision) pairs: vae_serve_model_precision{model, precision} 1."""
        self.registry.register(_PrecisionCollector(serving))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _PrecisionCollector(Collector):
    def __init__(self, serving: Callable[[], Iterable[tuple[str, str]]]):
        self._serving = serving

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "vae_serve_model_precision",
            "1 for the precision (fp32 or int8) each serving model's graphs run at.",
            labels=["model", "precision"],
        )
        for model, precision in self._serving():
            family.add_metric([model, precision], 1)
        yield family

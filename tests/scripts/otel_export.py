"""Exports metrics to Sextant with the real OpenTelemetry Python SDK (tests/tests/otlp.rs).

Two rounds, each ended by force_flush() (one export per round, cumulative temporality, as
the SDK's defaults are), with a pause between them so they land in different steps.
Usage: otel_export.py BASE_URL PAUSE_SECONDS [json|protobuf]
"""
import sys
import time

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

base, pause = sys.argv[1], float(sys.argv[2])
exporter = OTLPMetricExporter(endpoint=base + "/v1/metrics", compression=Compression.Gzip)
# A long interval: only force_flush() exports.
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
provider = MeterProvider(
    resource=Resource.create({"service.name": "checkout", "service.instance.id": "i-0001"}),
    metric_readers=[reader],
    views=[View(instrument_name="rpc.duration", aggregation=ExponentialBucketHistogramAggregation())],
)
meter = provider.get_meter("sextant-e2e")
orders = meter.create_counter("orders", unit="1")
depth = meter.create_up_down_counter("queue.depth")
latency = meter.create_histogram("latency", unit="s")
rpc = meter.create_histogram("rpc.duration", unit="s")
temperature = meter.create_gauge("temperature")

# Round 1: primes the counters (a counter's first value only starts its rate).
orders.add(10, {"region": "eu"})
depth.add(7)
depth.add(-2)
latency.record(0.25, {"route": "/pay"})
rpc.record(0.1)
temperature.set(21.5)
assert provider.force_flush(10_000)
time.sleep(pause)

# Round 2: the increases read back as rates.
orders.add(30, {"region": "eu"})
depth.add(-1)
for _ in range(3):
    latency.record(0.75, {"route": "/pay"})
latency.record(7, {"route": "/pay"})
for _ in range(100):
    rpc.record(0.1)
temperature.set(23)
assert provider.force_flush(10_000)
provider.shutdown()
print("exported")

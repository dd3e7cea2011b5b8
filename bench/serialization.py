"""Encode and decode rates of the hub's serializers beside raw fastavro, per core.

Realistic Reports (Indonesian text, 300 to 2,000 bytes encoded) go through raw fastavro
(schemaless_writer / schemaless_reader with the parsed schema), the hub's single-object
codec and the hub's Confluent-format codec (ids from confluent-kafka's in-process mock
registry, cached after the first record, as against a real registry). Rounds interleave the
three so that machine noise hits all alike; each figure is the median round.

The last line is the summary: the lower of the two formats' ratios to raw fastavro.
    serialization: hub_vs_fastavro_encode=R hub_vs_fastavro_decode=R
Usage: python bench/serialization.py [--records N] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from io import BytesIO

import fastavro
from confluent_kafka.schema_registry import SchemaRegistryClient
from fastavro import schemaless_reader, schemaless_writer

from hub.samples import sample_report
from hub.serialization import ConfluentCodec, SchemaStore, SingleObjectCodec
from hub.serialization.store import default_schema_dir


def rate(action: Callable[[object], object], items: list) -> float:
    started = time.perf_counter()
    for item in items:
        action(item)
    return len(items) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})  # one core: the figures are per core

    store = SchemaStore(default_schema_dir())
    parsed = store.latest("Report").parsed
    rng = random.Random(2026)
    reports = [sample_report(rng) for _ in range(args.records)]
    codecs = {
        "single-object": SingleObjectCodec(store),
        "confluent": ConfluentCodec(
            store, SchemaRegistryClient.new_client({"url": "mock://bench"}), auto_register=True
        ),
    }

    def raw_encode(report: dict) -> bytes:
        out = BytesIO()
        schemaless_writer(out, parsed, report)
        return out.getvalue()

    raw_bodies = [raw_encode(r) for r in reports]
    encoded = {name: [c.encode("Report", r) for r in reports] for name, c in codecs.items()}
    sizes = [len(b) for b in encoded["single-object"]]
    mean = statistics.mean(sizes)
    print(
        f"{len(reports)} Reports, {min(sizes)}-{max(sizes)} bytes (mean {mean:.0f}), "
        f"{args.rounds} rounds, pinned to one core, fastavro {fastavro.__version__}"
    )

    runs: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        runs.setdefault("raw encode", []).append(rate(raw_encode, reports))
        runs.setdefault("raw decode", []).append(
            rate(lambda b: schemaless_reader(BytesIO(b), parsed, None), raw_bodies)
        )
        for name, codec in codecs.items():
            runs.setdefault(f"{name} encode", []).append(
                rate(lambda r, c=codec: c.encode("Report", r), reports)
            )
            runs.setdefault(f"{name} decode", []).append(
                rate(lambda b, c=codec: c.decode("Report", b), encoded[name])
            )
    median = {key: statistics.median(values) for key, values in runs.items()}
    ratios = {}
    for op in ("encode", "decode"):
        print(f"raw fastavro   {op}: {median[f'raw {op}']:>9,.0f} records/s")
        for name in codecs:
            ratios[(name, op)] = median[f"{name} {op}"] / median[f"raw {op}"]
            print(
                f"{name:<14} {op}: {median[f'{name} {op}']:>9,.0f} records/s "
                f"({ratios[(name, op)]:.3f} of raw)"
            )
    encode = min(ratios[(n, "encode")] for n in codecs)
    decode = min(ratios[(n, "decode")] for n in codecs)
    print(f"serialization: hub_vs_fastavro_encode={encode:.2f} hub_vs_fastavro_decode={decode:.2f}")


if __name__ == "__main__":
    main()

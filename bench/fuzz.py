"""Fuzz the contract decoder for speed: messages per second over hostile input, and the slowest one.

    python -m bench.fuzz [--messages 20000] [--seed 1] [--bound-ms 50]
    python -m bench.fuzz --atheris 200000     # coverage-guided, when atheris is installed (pip install atheris)

Hostile messages come from the same strategies as the hypothesis test (tests/contracts/fuzz.py:
arbitrary topics and bytes, JSON of any shape, valid messages with bytes replaced, inserted or
deleted), plus the named attacks of issue 13 at full size (a 256 KB array nested 130,000 deep, a
256 KB number, lone surrogates, exponents beyond the float range). Every message goes through
``decode_strict`` (no safety net): an exception fails the run. Printed: messages per second, the
slowest message (its kind and time) against ``--bound-ms``, and, measured in the same run, the hot
path's cost of the stricter contract: decoding a valid 100-reading message the old way (lax types,
no timestamp window) and the new way (strict types and the window), and their ratio.

Figures depend on the machine's load (printed with them): this machine is shared.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, seed, settings

from eldercare.contracts import MessageKind, encode
from eldercare.contracts.codec import _ADAPTERS, MAX_PAYLOAD_BYTES, decode_strict
from eldercare.contracts.topics import Direction
from eldercare.contracts.window import TimeWindow
from tests.contracts.fuzz import ROOT, payloads, topics
from tests.ingest.support import temperature_batch

_TOPIC = f"{ROOT}/v1/home-0001/readings"
_ATTACKS: dict[str, bytes] = {
    "nested arrays, 256 KB": b"[" * MAX_PAYLOAD_BYTES,
    "nested objects, 256 KB": b'{"a":' * (MAX_PAYLOAD_BYTES // 5),
    "one number, 256 KB": b'{"home_id": "home-0001", "readings": [{"seq": ' + b"9" * (MAX_PAYLOAD_BYTES - 64) + b"}]}",
    "lone surrogates": b'{"home_id": "' + b"\\ud800" * 40_000 + b'"}',
    "huge exponents": b'{"home_id": "home-0001", "readings": [' + b'{"value": 1e99999999},' * 10_000 + b"{}]}",
    "invalid UTF-8, 256 KB": b"\xff" * MAX_PAYLOAD_BYTES,
}


def _hostile(count: int, seed_value: int) -> list[tuple[str, bytes]]:
    """``count`` (topic, payload) pairs drawn from the fuzz strategies, reproducibly."""
    drawn: list[tuple[str, bytes]] = []

    @seed(seed_value)
    @settings(max_examples=count, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(topics, payloads)
    def collect(topic: str, payload: bytes) -> None:
        drawn.append((topic, payload))

    collect()
    return drawn


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def fuzz(messages: list[tuple[str, bytes]]) -> tuple[float, float, str]:
    """Decode every message; returns (seconds in total, slowest seconds, what the slowest was)."""
    total, slowest, what = 0.0, 0.0, ""
    for index, (topic, payload) in enumerate(messages):
        seconds = _timed(lambda topic=topic, payload=payload: decode_strict(topic, payload, root=ROOT))  # type: ignore[misc]
        total += seconds
        if seconds > slowest:
            slowest, what = seconds, f"fuzzed #{index} ({len(payload)} bytes)"
    for name, payload in _ATTACKS.items():
        seconds = _timed(lambda payload=payload: decode_strict(_TOPIC, payload, root=ROOT))  # type: ignore[misc]
        total += seconds
        if seconds > slowest:
            slowest, what = seconds, f"{name} ({len(payload)} bytes)"
    return total, slowest, what


def hot_path(rounds: int) -> tuple[float, float]:
    """Microseconds per valid 100-reading message: (lax types, no window) and (strict types + window)."""
    topic, payload = encode(ROOT, temperature_batch("home-0001", "temp-1", 0, 100))
    adapter = _ADAPTERS[MessageKind.READINGS]
    window = TimeWindow.around(datetime.now(UTC), max_age_s=400 * 86_400, max_ahead_s=300)

    def before() -> None:
        adapter.validate_json(payload, strict=False)  # what decode did: lax validation, nothing else

    def after() -> None:
        decode_strict(topic, payload, root=ROOT, direction=Direction.UPSTREAM, window=window)

    old, new = [], []
    for _ in range(5):  # interleaved, so that load changes hit both alike
        old.append(min(_timed(before) for _ in range(rounds)))
        new.append(min(_timed(after) for _ in range(rounds)))
    return min(old) * 1e6, min(new) * 1e6


def run_atheris(runs: int) -> None:
    """libFuzzer (through atheris) over topic and payload bytes, coverage-guided on our own decoder code.

    An exception aborts with the crashing input saved; libFuzzer prints executions per second.
    """
    import atheris  # optional: pip install atheris

    atheris.instrument_all()  # the contract modules are loaded already: instrument what is loaded

    def one(data: bytes) -> None:
        provider = atheris.FuzzedDataProvider(data)
        topic = provider.ConsumeUnicodeNoSurrogates(48) if provider.ConsumeBool() else _TOPIC
        decode_strict(topic, provider.ConsumeBytes(provider.remaining_bytes()), root=ROOT)

    atheris.Setup([sys.argv[0], f"-runs={runs}", "-max_len=300000"], one)
    atheris.Fuzz()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--atheris", type=int, default=0, metavar="RUNS", help="run libFuzzer (atheris) instead")
    parser.add_argument("--messages", type=int, default=20_000, help="fuzzed messages (plus the named attacks)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bound-ms", type=float, default=50.0, help="the slowest message must decode within this")
    args = parser.parse_args()
    if args.atheris:
        run_atheris(args.atheris)
        return
    random.seed(args.seed)
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    messages = _hostile(args.messages, args.seed)
    total, slowest, what = fuzz(messages)
    count = len(messages) + len(_ATTACKS)
    print(f"decoded {count} hostile messages in {total:.2f} s: {count / total:,.0f} messages/s, no exception")
    print(f"slowest: {slowest * 1000:.2f} ms, {what} (bound {args.bound_ms:g} ms)")
    lax, strict = hot_path(200)
    print(f"hot path, valid 100-reading message: before {lax:.0f} us, after {strict:.0f} us, after/before {strict / lax:.2f}")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if slowest * 1000 > args.bound_ms:
        sys.exit(1)


if __name__ == "__main__":
    main()

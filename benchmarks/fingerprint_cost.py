"""What data-flow fingerprints cost, against the previous word-window scheme, in one run.

(1) Microseconds to fingerprint one prompt (``inputs_of``) and one answer (``outputs_of``) of
200 to 300,000 characters: the current scheme (``fanscope.sdk.fingerprint``: normalisation,
whole values, in-process links), the same with a key shared by processes (which adds the
winnowed k-grams on the spans), and the scheme it replaced (whole string plus
content-defined 8-word windows, at most 64 inputs and 16 outputs; reproduced below as the
reference), with the number of fingerprints each records.

(2) Cost per branch: ``@parallel`` ``map`` over 400 prompts of 2,000 characters (each branch
returns an answer of 600 characters), traced to memory, with fingerprints off, the previous
scheme, the current one, and the current one with a shared key: CPU per branch, and its ratio
to the run without fingerprints.

Rounds are interleaved and medians of CPU time (``time.process_time``) reported: on a
shared machine it is steadier than wall time.

Run: ``.venv/bin/python benchmarks/fingerprint_cost.py`` (``make bench`` runs every benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import statistics
import time
import zlib
from collections.abc import Callable

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fanscope import parallel
from fanscope.sdk import fingerprint
from fanscope.sdk.tracing import use_tracer_provider

VOCAB = [
    "the",
    "quarterly",
    "report",
    "shows",
    "revenue",
    "growth",
    "in",
    "cloud",
    "storage",
    "while",
    "margins",
    "narrowed",
    "as",
    "supply",
    "costs",
    "rose",
    "and",
    "the",
    "regulator",
    "asked",
    "for",
    "more",
    "detail",
    "on",
    "pricing",
    "in",
    "europe",
    "asia",
]

# -- the previous scheme, as the reference -----------------------------------------------------

_KEY = os.urandom(32)


def _old_h(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8, key=_KEY).digest(), "big")


def previous(text: str, limit: int) -> list[str]:
    """Whole string plus the smallest content-defined 8-word windows (CRC-32 % 4 == 0)."""
    words = text.split()
    norm = " ".join(words)
    whole = _old_h(norm.encode())
    if len(words) <= 8:
        return [f"{whole:016x}"]
    chosen: dict[int, str] = {}
    for i in range(len(words) - 7):
        shingle = " ".join(words[i : i + 8])
        crc = zlib.crc32(shingle.encode())
        if crc % 4 == 0:
            chosen.setdefault(crc, shingle)
    kept = sorted(chosen)[: limit - 1]
    return [f"{h:016x}" for h in (whole, *(_old_h(chosen[c].encode()) for c in kept))]


# -- (1) one prompt, one answer ----------------------------------------------------------------


def text_of(chars: int, seed: int) -> str:
    rng = random.Random(seed)
    words: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(VOCAB) + (str(rng.randrange(100)) if rng.random() < 0.2 else "")
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:chars]


def median_us(fn: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.process_time()  # CPU time: steadier than wall time on a shared machine
        fn()
        samples.append(time.process_time() - start)
    return statistics.median(samples) * 1e6


def shared(fn: Callable[[], list[str]]) -> Callable[[], list[str]]:
    """``fn`` run as in a process configured with a shared ``fingerprint_key``."""

    def run() -> list[str]:
        saved = dict(fingerprint._state)
        fingerprint._state["shared"] = True
        try:
            return fn()
        finally:
            fingerprint._state.update(saved)

    return run


def per_text(rounds: int, longest: int = 300_000) -> None:
    print("one text: CPU microseconds (median) and fingerprints recorded")
    print(f"  {'characters':>10}  {'side':<7} {'previous':>10} {'now':>10} {'ratio':>6}"
          f" {'shared key':>11} {'ratio':>6}  {'#prev':>5} {'#now':>4} {'#shared':>7}")  # fmt: skip
    for chars in (c for c in (200, 2_000, 20_000, 300_000) if c <= longest):
        text = text_of(chars, chars)
        reps = max(3, rounds if chars <= 20_000 else rounds // 5)
        for side, now, limit in (
            ("input", lambda t=text: fingerprint.inputs_of((t,), {}), 64),
            ("output", lambda t=text: fingerprint.outputs_of(t), 16),
        ):
            samples: list[list[float]] = [[], [], []]
            for _ in range(reps):  # interleaved
                samples[0].append(median_us(lambda t=text, n=limit: previous(t, n), 1))
                fingerprint._memory.clear()
                samples[1].append(median_us(now, 1))
                fingerprint._memory.clear()
                samples[2].append(median_us(shared(now), 1))
            old, new, wide = (statistics.median(x) for x in samples)
            counts = [len(previous(text, limit))]
            for fn in (now, shared(now)):
                fingerprint._memory.clear()
                counts.append(len(fn()))
            print(
                f"  {chars:>10,}  {side:<7} {old:>8.0f}us {new:>8.0f}us {new / old:>5.1f}x"
                f" {wide:>9.0f}us {wide / old:>5.1f}x  {counts[0]:>5} {counts[1]:>4}"
                f" {counts[2]:>7}"
            )
    fingerprint._memory.clear()


# -- (2) per branch --------------------------------------------------------------------------

BRANCHES = 400


@parallel(max_concurrency=32)
async def answer(prompt: str) -> str:
    await asyncio.sleep(0)
    return prompt[100:700]


def _previous_inputs(args: tuple[object, ...], kwargs: object, **_: object) -> list[str]:
    return previous(str(args[0]), 64)


def _previous_outputs(value: object, **_: object) -> list[str]:
    return previous(str(value), 16)


def per_branch(rounds: int, branches: int = BRANCHES) -> None:
    prompts = [text_of(2_000, 10_000 + i) for i in range(branches)]
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    variants = ("off", "previous", "now", "shared key")
    samples: dict[str, list[float]] = {v: [] for v in variants}
    inputs_of, outputs_of = fingerprint.inputs_of, fingerprint.outputs_of

    async def one(variant: str) -> float:
        fingerprint.set_enabled(variant != "off")
        fingerprint._state["shared"] = variant == "shared key"
        if variant == "previous":
            fingerprint.inputs_of, fingerprint.outputs_of = _previous_inputs, _previous_outputs  # type: ignore[assignment]
        with use_tracer_provider(provider):
            start = time.process_time()
            await answer.map(prompts)
            elapsed = time.process_time() - start
        fingerprint.inputs_of, fingerprint.outputs_of = inputs_of, outputs_of  # type: ignore[assignment]
        exporter.clear()
        fingerprint._memory.clear()
        return elapsed

    async def main() -> None:
        for r in range(rounds + 1):
            for variant in variants:
                elapsed = await one(variant)
                if r:
                    samples[variant].append(elapsed)

    try:
        asyncio.run(main())
    finally:
        fingerprint.set_enabled(True)
        fingerprint._state["shared"] = False
    us = {v: statistics.median(samples[v]) / branches * 1e6 for v in variants}
    print(f"per branch: map over {branches} prompts of 2,000 characters, answers of 600")
    for variant in variants:
        extra = f"  (+{us[variant] - us['off']:.1f} us)" if variant != "off" else ""
        print(f"  fingerprints {variant:<10} {us[variant]:8.1f} us/branch{extra}")
    for variant in ("previous", "now", "shared key"):
        pairs = [a / b for a, b in zip(samples[variant], samples["off"], strict=True)]
        print(f"  median paired ratio {variant} / off = {statistics.median(pairs):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--longest", type=int, default=300_000, help="longest text of part 1, in characters"
    )
    parser.add_argument("--branches", type=int, default=BRANCHES, help="branches of part 2")
    args = parser.parse_args()
    per_text(args.rounds, args.longest)
    per_branch(max(3, args.rounds // 3), args.branches)


if __name__ == "__main__":
    main()

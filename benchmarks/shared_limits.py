"""Limits shared by 8 processes, against one provider's hidden limits: local limiters, one
limiter shared through Redis, and the ``limits`` package's Redis moving window as the peer.

Every run starts 8 worker processes (``--processes``) that fan out through the real
``anthropic`` client (async, ``max_retries=2``, fanscope's instrumentation on) against ONE
stand-in server on 127.0.0.1, all under one API key. The stand-in is the ground truth: it
enforces the hidden limits and counts what it saw (``fanscope.testing.provider``). The key's
buckets are emptied before each run (``Provider.drain``: the minute already spent by earlier
work), so a run measures the steady state the limits allow, not a minute's burst. The work is
an endless backlog of equal documents; a worker sends nothing new after the run's end.

Part 1, caps and tokens: hidden concurrency limit 32 and an input-tokens-per-minute limit that
allows as many requests as 32 at once at the base latency (neither has room to spare). One
worker is killed with SIGKILL a third of the way in. Side by side:

* ``local cap 4 each``: each process ``Limiter(4, input_tokens_per_minute=ITPM / 8)``;
* ``local cap 8 each``: each process ``Limiter(8, input_tokens_per_minute=ITPM / 8)``;
* ``shared cap 32 (Redis)``: every process ``Limiter(32, input_tokens_per_minute=ITPM,
  backend=RedisBackend(url))``, one limit through Redis (the run must never put more than 32
  requests at the server at once: the script fails if it does).

Part 2, rates: a hidden limit of requests per minute (10 a second) and the same concurrency
limit; the same work paced side by side by a rate of 10 a second (20 requests in flight at
the base latency of 2 s), each way:

* ``local GCRA 1/N each``: ``Limiter(4, rate=RateLimit(10 / 8))`` in each process;
* ``limits moving window (Redis)``: ``Limiter(4)`` in each process and, before each call, a
  hit on the ``limits`` package's moving window ``10 per 1 second`` in Redis (async storage,
  polling its window's reset time while refused: ``limits`` has no wait of its own);
* ``shared GCRA (Redis)``: ``Limiter(32, rate=RateLimit(10), backend=RedisBackend(url))``.

No limiter here follows the rate-limit headers in part 2 (``follow_headers=False``), so the
pacing is each algorithm's own; part 1 keeps the default (on), as users get it.

Printed per run, read from the stand-in: requests answered per second and tokens billed per
second (and their share of what the hidden limits allow), the share of requests answered 429
(and which limit refused them), the most requests the clients had at the server at once
(``peak``: counting one refused at arrival; past the hidden limit a cap was overrun), and
around the kill: the most requests at the server at once before it, the most after it (once
the killed process's own requests have ended), and how long after the kill the survivors first
had as many at once as before it (``never`` within the run: a local cap's slots die with its
process; a shared cap's come back when their leases run out). Printed first: the CPU and wall
time of one acquire, each way, against the same Redis.

A real ``redis-server`` is started on a free loopback port (no persistence) and stopped by its
PID; without ``redis-server`` only the local runs happen.

    .venv/bin/python benchmarks/shared_limits.py [--seconds 30] [--processes 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from _targets import check

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the tests' Redis helper lives in the tree
    sys.path.insert(0, str(ROOT))

MODEL = "claude-haiku-5-5"
MAX_TOKENS = 64
CAP = 32  # the hidden concurrency limit
RATE = 10.0  # part 2: the hidden requests per second
WORDS = ("revenue", "margin", "guidance", "backlog", "pricing", "outlook", "churn", "filing")
DOC = " ".join(WORDS[(k * 7) % len(WORDS)] for k in range(300))  # 400 tokens to the stand-in


@dataclass
class Plan:
    """What a worker does (passed as JSON on its command line)."""

    url: str
    key: str
    policy: str
    processes: int
    latency: float
    itpm: float
    redis: str = ""
    namespace: str = ""
    items: int = 0


# -- the worker ---------------------------------------------------------------------------------


def _limiter(plan: Plan) -> Any:
    from fanscope import Limiter
    from fanscope.sdk.limits import RateLimit

    share = plan.itpm / plan.processes
    if plan.policy == "local cap 4 each":
        return Limiter(4, input_tokens_per_minute=share, name="anthropic")
    if plan.policy == "local cap 8 each":
        return Limiter(8, input_tokens_per_minute=share, name="anthropic")
    if plan.policy == "shared cap 32 (Redis)":
        return Limiter(
            CAP, input_tokens_per_minute=plan.itpm, name=plan.namespace, backend=_backend(plan)
        )
    if plan.policy == "local GCRA 1/N each":
        rate = RateLimit(RATE / plan.processes)  # the rate divided among the processes
        return Limiter(4, rate=rate, follow_headers=False, name="anthropic")
    if plan.policy == "limits moving window (Redis)":
        return Limiter(4, follow_headers=False, name="anthropic")
    if plan.policy == "shared GCRA (Redis)":
        return Limiter(
            CAP, rate=RateLimit(RATE), follow_headers=False, name=plan.namespace,
            backend=_backend(plan),
        )  # fmt: skip
    raise SystemExit(f"unknown policy {plan.policy!r}")


def _backend(plan: Plan) -> Any:
    from fanscope import RedisBackend

    # a Redis call slower than this reads as Redis down and the limit falls back to a local one:
    # the default (0.5 s) trips on a two-core machine at load 30, which would measure the
    # fallback, not the shared limit (the worker reports any fallback: see Warnings)
    return RedisBackend(plan.redis, timeout=5.0)


async def _work(plan: Plan) -> dict[str, Any]:
    import anthropic

    from fanscope import parallel

    limiter = _limiter(plan)
    gate = None
    if plan.policy == "limits moving window (Redis)":
        from limits import RateLimitItemPerSecond
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import MovingWindowRateLimiter

        window = MovingWindowRateLimiter(
            RedisStorage(plan.redis.replace("redis://", "async+redis://"), implementation="redispy")
        )
        item = RateLimitItemPerSecond(int(RATE))

        async def gate() -> None:
            while not await window.hit(item, plan.namespace):
                stats = await window.get_window_stats(item, plan.namespace)
                await asyncio.sleep(max(0.001, stats.reset_time - time.time()))

    errors: dict[str, int] = {}
    stop_at = 0.0
    client = anthropic.AsyncAnthropic(base_url=plan.url, api_key=plan.key, max_retries=2)

    @parallel(limiter=limiter)
    async def summarize(doc: str) -> int:
        if time.time() >= stop_at:
            return 0  # the run is over: nothing new is sent
        if gate is not None:
            await gate()
        try:
            await client.messages.create(
                model=MODEL, max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": doc}]
            )
        except anthropic.APIError as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            return 0
        return 1

    print("ready", flush=True)  # everything imported and built: the run measures the work
    line = await asyncio.to_thread(sys.stdin.readline)  # "go <wall time the run ends>"
    stop_at = float(line.split()[1])
    # the branches still waiting for a rate after the end would take as long again: a deadline
    # ends them once what was sent before the end has been answered
    deadline = stop_at - time.time() + 4 * plan.latency
    async with client:
        outcomes = await summarize.map([DOC] * plan.items, on_error="collect", deadline=deadline)
    answered = sum(o.value or 0 for o in outcomes if o.ok)
    return {"answered": answered, "errors": errors, "warnings": sorted(set(Warnings.said))}


class Warnings(logging.Handler):
    """What fanscope warned about in a worker (a limit that fell back to local, leases lost)."""

    said: ClassVar[list[str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        Warnings.said.append(record.getMessage()[:160])


def worker(raw: str) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from fanscope.integrations.anthropic import AnthropicInstrumentor

    plan = Plan(**json.loads(raw))
    logging.getLogger("fanscope").addHandler(Warnings(logging.WARNING))
    trace.set_tracer_provider(TracerProvider())  # spans made as when traced, exported nowhere
    AnthropicInstrumentor().instrument()
    result = asyncio.run(_work(plan))
    print(json.dumps(result), flush=True)


# -- the parent ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    policy: str
    rps: float = 0.0
    tps: float = 0.0
    allowed_rps: float = 0.0
    refused: float = 0.0
    refused_by: dict[str, int] = field(default_factory=dict)
    peak: int = 0
    recovered: str = ""
    errors: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    note: str = ""


class Sampler(threading.Thread):
    """Samples the key's requests in flight at the stand-in every 10 ms."""

    def __init__(self, provider: Any, key: str) -> None:
        super().__init__(daemon=True)
        self.provider, self.key = provider, key
        self.samples: list[tuple[float, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.01):
            self.samples.append((time.time(), self.provider.key_state(self.key).in_flight))


def recovery(samples: list[tuple[float, int]], start: float, kill: float, end: float,
             settle: float) -> str:  # fmt: skip
    """The most requests at the server at once before the kill, the most after it once the
    killed process's own requests have ended (``settle`` seconds), and how long after the kill
    the survivors first had as many at once as before it (``never``: not within the run)."""
    before = max((n for t, n in samples if start <= t < kill), default=0)
    later = [(t, n) for t, n in samples if kill + settle <= t < end]
    after = max((n for _, n in later), default=0)
    back = next((f"{t - kill:.1f} s" for t, n in later if n >= before), "never")
    return f"{before:>3} {after:>3}  {back:<6}"


def run(
    server: Any, plan: Plan, seconds: float, kill_at: float | None, allowed_rps: float,
    warmup: float,
) -> Outcome:  # fmt: skip
    provider = server.provider
    provider.drain(plan.key)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps(asdict(plan))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(plan.processes)
    ]
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            for p in procs:
                p.kill()
            raise SystemExit(f"{plan.policy}: a worker failed to start (see above)")
    sampler = Sampler(provider, plan.key)
    sampler.start()
    start = time.time() + warmup  # measured from here: the workers are at full speed
    end = start + seconds
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"go {end}\n")
        proc.stdin.flush()
    time.sleep(max(0.0, start - time.time()))
    before = _counts(provider.key_state(plan.key))
    kill = start + kill_at if kill_at is not None else None
    if kill is not None:
        time.sleep(max(0.0, kill - time.time()))
        procs[0].kill()
    time.sleep(max(0.0, end - time.time()))
    after = _counts(provider.key_state(plan.key))
    errors: dict[str, int] = {}
    warnings: set[str] = set()
    for i, proc in enumerate(procs):
        out, _ = proc.communicate(timeout=120)
        if kill is not None and i == 0:
            continue
        if proc.returncode:
            raise SystemExit(f"{plan.policy}: a worker failed (exit {proc.returncode})")
        said = json.loads(out.strip().splitlines()[-1])
        warnings.update(said["warnings"])
        for name, n in said["errors"].items():
            errors[name] = errors.get(name, 0) + n
    sampler.done.set()
    sampler.join()
    state = provider.key_state(plan.key)
    admitted = after["admitted"] - before["admitted"]
    refused = after["refused"] - before["refused"]
    return Outcome(
        plan.policy,
        rps=admitted / seconds,
        tps=(after["billed"] - before["billed"]) / seconds,
        allowed_rps=allowed_rps,
        refused=refused / max(1, admitted + refused),
        refused_by=dict(state.refused_by),
        peak=state.peak_asked,
        recovered=(
            recovery(sampler.samples, start, kill, end, 2 * plan.latency)
            if kill is not None
            else ""
        ),
        errors=errors,
        warnings=sorted(warnings),
    )


def _counts(state: Any) -> dict[str, int]:
    return {
        "admitted": state.admitted,
        "refused": state.refused,
        "billed": state.billed_input + state.billed_output,
    }


def acquire_costs(redis_url: str | None, rounds: int = 2_000) -> None:
    """CPU and wall time of one acquire, one process, one after another, against one Redis."""
    from fanscope import Limiter, RedisBackend
    from fanscope.sdk.limits import RateLimit

    cases: list[tuple[str, Any]] = []
    cap, rate = Limiter(CAP, follow_headers=False), Limiter(rate=RateLimit(1e9))
    cases.append(("fanscope cap, local", lambda: (cap.try_acquire(), cap.release())))
    cases.append(("fanscope GCRA, local", rate.reserve_rate))
    if redis_url is not None:
        from limits import RateLimitItemPerSecond
        from limits.storage import RedisStorage
        from limits.strategies import MovingWindowRateLimiter

        window = MovingWindowRateLimiter(RedisStorage(redis_url))
        item = RateLimitItemPerSecond(10**9)
        cases.append(("limits moving window, Redis", lambda: window.hit(item, "cost")))
        cases.append(("limits, cost=400 (tokens)", lambda: window.hit(item, "cost-400", cost=400)))
        backend = RedisBackend(redis_url)
        shared_cap = Limiter(CAP, name="cost-cap", backend=backend, follow_headers=False)
        shared_rate = Limiter(rate=RateLimit(1e9), name="cost-rate", backend=backend)
        cases.append(
            ("fanscope cap, Redis", lambda: (shared_cap.try_acquire(), shared_cap.release()))
        )
        cases.append(("fanscope GCRA, Redis", shared_rate.reserve_rate))
    print(f"## one acquire ({rounds:,} in a row, one process; median of 5 rounds)")
    print(f"{'limiter':<26} {'CPU':>9} {'wall':>9}")
    for name, call in cases:
        cpu, wall = [], []
        for _ in range(5):
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(rounds):
                call()
            cpu.append((time.process_time() - c0) / rounds * 1e6)
            wall.append((time.perf_counter() - w0) / rounds * 1e6)
        print(f"{name:<26} {statistics.median(cpu):>7.1f}us {statistics.median(wall):>7.1f}us")
    print()


def print_table(title: str, outcomes: list[Outcome], kill: bool) -> None:
    print(title)
    head = f"{'policy':<26} {'req/s':>13} {'tokens/s':>9} {'429s':>7} {'peak':>5}"
    print(head + (f"  {'most at once':<14}" if kill else "") + "  refused by / errors")
    for o in outcomes:
        if o.note:
            print(f"{o.policy:<26} {o.note}")
            continue
        share = f"{o.rps:.1f} ({o.rps / o.allowed_rps:.0%})"
        line = f"{o.policy:<26} {share:>13} {o.tps:>9,.0f} {o.refused:>7.2%} {o.peak:>5}"
        if kill:
            line += f"  {o.recovered:<14}"
        why = ", ".join(f"{k} {v}" for k, v in sorted(o.refused_by.items()))
        errs = ", ".join(f"{k} {v}" for k, v in sorted(o.errors.items()))
        print(line + "  " + " / ".join(x for x in (why, errs) if x))
        for said in o.warnings:
            print(f"    a worker warned: {said}")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each run")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--latency", type=float, default=2.0, help="the stand-in's base latency")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--rounds", type=int, default=2_000, help="acquires per cost round")
    parser.add_argument("--runs", default="", help="comma-separated policies (default: all)")
    parser.add_argument("--json", help="also write the figures to this file, as JSON")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return 0

    from fanscope.testing.anthropic_server import AnthropicStandIn, tokens
    from fanscope.testing.provider import HiddenLimits

    redis = _start_redis()
    try:
        return _main(args, redis, AnthropicStandIn, HiddenLimits, tokens(DOC))
    finally:
        if redis is not None:
            redis.stop()


def _main(args: Any, redis: Any, stand_in: Any, hidden: Any, doc_tokens: int) -> int:
    wanted = {r.strip() for r in args.runs.split(",") if r.strip()}
    url = redis.url if redis is not None else None
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    print(f"commit {commit or '?'}; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores; redis-server: {'yes' if redis else 'missing'}\n")  # fmt: skip
    acquire_costs(url, args.rounds)
    rps = CAP / args.latency
    itpm = rps * doc_tokens * 60
    failed = False
    everything: list[dict[str, Any]] = []
    parts = (
        ("caps and tokens", ("local cap 4 each", "local cap 8 each", "shared cap 32 (Redis)"),
         hidden(max_concurrency=CAP, input_tokens_per_minute=itpm), rps, args.seconds / 3),
        ("rates", ("local GCRA 1/N each", "limits moving window (Redis)", "shared GCRA (Redis)"),
         hidden(max_concurrency=CAP, requests_per_minute=RATE * 60), RATE, None),
    )  # fmt: skip
    for n, (part, policies, limits, allowed, kill_at) in enumerate(parts, 1):
        outcomes = []
        with stand_in(latency=args.latency, limits=limits) as server:
            for i, policy in enumerate(policies):
                if wanted and policy not in wanted:
                    continue
                if "(Redis)" in policy and url is None:
                    outcomes.append(Outcome(policy, note="not run: redis-server is missing"))
                    continue
                items = int((args.seconds + args.warmup) * CAP / args.latency * 1.5) + 10
                plan = Plan(
                    server.url, f"key-{n}-{i}", policy, args.processes, args.latency, itpm,
                    redis=url or "", namespace=f"bench-{os.getpid()}-{n}-{i}", items=items,
                )  # fmt: skip
                outcomes.append(run(server, plan, args.seconds, kill_at, allowed, args.warmup))
        kill = kill_at is not None
        title = (
            f"## part {n}, {part}: {args.processes} processes, {args.seconds:g} s each "
            f"after {args.warmup:g} s, "
            f"hidden limit {CAP} at once, "
            + (f"{itpm:,.0f} input tokens/min ({rps:g} req/s); one process killed at "
               f"{kill_at:.0f} s" if kill else f"{RATE * 60:,.0f} requests/min ({RATE:g}/s)")
        )  # fmt: skip
        print_table(title, outcomes, kill)
        everything += [asdict(o) for o in outcomes]
        for o in outcomes:
            if o.policy == "shared cap 32 (Redis)" and not o.note:
                ok = o.peak <= CAP
                print(f"shared 32: peak at the server {o.peak} "
                      f"{'<=' if ok else 'EXCEEDS'} the hidden limit of {CAP}")  # fmt: skip
                check("shared limits, peak at the server under the shared cap", ok,
                      str(o.peak), f"<= {CAP}", f"{args.processes} processes")  # fmt: skip
                failed |= not ok
    if args.json:
        Path(args.json).write_text(json.dumps(everything))
    return 1 if failed else 0


def _start_redis() -> Any:
    from fanscope.testing import RedisServer  # a free loopback port, no persistence

    try:
        return RedisServer().start()
    except FileNotFoundError:  # no redis-server: the local runs only
        return None


if __name__ == "__main__":
    sys.exit(main())

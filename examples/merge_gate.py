""" "Is this change safe to merge?" as ``@vote(n=5, quorum=3)``.

    python examples/merge_gate.py

Five independent reviews of one diff; three agreeing answers decide and the rest are
cancelled. Runs offline against the bundled stand-in, or live when ANTHROPIC_API_KEY is set.
Prints the ballot and the analyzer's report.
"""

from __future__ import annotations

import argparse

import anthropic
from _client import MODEL, anthropic_client, print_report, text_of, traced_run

import fanscope
from fanscope import parallel, vote

DIFF = """--- a/billing.py
+++ b/billing.py
@@ def charge(customer, amount):
-    if amount <= 0:
+    if amount < 0:
         raise ValueError("amount must be positive")
"""
client: anthropic.AsyncAnthropic


@vote(n=5, quorum=3, key=lambda answer: "SAFE" in answer.upper().split(":")[0])
@parallel(max_concurrency=5, timeout=60)
async def safe_to_merge(diff: str, reviewer: int = 0) -> str:
    message = await client.messages.create(
        model=MODEL,
        max_tokens=120,
        messages=[
            {"role": "user", "content": f"[review] Answer SAFE or UNSAFE, then why:\n{diff}"}
        ],
    )
    return text_of(message)


async def run() -> fanscope.Ballot[str]:
    global client
    with anthropic_client() as client:
        ballot = await safe_to_merge.ballot(DIFF)
        await client.close()
    return ballot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", default=".fanscope/merge_gate.jsonl")
    args = parser.parse_args()
    ballot = traced_run("merge-gate", args.trace, run)
    verdict = "safe" if ballot.winner_key else "unsafe"
    print(f"verdict: {verdict} ({ballot.agreement:.0%} agreement, {ballot.answered} answered, "
          f"{ballot.cancelled} cancelled, stopped early: {ballot.stopped_early})")  # fmt: skip
    print_report(args.trace)


if __name__ == "__main__":
    main()

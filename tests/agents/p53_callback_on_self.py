"""State on ``self`` updated from a future's done-callback.

Sync client on a ``ThreadPoolExecutor``. A reviewer object submits one review per file and
registers a bound method as each future's done-callback; the callback keeps a one-word
verdict, lower-cased, in ``self.verdicts``. A release note reads the verdicts. A changelog
heading, asked before the reviews, reads only the version.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


def call_model(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=200, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


class Reviewer:
    def __init__(self) -> None:
        self.verdicts: dict[str, str] = {}

    def _keep(self, name: str) -> object:
        def done(future: Future[str]) -> None:
            self.verdicts[name] = future.result().split()[0].strip(".").lower()

        return done

    @traced
    def release(self, version: str, files: list[str]) -> str:
        heading = call_model(f"A changelog heading for version {version}, five words.")
        with ThreadPoolExecutor(max_workers=2) as pool:
            for name in files:
                future = pool.submit(call_model, f"Review {name}: answer ok or risky, then why.")
                future.add_done_callback(self._keep(name))
        listing = ", ".join(f"{n}={v}" for n, v in sorted(self.verdicts.items()))
        note = call_model(f"Release note for {version}; reviews: {listing}")
        return f"{heading}\n{note}"


def main() -> None:
    Reviewer().release("2.4.0", ["auth.py", "billing.py"])


ANSWERS = {
    r"^A changelog heading": "Faster logins, safer invoices",
    r"^Review auth.py": "Ok. The token refresh is covered by tests.",
    r"^Review billing.py": "Risky. Rounding changed without a migration.",
    r"^Release note for": "2.4.0 ships login speedups; billing held for review.",
}
CALLS = {
    "heading": r"^A changelog heading",
    "review": r"^Review (\w+)",
    "note": r"^Release note for",
}
DEPENDS = ["review -> note"]

if __name__ == "__main__":
    fanscope.configure(service_name="callback-on-self")
    main()

"""The agent that ``test_whatif.agent_trace(sites=True)`` is a trace of.

Four lookups one after another, none using another's answer, then a synthesis of all four:
the source says so, as the fingerprints on the trace do.
"""

from __future__ import annotations


async def lookup(source: str, question: str) -> str:
    return f"{source}: {question}"


async def synthesize(*answers: str) -> str:
    return " ".join(answers)


async def research(question: str) -> str:
    a0 = await lookup("news", question)  # call: lookup0
    a1 = await lookup("filings", question)  # call: lookup1
    a2 = await lookup("prices", question)  # call: lookup2
    a3 = await lookup("db", question)  # call: lookup3
    return await synthesize(a0, a1, a2, a3)  # call: synthesize

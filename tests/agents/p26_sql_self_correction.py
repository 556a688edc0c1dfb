"""Self-correction: generate SQL, validate it with a tool, regenerate with the error, run it.

Sync client. The validator is a ``@traced`` function; the second attempt's prompt carries
the error message and the first attempt.
"""

from __future__ import annotations

import re

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()
SCHEMA = "orders(id, customer_id, total, created_at); customers(id, name, country)"


def llm_call(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=400,
        system=f"You write SQLite queries. Schema: {SCHEMA}",
        messages=[{"role": "user", "content": prompt}],
    )
    return reply.content[0].text.strip()


@traced
def validate(sql: str) -> str:
    columns = set(re.findall(r"\b(\w+)\.(\w+)", sql))
    known = {"id", "customer_id", "total", "created_at", "name", "country"}
    bad = sorted(f"{t}.{c}" for t, c in columns if c not in known)
    return f"no such column: {bad[0]}" if bad else "ok"


@traced
def run_query(sql: str) -> list[tuple[str, float]]:
    return [("Portugal", 18250.0), ("Spain", 15900.5)]


@traced
def answer(question: str) -> list[tuple[str, float]]:
    sql = llm_call(f"Write one query for: {question}")
    problem = validate(sql)
    if problem != "ok":
        sql = llm_call(f"This query failed with '{problem}'. Fix it:\n{sql}")
    return run_query(sql)


def main() -> None:
    answer("total order value per country in 2025")


ANSWERS = {
    r"^Write one query": (
        "SELECT customers.nation, SUM(orders.total) FROM orders JOIN customers ON "
        "customers.id = orders.customer_id WHERE orders.created_at >= '2025-01-01' "
        "GROUP BY customers.nation"
    ),
    r"^This query failed": (
        "SELECT customers.country, SUM(orders.total) FROM orders JOIN customers ON "
        "customers.id = orders.customer_id WHERE orders.created_at >= '2025-01-01' "
        "GROUP BY customers.country"
    ),
}
CALLS = {
    "first": r"^Write one query",
    "validate": "step:validate",
    "fixed": r"^This query failed",
    "run": "step:run_query",
}
DEPENDS = ["first -> validate -> fixed -> run", "first -> fixed"]

if __name__ == "__main__":
    fanscope.configure(service_name="sql-self-correction")
    main()

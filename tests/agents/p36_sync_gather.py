"""Sectioning in sync code: ``fanscope.gather`` over plain functions, then a draft from the
sections and, last, a subject line that needs only the customer's name.

Sync client. ``gather`` takes functions (``functools.partial``), not calls, in sync code.
"""

from __future__ import annotations

import functools

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


def llm_call(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=400, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


def account_history(customer: str) -> str:
    return llm_call(f"Summarise the account history of {customer} in two lines.")


def open_issues(customer: str) -> str:
    return llm_call(f"List the open support issues of {customer}.")


@traced
def renewal_email(customer: str) -> str:
    parts = fanscope.gather(
        history=functools.partial(account_history, customer),
        issues=functools.partial(open_issues, customer),
    )
    draft = llm_call(
        f"Draft a renewal email.\nHistory: {parts.history}\nOpen issues: {parts.issues}"
    )
    subject = llm_call(f"Write a friendly subject line for a renewal email to {customer}.")
    return f"{subject}\n\n{draft}"


def main() -> None:
    renewal_email("Tailspin Toys")


ANSWERS = {
    r"^Summarise the account history": (
        "Customer since 2019, upgraded to the team plan in 2023.\nPays annually, never late."
    ),
    r"^List the open support issues": "One: exports to CSV drop the currency column.",
    r"^Draft a renewal email": (
        "Thank you for six years with us. Your team plan renews next month; the CSV currency "
        "fix ships next week."
    ),
    r"^Write a friendly subject line": "Tailspin Toys, here's to another year together",
}
CALLS = {
    "history": r"^Summarise the account history",
    "issues": r"^List the open support issues",
    "draft": r"^Draft a renewal email",
    "subject": r"^Write a friendly subject line",
}
DEPENDS = ["history -> draft", "issues -> draft"]

if __name__ == "__main__":
    fanscope.configure(service_name="sync-gather")
    main()

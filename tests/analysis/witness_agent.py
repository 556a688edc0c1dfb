"""Agent code in the shapes agents take, for the source witness's tests.

Each call the tests ask about is marked ``# site: NAME`` (the first call on that line that is
not inside another call's arguments). Nothing here runs: the witness only reads it.
"""
# ruff: noqa
# mypy: ignore-errors

import json
import re
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

client = None
HISTORY = []


def llm(prompt, model="m"):
    response = client.messages.create(model=model, messages=[{"role": "user", "content": prompt}])
    return response.content[0].text


def parse_tasks(xml: str) -> list[str]:
    return [t.text or "" for t in ET.fromstring(xml).iter("task")]


async def worker(task: str) -> str:
    return llm(f"Do this: {task}")


async def orchestrator_workers(question):
    plan = llm(f"Break {question} into tasks as <task> XML")  # site: plan
    tasks = parse_tasks(plan)
    results = []
    for task in tasks:
        results.append(await worker(task))  # site: worker
    return llm("Combine:\n" + "\n".join(results))  # site: combine


def prompt_chaining(question):
    a = llm(question)  # site: first
    b = llm(f"Given this context:\n{a}\nanswer {question}")  # site: pasted
    c = llm(a[:40])  # site: prefix
    d = llm(a.replace(".", "").strip().lower())  # site: punctuation
    e = llm(json.dumps({"answer": a}))  # site: json
    f = llm("Translate: {}".format(a))  # site: format
    g = llm(question.upper())  # site: unrelated
    return b, c, d, e, f, g


def lookups(q: str):
    news = llm(f"news about {q}")  # site: news
    filings = llm(f"filings of {q}")  # site: filings
    prices = llm(f"prices of {q}")  # site: prices
    return llm(f"{news}\n{filings}\n{prices}")  # site: brief


def refine(draft):
    for _ in range(3):
        draft = llm(f"Improve: {draft}")  # site: refine
    return draft


def summaries(docs):
    out = []
    for doc in docs:
        out.append(llm(f"Summarize {doc}"))  # site: summarize
    keys = [llm(f"Key of {d}") for d in docs]  # site: keys
    return out, keys


class Agent:
    def __init__(self):
        self.history = []
        self.client = client

    def ask(self, question):
        self.history.append({"role": "user", "content": question})
        reply = self.client.messages.create(messages=self.history)
        self.history.append({"role": "assistant", "content": reply.content})
        return reply

    def look_up(self, question: str):
        return self.client.messages.create(messages=[{"role": "user", "content": question}])

    def run(self, q1: str, q2: str):
        first = self.ask(q1)  # site: ask1
        second = self.ask(q2)  # site: ask2
        third = self.look_up(q1)  # site: lookup1
        fourth = self.look_up(q2)  # site: lookup2
        return first, second, third, fourth


def remember(note):
    HISTORY.append(note)


def recall():
    return "\n".join(HISTORY)


def with_memory(q1: str, q2: str):
    a = llm(q1)  # site: mem1
    remember(a)
    b = llm(recall() + q2)  # site: mem2
    c = llm(q2)  # site: mem3
    return b, c


def with_notes(notes, q: str):
    a = llm(q)  # site: note1
    notes.append(a)
    b = llm(json.dumps(notes))  # site: note2
    return b


def with_closure(q: str):
    found = []

    def keep(x):
        found.append(x)

    a = llm(q)  # site: close1
    keep(a)
    b = llm(" ".join(found))  # site: close2
    return b


def with_unknown(q: str, tool):
    a = llm(q)  # site: unknown1
    tool(a)
    b = llm(tool())  # site: unknown2
    return b


def with_error(q: str):
    a = llm(q)  # site: err1
    try:
        n = int(a)
    except ValueError as error:
        n = str(error)
    return llm(str(n))  # site: err2


def with_pool(q: str, items):
    plan = llm(q)  # site: pool plan
    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(lambda item: llm(f"{plan}: {item}"), items))  # site: pool map
    other = llm(q + "?")  # site: pool other
    return done, other


def reduced(items):
    from functools import reduce

    return reduce(lambda acc, item: llm(acc + item), items, "")  # site: reduce


def gated(diff: str):
    verdict = llm(f"Is this diff safe? {diff}")  # site: gate
    fix = "" if "yes" in verdict else llm(f"Suggest a fix for {diff}")  # site: gated fix
    log = llm(f"Changelog for {diff}")  # site: changelog
    return fix, log


def early_exit(question: str):
    check = llm(f"Is this answerable? {question}")  # site: check
    if check.startswith("no"):
        return None
    return llm(question)  # site: after check


def until_good(task: str):
    draft = ""
    done = False
    while not done:
        draft = llm(f"Write {task}")  # site: write
        done = "ok" in llm(f"Review {draft}")  # site: review
    return draft


class Notebook:
    def __init__(self):
        self.client = client
        self.notes = []

    def note(self, text: str):
        reply = self.client.messages.create(messages=[{"role": "user", "content": text}])
        self.notes.append(reply)

    def weather(self, city: str):
        return self.client.messages.create(messages=[{"role": "user", "content": city}])

    def advise(self, city: str):
        return self.client.messages.create(messages=[{"role": "user", "content": str(self.notes)}])


def with_object(profile: str, city: str):
    book = Notebook()
    book.note(profile)  # site: note
    forecast = book.weather(city)  # site: weather
    plan = book.advise(city)  # site: advise
    return forecast, plan


def closure_accumulates(topics: list[str]):
    transcript = []

    def ask(topic: str):
        transcript.append(llm(f"Ask about {topic}"))

    ask("design")  # site: ask design
    ask("teamwork")  # site: ask teamwork
    return llm("\n".join(transcript))  # site: plan from transcript

"""A class-based tool registry dispatching by a name the model chose.

Sync client. Tools register themselves on a ``Toolbox`` with a decorator method; the agent
asks which tool to use, normalises the answer (``strip().lower()``) and runs the tool by that
name through ``toolbox.run``. The tool's result goes into the final answer. A greeting is asked
first and read by nothing but the reply.
"""

from __future__ import annotations

from collections.abc import Callable

import anthropic

import fanscope
from fanscope import traced

client = anthropic.Anthropic()


def ask(prompt: str) -> str:
    reply = client.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": prompt}]
    )
    return reply.content[0].text


class Toolbox:
    def __init__(self) -> None:
        self.tools: dict[str, Callable[[str], str]] = {}

    def register(self, name: str) -> Callable[[Callable[[str], str]], Callable[[str], str]]:
        def add(fn: Callable[[str], str]) -> Callable[[str], str]:
            self.tools[name] = fn
            return fn

        return add

    def run(self, name: str, argument: str) -> str:
        if name not in self.tools:
            return f"no tool named {name}"
        return self.tools[name](argument)


toolbox = Toolbox()


@toolbox.register("weather")
def weather(city: str) -> str:
    return ask(f"Weather in {city} today, one line.")


@toolbox.register("news")
def news(city: str) -> str:
    return ask(f"One local headline from {city}.")


@traced
def assistant(question: str, city: str) -> str:
    greeting = ask("Greet a traveller in four words.")
    choice = ask(f"Which tool answers '{question}': weather or news? One word.")
    found = toolbox.run(choice.strip().lower().rstrip("."), city)
    reply = ask(f"Answer '{question}' using: {found}")
    return f"{greeting} {reply}"


def main() -> None:
    assistant("Do I need an umbrella?", "Lisbon")


ANSWERS = {
    r"^Greet a traveller": "Welcome, dear traveller, hello!",
    r"^Which tool answers": "Weather.",
    r"^Weather in Lisbon": "Showers in the afternoon, 17C.",
    r"^One local headline": "Tram 28 reroutes for roadworks.",
    r"^Answer 'Do I need": "Yes, take one for the afternoon.",
}
CALLS = {
    "greeting": r"^Greet a traveller",
    "choice": r"^Which tool answers",
    "tool": r"^(Weather in|One local headline)",
    "reply": r"^Answer 'Do I need",
}
DEPENDS = ["choice -> tool -> reply"]

if __name__ == "__main__":
    fanscope.configure(service_name="tool-registry")
    main()

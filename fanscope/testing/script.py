"""Scripted answers for the Anthropic stand-in: per prompt pattern, or in sequence.

An agent under test often parses what the model says: an orchestrator's XML or JSON plan, a
router's one-word label, a tool call with particular arguments. The stand-in's default reply
(deterministic words) cannot be parsed; a script says what to answer::

    from fanscope.testing import AnthropicStandIn, ToolUse

    plan = {"tasks": ["compare prices in Europe", "summarise analyst notes"]}
    with AnthropicStandIn(answers={
        r"^Plan": plan,                                   # JSON, as the model would write it
        r"(?i)classify": ["billing", "technical"],         # in turn; the last one repeats
        r"^Weather": ToolUse("get_weather", {"city": "Lisbon"}),
        r"^Translate": lambda request: request.prompt.upper(),
    }) as server:
        ...

Each request is matched against the patterns in order with ``re.search`` on the text of its
last message (a ``tool_result``'s text included); the first that matches answers. Without a
match the stand-in answers as it always does. ``answers=["a", "b"]`` (a list) answers every
request in turn, whatever it says. ``server.script(pattern, *answers)`` adds a rule later.

An answer is a string; a dict or a list (sent as indented JSON); a :class:`ToolUse`; a
callable taking the :class:`Request` and returning any of these; or a list or tuple of those,
given in turn to successive matching requests (the last one then repeats).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolUse:
    """A scripted answer that calls a tool: a ``tool_use`` block with this name and input."""

    name: str
    input: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """What a scripted callable is given: the request's model, system text and messages."""

    model: str
    system: str
    prompt: str  # the text of the last message
    messages: Sequence[Mapping[str, Any]]
    body: Mapping[str, Any]


Scripted = str | Mapping[str, Any] | list[Any] | ToolUse | Callable[[Request], Any]
Answers = Mapping[str, Scripted | tuple[Scripted, ...]] | list[Scripted]


class Script:
    """The rules a stand-in answers by; safe to use from the server's threads."""

    def __init__(self, answers: Answers | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[tuple[re.Pattern[str], list[Scripted]]] = []
        self._turns: dict[int, int] = {}
        self.used = 0  # requests answered from the script
        if isinstance(answers, list):
            if answers:
                self.add(r"", *answers)
        elif answers is not None:
            if not isinstance(answers, Mapping):
                raise TypeError(
                    "answers must be a mapping {pattern: answer} or a list of answers "
                    f"(got {type(answers).__name__})"
                )
            for pattern, answer in answers.items():
                if isinstance(answer, tuple) or (
                    isinstance(answer, list) and not _is_json_list(answer)
                ):
                    self.add(pattern, *answer)
                else:
                    self.add(pattern, answer)

    def add(self, pattern: str, *answers: Scripted) -> None:
        """Answer requests whose last message matches ``pattern`` with ``answers`` in turn."""
        if not answers:
            raise ValueError(f"script({pattern!r}) needs at least one answer")
        try:
            compiled = re.compile(pattern)
        except re.error as error:
            message = f"answers: {pattern!r} is not a valid regular expression: {error}"
            raise ValueError(message) from None
        with self._lock:
            self._rules.append((compiled, list(answers)))

    def __bool__(self) -> bool:
        return bool(self._rules)

    def answer(self, request: Request) -> str | ToolUse | None:
        """The scripted answer to ``request``: text or a tool call; None when unscripted."""
        with self._lock:
            for i, (pattern, answers) in enumerate(self._rules):
                if pattern.search(request.prompt):
                    turn = self._turns.get(i, 0)
                    self._turns[i] = turn + 1
                    self.used += 1
                    chosen = answers[min(turn, len(answers) - 1)]
                    break
            else:
                return None
        if callable(chosen) and not isinstance(chosen, ToolUse):
            chosen = chosen(request)
        return _as_reply(chosen)


def _is_json_list(value: list[Any]) -> bool:
    """A list given as one answer (a JSON array) rather than as answers in turn.

    A list of strings, dicts, tool calls or callables is answers in turn; anything else (a
    list of numbers, of lists) is one JSON answer. Wrap a list of strings meant as one JSON
    answer in a one-element tuple: ``(["a", "b"],)``.
    """
    return not all(isinstance(v, str | Mapping | ToolUse) or callable(v) for v in value)


def _as_reply(value: Any) -> str | ToolUse:
    if isinstance(value, str | ToolUse):
        return value
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, indent=2, ensure_ascii=False)
    raise TypeError(
        "a scripted answer must be a string, a dict or list (sent as JSON), a ToolUse, or a "
        f"callable returning one of these (got {type(value).__name__})"
    )

"""A ``BaseException`` in a branch, and Ctrl-C during a fan-out: nothing is lost.

What a fan-out does (``docs/sdk.md``, "Failure policies"): a ``BaseException`` that is not an
``Exception`` (``KeyboardInterrupt``, ``SystemExit``, a framework's own) is never collected
as a branch's failure, whatever ``on_error`` says: it stops the fan-out, the branches still
running are cancelled with the reason ``sibling failed``, and it reaches the caller as
itself. Every span ends and reaches the trace file, also when the program then dies of it.

Reproduction: a branch raising ``KeyboardInterrupt`` in a sync fan-out marked its running
siblings ``input failed``, a claim about the input that was false.

Each case is a real program (``interrupt_agent.py``) writing a real trace file; the order of
events is decided by events (branch 2 raises once the others have returned or started; the
test sends SIGINT once the program says every branch is running), never by time.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fanscope.analysis.model import Span
from fanscope.analysis.readers import read_file
from fanscope.sdk import attributes as A

AGENT = Path(__file__).with_name("interrupt_agent.py")


def start(trace: Path, shape: str, how: str, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(AGENT), str(trace), shape, how, name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_in_the_foreground,
    )


def finish(agent: subprocess.Popen[str]) -> tuple[str, str]:
    """The agent's output once it ends; killed, not left running into later tests, if it
    hangs."""
    try:
        return agent.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        agent.kill()
        agent.communicate()
        raise


def as_in_the_foreground() -> None:
    """SIGINT as a terminal's foreground program has it: a run started as a background job
    (`make test &`) ignores SIGINT, its children inherit that, and Python then installs no
    KeyboardInterrupt handler, so the agent would never see the test's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def branches(spans: list[Span], function: str) -> dict[int, Span]:
    return {
        s.attributes[A.BRANCH_INDEX]: s
        for s in spans
        if s.attributes.get(A.ROLE) == A.ROLE_BRANCH and s.name == function
    }


@pytest.mark.parametrize("name", ["KeyboardInterrupt", "Abort"])
@pytest.mark.parametrize("shape", ["async", "sync"])
def test_a_branch_raising_a_base_exception_stops_the_fan_out_and_the_program_goes_on(
    tmp_path: Path, shape: str, name: str
) -> None:
    trace = tmp_path / "t.jsonl"
    agent = start(trace, shape, "raise", name)
    out, err = finish(agent)
    assert agent.returncode == 0, err[-2000:]
    # the caller got the exception as itself, and the program went on with its work
    assert out.splitlines()[-2:] == [f"caught {name}", "then [0, 2, 4]"], (out, err[-2000:])
    spans = read_file(trace).spans
    function = "look_up" if shape == "async" else "look_up_sync"
    (fanout,) = [s for s in spans if s.attributes.get(A.ROLE) == A.ROLE_FANOUT and
                 s.name.endswith(function)]  # fmt: skip
    kept = branches(spans, function)
    assert sorted(kept) == list(range(6))  # every branch's span reached the file
    assert [kept[i].attributes[A.BRANCH_OUTCOME] for i in (0, 1)] == ["ok", "ok"]
    failed = kept[2]
    assert failed.status == "error" and failed.attributes[A.ERROR_TYPE].endswith(name)
    assert fanout.status == "error" and fanout.attributes[A.ERROR_TYPE].endswith(name)
    # asyncio.run lets a KeyboardInterrupt out of the loop at once and cancels what is left:
    # the siblings then end as their caller was cancelled
    reason = "caller cancelled" if (shape, name) == ("async", "KeyboardInterrupt") else (
        "sibling failed")  # fmt: skip
    for i in (3, 4, 5):
        assert kept[i].attributes[A.BRANCH_OUTCOME] == "cancelled"
        assert kept[i].attributes[A.CANCEL_REASON] == reason, (i, kept[i].attributes)


@pytest.mark.parametrize("shape", ["async", "sync"])
def test_ctrl_c_during_a_fan_out_keeps_every_span_and_exits_as_ctrl_c_does(
    tmp_path: Path, shape: str
) -> None:
    trace = tmp_path / "t.jsonl"
    agent = start(trace, shape, "ctrl-c", "KeyboardInterrupt")
    assert agent.stdout is not None
    assert agent.stdout.readline() == "running\n"  # every branch is running
    agent.send_signal(signal.SIGINT)
    _, err = finish(agent)
    assert agent.returncode == -signal.SIGINT, err[-2000:]  # as Python dies of Ctrl-C
    assert err.rstrip().endswith("KeyboardInterrupt")
    spans = read_file(trace).spans
    function = "look_up" if shape == "async" else "look_up_sync"
    kept = branches(spans, function)
    assert sorted(kept) == list(range(6))
    for span in kept.values():
        assert span.attributes[A.BRANCH_OUTCOME] == "cancelled"
        assert span.attributes[A.CANCEL_REASON] == "caller cancelled"
    assert any(s.attributes.get(A.ROLE) == A.ROLE_FANOUT for s in spans)

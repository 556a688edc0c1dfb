"""What the ``fanscope`` command accepts: its commands, their options and help, and the
parser's one-line errors with "did you mean" for a misspelt command, option or value. What each
command does is :mod:`fanscope.cli`."""

from __future__ import annotations

import argparse
import difflib
import re
from typing import NoReturn

EXIT_OK, EXIT_GATE, EXIT_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INPUT, f"fanscope: {message}{self._near(message)} (see '{self.prog} -h')\n")

    def _near(self, message: str) -> str:
        """'; did you mean ...?' for a misspelt command, value or option (analyse, --fail_if,
        --markdown for --format markdown)."""
        wrong = re.search(r"invalid choice: '([^']*)'|unrecognized arguments: (\S+)", message)
        if not wrong:
            return ""
        word = wrong.group(1) or wrong.group(2)
        known: dict[str, str] = {}  # what may have been meant -> what to write
        options: dict[str, str] = {}  # an option -> how it is written with its value
        parsers: list[argparse.ArgumentParser] = [self]
        for parser in parsers:
            for action in parser._actions:
                known.update((option, option) for option in action.option_strings)
                value = f" {action.metavar or action.dest.upper()}" if action.nargs != 0 else ""
                options.update((option, option + value) for option in action.option_strings)
                if isinstance(action.choices, dict):  # the commands
                    known.update((command, command) for command in action.choices)
                    parsers += action.choices.values()
                elif action.choices is not None and action.option_strings:
                    for choice in map(str, action.choices):
                        known[choice] = choice
                        known[f"--{choice}"] = f"{action.option_strings[-1]} {choice}"
        if f"--{word}" in options and "invalid choice" in message:  # --format html
            return f"; did you mean {options[f'--{word}']!r}?"
        pool = [k for k in known if k.startswith("-") == word.startswith("-")]
        near = difflib.get_close_matches(word, pool, n=1, cutoff=0.75)
        return f"; did you mean {known[near[0]]!r}?" if near else ""


_STRICT = "fail when a file of a folder cannot be read (by default it is skipped with a warning)"


def build_parser() -> argparse.ArgumentParser:
    """The ``fanscope`` command line: its commands, options and their help."""
    from fanscope import __version__

    parser = _Parser(prog="fanscope", description="Where did the agent's time go?")
    parser.add_argument("--version", action="version", version=f"fanscope {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    analyze = sub.add_parser("analyze", help="critical path, slowest branches, waiting in line")
    analyze.add_argument(
        "files",
        nargs="+",
        help="trace files or folders of them (OTLP JSON lines or Jaeger JSON); - for stdin",
    )
    analyze.add_argument(
        "--trace-id",
        help="analyse only this trace: its id, or any unambiguous start or end of it "
        "(the reports print the first 16 digits)",
    )
    analyze.add_argument(
        "--last",
        type=_positive,
        metavar="N",
        help="analyse only the N newest traces (each run of an agent appends one)",
    )
    analyze.add_argument(
        "--all",
        action="store_true",
        help="print every trace (the terminal prints the newest of each file by default)",
    )
    analyze.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    analyze.add_argument("--html", metavar="OUT", help="also write a self-contained HTML report")
    analyze.add_argument(
        "--fail-if",
        action="append",
        default=[],
        metavar="EXPR",
        help="a gate, e.g. 'parallelizable > 20%%' (repeatable)",
    )
    analyze.add_argument("--max-critical-path", metavar="TIME", help="e.g. 5s")
    analyze.add_argument("--max-parallelizable", metavar="SHARE", help="e.g. 20%%")
    analyze.add_argument("--max-straggler", metavar="RATIO", help="e.g. 3")
    analyze.add_argument("--max-queue-wait", metavar="SHARE", help="e.g. 10%%")
    analyze.add_argument("--max-cost", metavar="USD", help="per trace, e.g. 0.50")
    analyze.add_argument("--max-total-cost", metavar="USD", help="all traces together, e.g. 5")
    analyze.add_argument(
        "--max-budget-refused", metavar="N", help="calls a trace's budgets refused, e.g. 0"
    )
    analyze.add_argument(
        "--what-if-cap",
        action="append",
        default=[],
        metavar="[NAME=]N",
        help="also say how long the run would take with the cap N: every cap, or NAME's "
        "(a function or limiter; repeatable)",
    )
    analyze.add_argument(
        "--source-root",
        metavar="DIR",
        help="read the callers' source here to see what feeds each call (default: the "
        "working directory)",
    )
    analyze.add_argument(
        "--count-candidates",
        action="store_true",
        help="let pairs only one witness could look at (candidates) count in the what-if, "
        "the saving and the gates",
    )
    analyze.add_argument(
        "--config",
        default="pyproject.toml",
        help="read [tool.fanscope] gates from this file (default: ./pyproject.toml)",
    )
    analyze.add_argument("--strict", action="store_true", help=_STRICT)

    diff = sub.add_parser(
        "diff", help="what got slower or faster on the critical path, and what cost more or less"
    )
    diff.add_argument("base", help="trace file or folder of the base (e.g. the main branch)")
    diff.add_argument("head", help="trace file or folder of the change")
    diff.add_argument(
        "--max-slowdown",
        metavar="SHARE",
        help="fail when the total or an operation's p50 on the path grows more, e.g. 10%%",
    )
    diff.add_argument(
        "--max-cost-increase",
        metavar="SHARE",
        help="fail when a trace's p50 cost or an operation's grows more, e.g. 10%%",
    )
    diff.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    diff.add_argument("--strict", action="store_true", help=_STRICT)

    convert = sub.add_parser("convert", help="convert a trace file (for Jaeger UI's upload)")
    convert.add_argument("file")
    convert.add_argument("--to", choices=["jaeger", "otlp"], required=True)
    convert.add_argument("-o", "--output", help="write here instead of standard output")
    return parser


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"wants a whole number >= 1, e.g. 5 (got {value!r})")
    return number

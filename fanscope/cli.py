"""The ``fanscope`` command (also ``python -m fanscope``).

    fanscope analyze FILE... [--trace-id ID | --last N] [--all] [--format text|markdown|json]
                             [--html OUT]
                             [--fail-if EXPR]... [--max-critical-path 5s] [--max-parallelizable 20%]
                             [--max-straggler 3] [--max-queue-wait 10%] [--max-cost 0.50]
                             [--max-total-cost 5] [--max-budget-refused 0]
                             [--config pyproject.toml]
                             [--what-if-cap [NAME=]N]... [--strict]
    fanscope diff BASE HEAD [--max-slowdown 10%] [--max-cost-increase 10%]
                            [--format text|markdown|json] [--strict]
    fanscope convert FILE --to jaeger|otlp [-o OUT]

FILE is an OTLP JSON-lines file, an OTLP/HTTP JSON body, a Jaeger JSON file, a folder of
them, or ``-`` for standard input.

Exit status: 0 when every gate holds, 1 when one fails (and only then: each failed gate named
on stderr), 2 for unusable input or arguments (one line on stderr, no traceback), also when
memory runs out. A reader that goes away (``fanscope analyze ... | head``) ends the output
quietly; the gates still decide the status. ``FANSCOPE_DEBUG=1`` shows the traceback of an
unexpected error instead of its one line.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import gc
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fanscope.cli_args import EXIT_GATE, EXIT_INPUT, EXIT_OK, build_parser
from fanscope.errors import FanscopeError

if TYPE_CHECKING:
    from collections.abc import Callable

    from fanscope.analysis.convert import Out
    from fanscope.analysis.dependencies import Witnesses
    from fanscope.analysis.diff import Change
    from fanscope.analysis.gates import Gate
    from fanscope.analysis.model import Span
    from fanscope.analysis.schema import ReportDoc


def _fail(message: str) -> int:
    from fanscope.analysis.report.untrusted import MAX_LINE_CHARS, terminal

    print(f"fanscope: {terminal(message, MAX_LINE_CHARS)}", file=sys.stderr)
    return EXIT_INPUT


def _warn(message: str) -> None:
    from fanscope.analysis.report.untrusted import MAX_LINE_CHARS, terminal

    print(f"warning: {terminal(message, MAX_LINE_CHARS)}", file=sys.stderr)


def _write(text: str) -> None:
    """Write to standard output; a reader that went away (``| head``) ends the output."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_gone()


def _stdout_gone() -> None:
    # Later writes, and the interpreter's flush at exit, go nowhere instead of failing again.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def resolve_trace_id(wanted: str, trace_ids: set[str], where: str) -> str:
    """The one trace id that ``wanted`` names: the whole id, or a start or an end of it.

    Raises:
        FanscopeError: ``wanted`` is not hex, names no trace, or names several.
    """
    digits = wanted.strip().lower()
    if not digits or digits.strip("0123456789abcdef"):
        raise FanscopeError(f"--trace-id {wanted!r}: expected hex digits, as the reports print")
    if digits in trace_ids:
        return digits
    found = sorted(t for t in trace_ids if t.startswith(digits) or t.endswith(digits))
    if len(found) == 1:
        return found[0]
    if not found:
        raise FanscopeError(
            f"{where}: no trace with id {digits} to analyse ({len(trace_ids)} other trace(s) "
            "there; run without --trace-id to list them)"
        )
    shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
    raise FanscopeError(
        f"--trace-id {digits} matches {len(found)} traces ({shown}); give more digits"
    )


def _read(
    files: Sequence[str],
    trace_id: str | None = None,
    strict: bool = False,
    last: int | None = None,
    caps: dict[str, int] | None = None,
    witnesses: Witnesses | None = None,
) -> tuple[ReportDoc, list[Span], dict[str, str], int]:
    """The report of ``files`` as its JSON document, the spans analysed (read once: ``-``),
    each trace's file, and how many traces the files hold (``--last`` keeps the newest)."""
    from fanscope.analysis import analyze
    from fanscope.analysis.selection import newest, read_with_origins

    where = ", ".join(files)
    # Millions of small objects that all live until the end: the cyclic collector would only
    # rescan them again and again (a third of the run time at a million spans).
    gc.disable()
    try:
        loaded = read_with_origins(files, strict=strict)
        result = loaded.result
        held = len(loaded.origin)
        spans = newest(result.spans, last) if last is not None else result.spans
        if trace_id is not None and spans:
            trace_id = resolve_trace_id(trace_id, {s.trace_id for s in spans}, where)
            spans = [s for s in spans if s.trace_id == trace_id]
        report = analyze(
            spans,
            trace_id=trace_id,
            warnings=result.warnings,
            sources=files,
            what_if_caps=caps,
            witnesses=witnesses,
        )
    finally:
        gc.enable()
    if not report.traces:
        raise FanscopeError(
            f"{where}: no spans to analyse; record some with fanscope.configure(trace_file=...)"
        )
    return report.to_dict(), spans, loaded.origin, held


def _analyze(args: argparse.Namespace) -> int:
    from fanscope.analysis import gates as gate_mod
    from fanscope.analysis.report import markdown, text
    from fanscope.analysis.report.untrusted import MAX_LINE_CHARS, terminal

    gates = gate_mod.gates_from_options(
        args.fail_if,
        args.max_critical_path,
        args.max_parallelizable,
        args.max_straggler,
        args.max_queue_wait,
        args.max_cost,
        args.max_total_cost,
        args.max_budget_refused,
    )
    config_warnings: list[str] = []
    gates += gate_mod.gates_from_pyproject(Path(args.config), config_warnings)
    for line in config_warnings:
        _warn(line)
    caps = gate_mod.parse_caps(args.what_if_cap)
    report, spans, origin, total = _read(
        args.files, args.trace_id, args.strict, args.last, caps, _witnesses(args)
    )
    failed = gate_mod.evaluate(report, gates)
    shown, note = _shown(args, report, origin, total)
    if args.format == "json":
        report["gates"] = {"checked": [g.text for g in gates], "failed": failed}
        _write(_json(report) + "\n")
    elif args.format == "markdown":
        held = [f"gate held: {g.text}" for g in gates if not any(g.text in f for f in failed)]
        _write(markdown.render(report, [*failed, *held], note))
    else:
        _write(text.render(report, shown, note))
    if args.html:
        _write_html(report, spans, args.html, note if args.last is not None else None)
        if args.html != "-":
            count = len(report["traces"])
            _say(f"wrote {args.html} ({count} trace{'s' * (count != 1)}; open it in a browser)")
    for line in failed:
        print(terminal(line, MAX_LINE_CHARS), file=sys.stderr)
    if args.format == "text":  # the other formats carry the gates in their output
        for line in _held(report, gates, failed):
            print(terminal(line, MAX_LINE_CHARS), file=sys.stderr)
    return EXIT_GATE if failed else EXIT_OK


def _held(report: ReportDoc, gates: list[Gate], failed: list[str]) -> list[str]:
    """One line per gate that held, with the worst value it was held against: a CI log then
    shows that the gate ran, not only that nothing failed."""
    from fanscope.analysis.gates import METRICS

    lines = []
    for gate in gates:
        if any(f"gate failed: {gate.text} " in line for line in failed):
            continue
        worst = None
        if gate.metric not in ("cost", "total_cost"):  # their own lines say more when failed
            worst = max(report["traces"], key=METRICS[gate.metric], default=None)
        if worst is None:
            lines.append(f"gate held: {gate.text}")
            continue
        value = gate.show(METRICS[gate.metric](worst))  # the worst trace, as a failure says
        where = f"trace {worst['trace_id'][:16]} {worst['root']}"
        lines.append(f"gate held: {gate.text} ({where}: {gate.metric} = {value})")
    return lines


def _say(message: str) -> None:
    """What was done, on stderr: standard output stays the report."""
    from fanscope.analysis.report.untrusted import MAX_LINE_CHARS, terminal

    print(f"fanscope: {terminal(message, MAX_LINE_CHARS)}", file=sys.stderr)


def _json(document: Any) -> str:
    """A report as one line of JSON: trace text cut, valid UTF-8 (the C encoder: fast)."""
    from fanscope.analysis.report.untrusted import json_text

    return json_text(document)


#: Traces drawn in the HTML report (the first of the report's order); the rest are counted.
MAX_HTML_TRACES = 50


def _witnesses(args: argparse.Namespace) -> Witnesses:
    from fanscope.analysis.dependencies import Witnesses

    root = args.source_root
    if root is not None and not Path(root).is_dir():
        raise FanscopeError(
            f"--source-root {root}: no such directory; pass the folder your agent's code is in"
        )
    return Witnesses(source_root=root, count_candidates=args.count_candidates)


def _shown(
    args: argparse.Namespace, report: ReportDoc, origin: dict[str, str], held: int
) -> tuple[set[str] | None, str | None]:
    """The traces the terminal prints (``None``: all) and the line that says what was left out.

    ``--last N`` analysed the N newest; otherwise the terminal prints the newest trace of each
    file, unless ``--all`` or ``--trace-id`` (``docs/analysis.md``, "Many traces").
    """
    from fanscope.analysis.report import words
    from fanscope.analysis.selection import newest_per_file

    traces = report["traces"]
    if args.last is not None:
        if held > len(traces):
            return None, f"the newest {len(traces):,} of {held:,} traces (--last {args.last})"
        return None, None
    if args.all or args.trace_id or args.format != "text":
        return None, None
    shown = newest_per_file({t["trace_id"]: t["start"] for t in traces}, origin)
    if len(shown) >= len(traces):
        return None, None
    return shown, words.skipped(len(shown), len(traces))


def _write_html(report: ReportDoc, spans: list[Span], out: str, note: str | None = None) -> None:
    from fanscope.analysis.report import html

    traces = report["traces"]
    if len(traces) > MAX_HTML_TRACES:
        report = {**report, "traces": traces[:MAX_HTML_TRACES]}
        report["warnings"] = [
            *report["warnings"],
            f"the HTML report draws the first {MAX_HTML_TRACES} of {len(traces):,} traces; "
            "pass --trace-id for another one",
        ]
        wanted = {t["trace_id"] for t in report["traces"]}
        spans = [s for s in spans if s.trace_id in wanted]
    with _output(out) as handle:
        handle.write(html.render(report, spans, note))


def _diff(args: argparse.Namespace) -> int:
    from fanscope.analysis.diff import compare, compare_costs, slower_than, unpriced_calls
    from fanscope.analysis.gates import parse_share
    from fanscope.analysis.report.costs import usd
    from fanscope.analysis.report.text import seconds
    from fanscope.analysis.report.untrusted import terminal, terminal_output

    limit = cost_limit = None
    if args.max_slowdown is not None:
        limit = parse_share(args.max_slowdown, "--max-slowdown")
    if args.max_cost_increase is not None:
        cost_limit = parse_share(args.max_cost_increase, "--max-cost-increase")
    base, head = (
        _read([args.base], strict=args.strict)[0],
        _read([args.head], strict=args.strict)[0],
    )
    changes = compare(base, head)
    worse = slower_than(changes, limit) if limit is not None else []
    cost_changes = compare_costs(base, head)
    costlier = slower_than(cost_changes, cost_limit, 0.0) if cost_limit is not None else []
    unpriced = {"base": unpriced_calls(base), "head": unpriced_calls(head)}
    if args.format == "json":

        def rows(found: list[Change]) -> list[dict[str, object]]:
            return [
                {"operation": c.operation, "base": c.base, "head": c.head, "delta": c.delta}
                for c in found
            ]

        _write(_json({"schema": "fanscope.diff/v1", "changes": rows(changes),
                      "slower": [c.operation for c in worse],
                      "cost_changes": rows(cost_changes),
                      "costlier": [c.operation for c in costlier],
                      "unpriced_calls": unpriced}) + "\n")  # fmt: skip
    else:
        md = args.format == "markdown"
        lines = _diff_table(changes, "p50 on the critical path", "p50", seconds, md)
        if cost_changes:
            money = (lambda v: usd(v, "\\$")) if md else usd
            what = "p50 cost in a trace"
            lines += ["", *_diff_table(cost_changes, what, "p50 cost", money, md)]
            if unpriced["base"] or unpriced["head"]:
                lines.append(
                    f"unpriced calls (their cost unknown, so the amounts are lower bounds): "
                    f"{unpriced['base']:,} in the base, {unpriced['head']:,} in the head"
                )
        _write(terminal_output("\n".join(lines) + "\n"))
    for c in worse:
        print(
            f"slower: {terminal(c.operation)} {seconds(c.base)} -> {seconds(c.head)} "
            f"(more than {args.max_slowdown})",
            file=sys.stderr,
        )
    for c in costlier:
        print(
            f"costlier: {terminal(c.operation)} {usd(c.base)} -> {usd(c.head)} "
            f"(more than {args.max_cost_increase})",
            file=sys.stderr,
        )
    return EXIT_GATE if worse or costlier else EXIT_OK


def _diff_table(
    changes: list[Change], what: str, short: str, show: Callable[[float], str], md: bool
) -> list[str]:
    """The rows of ``fanscope diff``: operation, base, head, change."""
    from fanscope.analysis.report.untrusted import markdown, terminal

    if md:
        lines = [f"| operation | base {short} | head {short} | change |", "|---|---:|---:|---:|"]
    else:
        lines = [f"{'operation (' + what + ')':<48} {'base':>10} {'head':>10}  change"]
    for c in changes:
        change = "new" if c.base == 0 else "gone" if c.head == 0 else f"{(c.ratio - 1) * 100:+.0f}%"
        name = markdown(c.operation) if md else terminal(c.operation, 48)
        cells = (name, show(c.base), show(c.head), change)
        lines.append("| {} | {} | {} | {} |".format(*cells) if md else
                     f"{cells[0]:<48} {cells[1]:>10} {cells[2]:>10}  {cells[3]}")  # fmt: skip
    return lines


def _convert(args: argparse.Namespace) -> int:
    from fanscope.analysis.convert import JaegerWriter, OtlpLinesWriter
    from fanscope.analysis.readers import read_file

    traces: set[str] = set()
    count = 0

    def add(spans: list[Span]) -> None:
        nonlocal count
        count += len(spans)
        traces.update(span.trace_id for span in spans)
        writer.add(spans)

    with _output(args.output) as out:
        writer = JaegerWriter(out) if args.to == "jaeger" else OtlpLinesWriter(out)
        result = read_file(args.file, emit=add)
        writer.finish()
    for warning in result.warnings:
        _warn(warning)
    if args.output and args.output != "-":
        made = (
            "Jaeger JSON; Jaeger UI opens it without a server (Search, Upload JSON)"
            if args.to == "jaeger"
            else "OTLP JSON lines"
        )
        _say(f"wrote {args.output}: {len(traces)} trace(s), {count} spans as {made}")
    return EXIT_OK


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[Out]:
    """Standard output, or a file that appears whole or not at all (written aside, renamed)."""
    if not path or path == "-":
        yield _StdoutOrNothing()
        return
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    try:
        handle = open(partial, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:  # name the file asked for, not the one written aside
        missing = exc.errno == errno.ENOENT
        problem = f"no folder {target.parent}; create it first" if missing else exc.strerror
        raise OSError(exc.errno, f"cannot be written: {problem or exc}", path) from None
    try:
        with handle:
            yield handle
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


class _StdoutOrNothing:
    """Standard output, written through :func:`_write` (a closed pipe ends the output)."""

    def write(self, text: str) -> int:
        _write(text)
        return len(text)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status (0, 1 or 2, never a traceback)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # -h, or arguments argparse rejected (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_INPUT
    try:
        if args.command == "analyze":
            return _analyze(args)
        if args.command == "diff":
            return _diff(args)
        return _convert(args)
    except BrokenPipeError:  # standard output closed by its reader while the report was made
        _stdout_gone()
        return EXIT_OK
    except FanscopeError as exc:  # TraceReadError, ConfigurationError: the message says it all
        return _fail(str(exc))
    except MemoryError:
        gc.collect()
        where = ", ".join(getattr(args, "files", None) or [getattr(args, "file", "the input")])
        return _fail(
            f"{where}: not enough memory to analyse this much; pass --trace-id for one trace, "
            "or split the file"
        )
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        return _fail("interrupted")
    except Exception as exc:
        if os.environ.get("FANSCOPE_DEBUG"):
            raise
        return _fail(
            f"unexpected error {type(exc).__name__}: {exc} (a bug: please report it with the "
            "traceback that FANSCOPE_DEBUG=1 shows)"
        )


def run() -> None:
    """The console-script entry point."""
    # Trace text is escaped before it is printed; this is the last line of defence for
    # anything else that cannot be encoded on a non-UTF-8 terminal.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    sys.exit(main())


if __name__ == "__main__":
    run()

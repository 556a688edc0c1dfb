"""The ``fanscope`` command (also ``python -m fanscope``).

    fanscope analyze FILE... [--trace-id ID] [--format text|markdown|json] [--html OUT]
                             [--fail-if EXPR]... [--max-critical-path 5s] [--max-parallelizable 20%]
                             [--max-straggler 3] [--max-queue-wait 10%] [--config pyproject.toml]
                             [--what-if-cap [NAME=]N]...
    fanscope diff BASE HEAD [--max-slowdown 10%] [--format text|markdown|json]
    fanscope convert FILE --to jaeger|otlp [-o OUT]

FILE is an OTLP JSON-lines file, an OTLP/HTTP JSON body, a Jaeger JSON file, a folder of
them, or ``-`` for standard input.

Exit status: 0 when every gate holds, 1 when one fails (named on stderr), 2 for unusable
input or arguments (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from fanscope.errors import ConfigurationError, FanscopeError

if TYPE_CHECKING:
    from fanscope.analysis.schema import ReportDoc

EXIT_OK, EXIT_GATE, EXIT_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INPUT, f"fanscope: {message} (see '{self.prog} -h')\n")


def _parser() -> argparse.ArgumentParser:
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
    analyze.add_argument("--trace-id", help="analyse only this trace (a suffix is enough)")
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
    analyze.add_argument(
        "--what-if-cap",
        action="append",
        default=[],
        metavar="[NAME=]N",
        help="also say how long the run would take with the cap N: every cap, or NAME's "
        "(a function or limiter; repeatable)",
    )
    analyze.add_argument(
        "--config",
        default="pyproject.toml",
        help="read [tool.fanscope] gates from this file (default: ./pyproject.toml)",
    )

    diff = sub.add_parser("diff", help="what got slower or faster on the critical path")
    diff.add_argument("base", help="trace file or folder of the base (e.g. the main branch)")
    diff.add_argument("head", help="trace file or folder of the change")
    diff.add_argument(
        "--max-slowdown",
        metavar="SHARE",
        help="fail when the total or an operation's p50 on the path grows more, e.g. 10%%",
    )
    diff.add_argument("--format", choices=["text", "markdown", "json"], default="text")

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


def _fail(message: str) -> int:
    print(f"fanscope: {message}", file=sys.stderr)
    return EXIT_INPUT


def _read(
    files: Sequence[str],
    trace_id: str | None = None,
    last: int | None = None,
    caps: dict[str, int] | None = None,
) -> tuple[ReportDoc, list[Any], dict[str, str], int]:
    """The report of ``files`` as its JSON document, the spans analysed (read once: ``-``),
    each trace's file, and how many traces the files hold (``--last`` keeps the newest)."""
    from fanscope.analysis import analyze
    from fanscope.analysis.selection import newest, read_with_origins

    # Millions of small objects that all live until the end: the cyclic collector would only
    # rescan them again and again (a third of the run time at a million spans).
    gc.disable()
    try:
        loaded = read_with_origins(files)
        result = loaded.result
        held = len(loaded.origin)
        spans = newest(result.spans, last) if last is not None else result.spans
        report = analyze(
            spans,
            trace_id=trace_id,
            warnings=result.warnings,
            sources=files,
            what_if_caps=caps,
        )
    finally:
        gc.enable()
    if not report.traces:
        where = ", ".join(files)
        if trace_id and result.spans:
            found = len({s.trace_id for s in result.spans})
            raise FanscopeError(
                f"{where}: no trace with id {trace_id} to analyse ({found} other trace(s) "
                "there; run without --trace-id to list them)"
            )
        raise FanscopeError(
            f"{where}: no spans to analyse; record some with fanscope.configure(trace_file=...)"
        )
    return report.to_dict(), spans, loaded.origin, held


def _analyze(args: argparse.Namespace) -> int:
    from fanscope.analysis import gates as gate_mod
    from fanscope.analysis.report import markdown, text

    gates = gate_mod.gates_from_options(
        args.fail_if,
        args.max_critical_path,
        args.max_parallelizable,
        args.max_straggler,
        args.max_queue_wait,
    )
    config_warnings: list[str] = []
    gates += gate_mod.gates_from_pyproject(Path(args.config), config_warnings)
    for line in config_warnings:
        print(f"warning: {line}", file=sys.stderr)
    caps = gate_mod.parse_caps(args.what_if_cap)
    report, spans, origin, total = _read(args.files, args.trace_id, args.last, caps)
    failed = gate_mod.evaluate(report, gates)
    shown, note = _shown(args, report, origin, total)
    if args.format == "json":
        report["gates"] = {"checked": [g.text for g in gates], "failed": failed}
        print(json.dumps(report, separators=(",", ":")))  # compact: the C encoder, fast
    elif args.format == "markdown":
        held = [f"gate held: {g.text}" for g in gates if not any(g.text in f for f in failed)]
        sys.stdout.write(markdown.render(report, [*failed, *held], note))
    else:
        sys.stdout.write(text.render(report, shown, note))
    if args.html:
        _write_html(report, spans, args.html, note if args.last is not None else None)
    for line in failed:
        print(line, file=sys.stderr)
    return EXIT_GATE if failed else EXIT_OK


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


def _write_html(report: ReportDoc, spans: list[Any], out: str, note: str | None = None) -> None:
    try:
        from fanscope.analysis.report import html  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        raise FanscopeError("the HTML report is not available in this version") from None
    Path(out).write_text(html.render(report, spans, note), encoding="utf-8")


def _diff(args: argparse.Namespace) -> int:
    from fanscope.analysis.diff import compare, slower_than
    from fanscope.analysis.gates import parse_share
    from fanscope.analysis.report.text import seconds

    limit = None
    if args.max_slowdown is not None:
        limit = parse_share(args.max_slowdown, "--max-slowdown")
    base, head = _read([args.base])[0], _read([args.head])[0]
    changes = compare(base, head)
    worse = slower_than(changes, limit) if limit is not None else []
    if args.format == "json":
        rows = [
            {"operation": c.operation, "base": c.base, "head": c.head, "delta": c.delta}
            for c in changes
        ]
        print(json.dumps({"schema": "fanscope.diff/v1", "changes": rows,
                          "slower": [c.operation for c in worse]}, indent=2))  # fmt: skip
    else:
        md = args.format == "markdown"
        if md:
            print("| operation | base p50 | head p50 | change |\n|---|---:|---:|---:|")
        else:
            print(f"{'operation (p50 on the critical path)':<48} {'base':>10} {'head':>10}  change")
        for c in changes:
            change = (
                "new" if c.base == 0 else "gone" if c.head == 0 else f"{(c.ratio - 1) * 100:+.0f}%"
            )
            cells = (c.operation[:48], seconds(c.base), seconds(c.head), change)
            print("| {} | {} | {} | {} |".format(*cells) if md else
                  f"{cells[0]:<48} {cells[1]:>10} {cells[2]:>10}  {cells[3]}")  # fmt: skip
    for c in worse:
        print(
            f"slower: {c.operation} {seconds(c.base)} -> {seconds(c.head)} "
            f"(more than {args.max_slowdown})",
            file=sys.stderr,
        )
    return EXIT_GATE if worse else EXIT_OK


def _convert(args: argparse.Namespace) -> int:
    from fanscope.analysis.convert import to_jaeger, to_otlp_lines
    from fanscope.analysis.readers import read_file

    result = read_file(args.file)
    if args.to == "jaeger":
        body = json.dumps(to_jaeger(result.spans), indent=1) + "\n"
    else:
        body = "\n".join(to_otlp_lines(result.spans)) + "\n"
    if args.output:
        Path(args.output).write_text(body, encoding="utf-8")
    else:
        sys.stdout.write(body)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # -h, or arguments argparse rejected (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_INPUT
    try:
        if args.command == "analyze":
            return _analyze(args)
        if args.command == "diff":
            return _diff(args)
        return _convert(args)
    except ConfigurationError as exc:
        return _fail(str(exc))
    except FanscopeError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"{exc.filename or ''}: {exc.strerror or exc}")
    except BrokenPipeError:  # pragma: no cover - `fanscope analyze ... | head`
        return EXIT_OK


def run() -> None:
    """The console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()

"""Where a span was called from, in the terms of the function its parent span belongs to.

Steps, branches, fan-outs and GenAI calls carry OpenTelemetry's ``code.*`` attributes
(``code.function.name``, ``code.file.path``, ``code.line.number``, ``code.column.number``) for
the call that led to them. "Where" is the line in the function whose span is the new span's
parent, not the line that made the call: an agent that wraps the client in a helper
(``def llm_call(prompt): return client.messages.create(...)``) and calls it from everywhere
gets, on each GenAI span, the line in ``process()`` that called ``llm_call(...)``, which says
what fed that call. The analyzer reads the source there (``docs/dataflow.md``).

How it is found, cheaply:

* a fanscope span that runs a user function (a ``@traced`` step, a branch) is marked with that
  function's code object (:func:`enter`); a span started under it walks up from its caller to
  the frame running that code (usually one or two frames: a frame lookup, never a full stack
  walk) and takes the position of the instruction that frame is executing;
* when frames of user code lie between that function and the call (a helper, a lambda, a
  method, another decorator), one execution of the calling line may make several spans, so
  the span also gets ``fanscope.callsite.execution``: which execution of that line it came
  from (spans of one execution share the number);
* work handed to a ``concurrent.futures.ThreadPoolExecutor`` (also what ``asyncio.to_thread``
  and ``run_in_executor`` use) runs where the submitting function is not on the stack: the
  line is taken when the work is submitted (:func:`install_thread_hook`), each submission an
  execution of its own;
* a ``threading.Thread`` or an asyncio task made by user code in that function names the
  line that made it (:func:`started_here`, the hooks on ``asyncio.create_task``, ``gather``,
  ``ensure_future`` and ``TaskGroup.create_task``), marked ``fanscope.callsite.started``: the
  call ran concurrently with what follows that line, which the analyzer must know to judge it;
* otherwise (the parent is a span of another instrumentation or none, work started in a
  thread or task made elsewhere) the span gets the nearest calling line outside
  fanscope and the libraries, marked ``fanscope.callsite.nearest``: good for naming the call in
  a report, not for reading data flow from it.

File paths are relative to the project (the working directory when first needed), or to the
``sys.path`` entry that holds them, as POSIX paths; columns are 1-based (UTF-8 bytes, as
Python's ``ast`` counts them, plus one).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import sysconfig
import threading
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span

from fanscope.sdk import attributes as A

#: Frames walked from a call up to its parent's function before giving up.
MAX_DEPTH = 64

_OWN = os.path.dirname(os.path.abspath(__file__)).rsplit(os.sep, 1)[0] + os.sep  # fanscope/
_CODE = "_fanscope_code"  # on a span object: the code object of the function it runs
_RUNS = "_fanscope_runs"  # on a span object: executions of its indirect call sites
_local = threading.local()  # .site: (parent span, attributes) handed to a pool thread
_handed: contextvars.ContextVar[tuple[Span, dict[str, Any]] | None] = contextvars.ContextVar(
    "fanscope_callsite", default=None
)


def code_of(fn: Any) -> CodeType | None:
    """The code object a call of ``fn`` runs (through ``functools.wraps`` and partials)."""
    seen = 0
    while seen < 32:
        seen += 1
        code = getattr(fn, "__code__", None)
        if isinstance(code, CodeType):
            inner = getattr(fn, "__wrapped__", None)
            if inner is None:
                return code
            fn = inner
            continue
        for name in ("__wrapped__", "func", "__func__"):  # wraps, partial, bound method
            inner = getattr(fn, name, None)
            if inner is not None:
                fn = inner
                break
        else:
            method = vars(type(fn)).get("__call__")  # a callable object: its __call__ runs
            code = getattr(method, "__code__", None)
            return code if isinstance(code, CodeType) else None
    return None


def enter(span: Span, code: CodeType | None) -> None:
    """Mark ``span`` as the span of a function running ``code``: spans started under it are
    placed in that function."""
    if code is not None:
        # a span type with slots cannot be marked: its children get the nearest line
        try:  # noqa: SIM105 (runs for every branch: try costs a fifth of contextlib.suppress)
            setattr(span, _CODE, code)
        except AttributeError:
            pass


def leave(span: Span) -> None:
    """Forget the frames ``span`` kept to number executions (call when it ends)."""
    fields = getattr(span, "__dict__", None)
    if fields is not None:
        fields.pop(_RUNS, None)


def here(parent: Span | None = None) -> dict[str, Any]:
    """The ``code.*`` attributes for a span about to start under ``parent``.

    Called by fanscope code on the caller's thread; ``parent`` defaults to the current span.
    Returns ``{}`` when no frame outside fanscope called.
    """
    if parent is None:
        parent = trace.get_current_span()
    handed = _handed.get()
    if handed is not None and handed[0] is parent:
        return dict(handed[1])  # taken by the sync call that runs this on its own loop
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_OWN):
        frame = frame.f_back
    if frame is None:
        return {}
    code = getattr(parent, _CODE, None)
    if code is not None:
        found = _locate(frame, code)
        if found is not None:
            function, owner, below = found
            attrs = describe(owner, function)
            if below is not None and attrs:
                attrs[A.CALLSITE_EXECUTION] = _number(parent, owner, below)
            return attrs
        handed = getattr(_local, "site", None)
        if handed is not None and handed[0] is parent:
            return dict(handed[1])
        started = _task_site.get()
        if started is not None and started[0] is parent:
            return dict(started[1])
    return _nearest(frame)


_COMPREHENSIONS = frozenset({"<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>"})


def _locate(
    frame: FrameType, code: CodeType
) -> tuple[FrameType, FrameType, FrameType | None] | None:
    """The frame running ``code`` at or above ``frame``; the frame whose position is the call
    (that one, or a comprehension of it: before Python 3.12 comprehensions run in frames of
    their own); and the frame just below that (``None``: the call made the span itself)."""
    path: list[FrameType] = []
    current: FrameType | None = frame
    for _ in range(MAX_DEPTH):
        if current is None:
            return None
        if current.f_code is code:
            break
        path.append(current)
        current = current.f_back
    else:
        return None
    function = owner = current
    while (
        path
        and path[-1].f_code.co_name in _COMPREHENSIONS
        and path[-1].f_code in owner.f_code.co_consts
    ):
        owner = path.pop()
    return function, owner, (path[-1] if path else None)


class _Runs:
    """Numbers executions of call sites: the same frame below a site is the same execution.

    The latest frame below each site is kept (so its id cannot be reused by a later frame
    while it is compared); :func:`leave` lets them go.
    """

    __slots__ = ("count", "latest")

    def __init__(self) -> None:
        self.count = 0
        self.latest: dict[int, tuple[object, int]] = {}

    def number(self, site: int, below: object) -> int:
        seen = self.latest.get(site)
        if seen is not None and seen[0] is below:
            return seen[1]
        number = self.count
        self.count += 1
        self.latest[site] = (below, number)
        return number


_runs_lock = threading.Lock()


def _number(parent: Span, owner: FrameType, below: object) -> int:
    with _runs_lock:  # one parent's function runs on one thread, but be safe
        runs = getattr(parent, _RUNS, None)
        if runs is None:
            runs = _Runs()
            with contextlib.suppress(AttributeError):
                setattr(parent, _RUNS, runs)
        return runs.number(owner.f_lasti, below)


# -- describing a frame ----------------------------------------------------------------------

_infos: dict[int, tuple[CodeType, str, str, list[Any]]] = {}


def describe(frame: FrameType, function: FrameType | None = None) -> dict[str, Any]:
    """``code.*`` attributes of the instruction ``frame`` is executing, named after
    ``function``'s frame (by default the same; a comprehension's is its function's)."""
    code = frame.f_code
    info = _infos.get(id(code))
    if info is None or info[0] is not code:
        if len(_infos) > 4096:
            _infos.clear()
        named = function.f_code if function is not None else code
        module = frame.f_globals.get("__name__")
        qualname = getattr(named, "co_qualname", named.co_name)
        name = f"{module}.{qualname}" if isinstance(module, str) else qualname
        info = (code, name, relative_path(code.co_filename), list(code.co_positions()))
        _infos[id(code)] = info
    attrs: dict[str, Any] = {A.CODE_FUNCTION: info[1], A.CODE_FILE: info[2]}
    index = frame.f_lasti // 2
    positions = info[3]
    line, column = None, None
    if 0 <= index < len(positions):
        line, _, column, _ = positions[index]
    line = line if line is not None else frame.f_lineno
    if line is not None:
        attrs[A.CODE_LINE] = line
    if column is not None:
        attrs[A.CODE_COLUMN] = column + 1
    return attrs


def _nearest(frame: FrameType | None) -> dict[str, Any]:
    for _ in range(MAX_DEPTH):
        if frame is None:
            return {}
        if not _is_library(frame.f_code.co_filename):
            attrs = describe(frame)
            attrs[A.CALLSITE_NEAREST] = True
            return attrs
        frame = frame.f_back
    return {}


# -- paths -----------------------------------------------------------------------------------

_paths: dict[str, str] = {}
_library: dict[str, bool] = {}
_roots: list[str] = []


def _library_dirs() -> list[str]:
    names = ("stdlib", "platstdlib", "purelib", "platlib")
    dirs = {os.path.abspath(p) for p in (sysconfig.get_paths().get(n) for n in names) if p}
    return sorted((d.rstrip(os.sep) + os.sep for d in dirs), key=len, reverse=True)


def _is_library(filename: str) -> bool:
    known = _library.get(filename)
    if known is None:
        if filename.startswith("<") or filename.startswith(_OWN):
            known = True
        else:
            full = os.path.abspath(filename)
            known = any(full.startswith(d) for d in _library_dirs_cached())
        if len(_library) > 4096:
            _library.clear()
        _library[filename] = known
    return known


_libs: list[str] = []


def _library_dirs_cached() -> list[str]:
    if not _libs:
        _libs.extend(_library_dirs())
    return _libs


def project_root() -> str:
    """The directory paths are made relative to (the working directory when first asked)."""
    if not _roots:
        _roots.append(os.path.abspath(os.getcwd()).rstrip(os.sep) + os.sep)
    return _roots[0]


def relative_path(filename: str) -> str:
    """``filename`` as the analyzer looks it up: relative to the project, or to the
    ``sys.path`` entry (site-packages, say) that holds it; absolute when neither does."""
    known = _paths.get(filename)
    if known is not None:
        return known
    full = os.path.abspath(filename) if not filename.startswith("<") else filename
    result = full
    bases = [d for d in _library_dirs_cached() if full.startswith(d)]
    if not bases and full.startswith(project_root()):
        bases = [project_root()]
    if not bases:
        entries = (os.path.abspath(p).rstrip(os.sep) + os.sep for p in sys.path if p)
        bases = sorted((e for e in entries if full.startswith(e)), key=len, reverse=True)
    if bases:
        result = full[len(bases[0]) :]
    result = result.replace(os.sep, "/")
    if len(_paths) > 4096:
        _paths.clear()
    _paths[filename] = result
    return result


# -- work run on a private event loop ---------------------------------------------------------


def hand_over() -> contextvars.Token[tuple[Span, dict[str, Any]] | None]:
    """Take the caller's line now, for work that a sync fanscope call runs on a private event
    loop (maybe on another thread): spans it starts under the same parent name this line.
    Call from the fanscope function the user called; undo with :func:`take_back`."""
    parent = trace.get_current_span()
    site = here(parent) if parent.is_recording() else {}
    return _handed.set((parent, site) if site else None)


def take_back(token: contextvars.Token[tuple[Span, dict[str, Any]] | None]) -> None:
    _handed.reset(token)


# -- thread pools ----------------------------------------------------------------------------

_installed: list[bool] = []


def _submit(
    wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``ThreadPoolExecutor.submit``: hand the submitting line to the pool thread."""
    try:
        site = _site_for_pool(sys._getframe(1))
    except Exception:  # never break a submit
        site = None
    if site is None or not args:
        return wrapped(*args, **kwargs)
    fn = args[0]

    def run(*a: Any, **k: Any) -> Any:
        previous = getattr(_local, "site", None)
        _local.site = site
        try:
            return fn(*a, **k)
        finally:
            _local.site = previous

    return wrapped(run, *args[1:], **kwargs)


def _site_for_pool(caller: FrameType | None) -> tuple[Span, dict[str, Any]] | None:
    if caller is None or caller.f_code.co_filename.startswith(_OWN):
        return None  # fanscope's own pools place their branches themselves
    parent = trace.get_current_span()
    code = getattr(parent, _CODE, None)
    if code is None or not parent.is_recording():
        return None
    found = _locate(caller, code)
    if found is None:
        handed = getattr(_local, "site", None)  # a pool task submitting more work
        if handed is None:
            handed = _task_site.get()  # an asyncio task made in the function (to_thread)
        return handed if handed is not None and handed[0] is parent else None
    function, owner, below = found
    attrs = describe(owner, function)
    # each submission is an execution of its own unless one call (Executor.map, a helper)
    # submitted several: then the frame below the site is the same
    attrs[A.CALLSITE_EXECUTION] = _number(parent, owner, below if below is not None else object())
    return parent, attrs


def started_here() -> tuple[Span, dict[str, Any]] | None:
    """The line of user code making a thread now, in the current span's function, marked
    ``fanscope.callsite.started`` (each thread an execution of its own); ``None`` when a
    library made it (a pool's worker) or no fanscope span is current. Call from the hook on
    ``Thread.__init__``; hand the result to the thread with :func:`run_started`."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and (
        frame.f_code.co_filename.startswith(_OWN) or _WRAPT in frame.f_code.co_filename
    ):
        frame = frame.f_back
    if frame is None or _is_library(frame.f_code.co_filename):
        return None
    site = _site_for_pool(frame)
    if site is None:
        return None
    return site[0], {**site[1], A.CALLSITE_STARTED: True}


_WRAPT = f"{os.sep}wrapt{os.sep}"
_ASYNCIO = os.path.join(os.path.dirname(os.path.abspath(os.__file__)), "asyncio") + os.sep
_task_site: contextvars.ContextVar[tuple[Span, dict[str, Any]] | None] = contextvars.ContextVar(
    "fanscope_task_site", default=None
)


def _create_task(
    wrapped: Callable[..., Any], loop: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``asyncio.create_task``, ``ensure_future``, ``gather`` and ``TaskGroup.create_task``:
    the tasks they make copy the context, with the line of user code that made them, marked
    ``fanscope.callsite.started``, for the calls they make. (Hooked there, not on
    ``loop.create_task``, which fanscope's own fan-outs call for every branch.)"""
    caller = sys._getframe(1)
    try:
        site = _site_for_task(caller)
    except Exception:  # never break a task
        site = None
    if site is None:
        return wrapped(*args, **kwargs)
    token = _task_site.set(site)
    try:
        return wrapped(*args, **kwargs)
    finally:
        _task_site.reset(token)


def _site_for_task(frame: FrameType | None) -> tuple[Span, dict[str, Any]] | None:
    while frame is not None and (
        frame.f_code.co_filename.startswith(_ASYNCIO) or _WRAPT in frame.f_code.co_filename
    ):
        frame = frame.f_back
    if frame is None or _is_library(frame.f_code.co_filename):
        return None  # fanscope's own tasks place their spans themselves; a library's
    parent = trace.get_current_span()
    code = getattr(parent, _CODE, None)
    if code is None or not parent.is_recording() or _locate(frame, code) is None:
        return None
    site = _site_for_pool(frame)
    return None if site is None else (site[0], {**site[1], A.CALLSITE_STARTED: True})


def run_started(site: tuple[Span, dict[str, Any]], fn: Callable[[], Any]) -> Any:
    """Run a thread's ``run`` with the line that made it (:func:`started_here`) for the spans
    it starts under the same parent."""
    previous = getattr(_local, "site", None)
    _local.site = site
    try:
        return fn()
    finally:
        _local.site = previous


def install_thread_hook() -> None:
    """Patch ``ThreadPoolExecutor.submit`` so pool work knows the line that submitted it.

    Idempotent. Work submitted from fanscope's own code, or outside a fanscope span, passes
    through untouched. Context propagation into the thread (the parent span) is
    OpenTelemetry's threading instrumentation's job; this adds only the line.
    """
    if _installed:
        return
    import wrapt

    wrapt.wrap_function_wrapper("concurrent.futures.thread", "ThreadPoolExecutor.submit", _submit)
    for module in ("asyncio", "asyncio.tasks"):
        for name in ("create_task", "ensure_future", "gather"):
            wrapt.wrap_function_wrapper(module, name, _create_task)
    with contextlib.suppress(ImportError, AttributeError):  # Python 3.11 on
        wrapt.wrap_function_wrapper("asyncio.taskgroups", "TaskGroup.create_task", _create_task)
    _installed.append(True)

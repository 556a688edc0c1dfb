"""A notebook's cells, run by IPython itself as a Jupyter kernel runs them: inside a running
event loop (``run_cell_async`` awaited on the loop), with top-level ``await`` and sync calls."""

from __future__ import annotations

from typing import Any

import pytest

IPython = pytest.importorskip("IPython")

SETUP = """
import asyncio, fanscope
from fanscope import parallel, vote

@parallel(max_concurrency=2)
async def fetch(q: str) -> str:
    await asyncio.sleep(0.001)
    return q.upper()

@parallel(max_concurrency=2)
def lookup(q: str) -> int:
    return len(q)

@vote(n=3)
def judge(q: str) -> bool:
    return True
"""

CELLS = [
    ("await fetch('a')", "A"),
    ("await fetch.map(['a', 'b'])", ["A", "B"]),
    ("list(await fanscope.gather(fetch('x'), y=lookup.aio('yy')))", ["X", 2]),
    ("lookup.map(['a', 'bb'])", [1, 2]),  # sync, while IPython's loop runs the cell
    ("lookup('abc')", 3),
    ("list(fanscope.gather(a=lambda: 1, b=lambda: 2))", [1, 2]),
    ("judge('q')", True),
    ("await lookup.aio.map(['a'])", [1]),
]


async def test_every_api_works_in_notebook_cells_with_top_level_await() -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell(config=config)

    async def run(cell: str) -> Any:  # as ipykernel does: transform, then run on the loop
        return await shell.run_cell_async(cell, transformed_cell=shell.transform_cell(cell))

    assert (await run(SETUP)).success
    for cell, expected in CELLS:
        result = await run(cell)
        assert result.success, (cell, result.error_in_exec)
        assert result.result == expected, cell
    # asyncio.run in a cell fails as it does in Jupyter: the docs say to await instead
    failed = await run("import asyncio; asyncio.run(fetch('z'))")
    assert isinstance(failed.error_in_exec, RuntimeError)
    assert "running event loop" in str(failed.error_in_exec)

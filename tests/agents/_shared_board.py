"""State shared by the corpus' programs that import it (``p67_imported_board``): a module
of plain objects, as teams keep a blackboard or a cache in a module of their own."""

from __future__ import annotations

BOARD: dict[str, str] = {}
DECISIONS: list[str] = []

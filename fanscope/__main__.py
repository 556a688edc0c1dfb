"""`python -m fanscope`: the fanscope command."""

from fanscope.cli import run

run()

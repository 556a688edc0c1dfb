"""Reproductions of faults, load and hostile input: each one a test that failed before its fix.

Tests here run in the ordinary suite (``make test``, and so in CI); they are not marked
``integration``. Each test gets a hard time limit (see ``conftest.py``): a reproduction of a
hang must fail, not stop the run.
"""

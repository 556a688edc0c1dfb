"""The HTML report's page: its skeleton, style and script, and the policy that lets only them run.

The page is three files beside this module, in ``page/``: ``report.html`` (the skeleton, with
the Content-Security-Policy), ``report.css`` (its one ``<style>``) and ``report.js`` (its one
``<script>``, which builds the waterfall from the data with ``textContent`` and
``setAttribute`` only). They are read once, on the first report, and put together here.
:func:`page` is the whole page with ``__DATA__`` where :mod:`fanscope.analysis.report.html`
puts the escaped JSON.

The page is a static file: no server to hand out a fresh nonce, so its one script and one style
are allowed by their SHA-256 hashes, and nothing else runs or applies, whatever a span name
holds (the data element is JSON, which a browser never runs).
"""

from __future__ import annotations

import base64
import functools
import hashlib
from importlib import resources


def _asset(name: str) -> str:
    return (resources.files(__package__ or __name__) / "page" / name).read_text("utf-8")


def csp_source(text: str) -> str:
    """The CSP source that allows an inline ``<script>`` or ``<style>`` holding ``text``."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


@functools.cache
def page() -> str:
    """The page, its script and style in line and allowed by their hashes; data: ``__DATA__``."""
    style = "\n" + _asset("report.css")  # the element's text, from the newline after <style>
    script = "\n" + _asset("report.js")
    return (
        _asset("report.html")
        .replace("__SCRIPT_HASH__", csp_source(script))
        .replace("__STYLE_HASH__", csp_source(style))
        .replace("\n__STYLE__", style)
        .replace("\n__SCRIPT__", script)
    )

"""Headless Chromium driven over the DevTools protocol, for the HTML report's browser tests.

Chromium comes from Debian's ``chromium`` package. The browser is started with
``--remote-debugging-port=0`` in a fresh profile; its port is read from the profile's
``DevToolsActivePort`` file and each page is a target attached over one websocket (flat
sessions). What the page does is collected as protocol events: uncaught exceptions, console
errors and warnings, log entries, and every network request it makes.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import time
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
]  # fmt: skip

REQUIRED = "FANSCOPE_REQUIRE_BROWSER"


def find_chromium() -> str | None:
    """The Chromium binary, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_or_skip() -> str:
    """The Chromium binary, for a test module's top: when it is missing the module skips, or
    fails when ``FANSCOPE_REQUIRE_BROWSER=1`` (``.ci/run`` installs it and sets that)."""
    import pytest

    found = find_chromium()
    if found is not None:
        return found
    if os.environ.get(REQUIRED) == "1":
        pytest.fail(
            f"chromium is not installed and {REQUIRED}=1: run 'apt-get install -y chromium'",
            pytrace=False,
        )
    pytest.skip("chromium is not installed (apt-get install -y chromium)", allow_module_level=True)


class ProtocolError(RuntimeError):
    pass


class Page:
    """One browser tab: navigate, evaluate, click, screenshot; its events since it opened."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        return self.browser.call(method, session=self.session, **params)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for e in self.browser.events if e.get("sessionId") == self.session]

    def open(self, url: str, timeout: float = 60.0) -> None:
        """Navigate to ``url`` and wait for its load event."""
        self.browser.events.clear()
        self.call("Page.navigate", url=url)
        self.browser.wait_for("Page.loadEventFired", self.session, timeout)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        answer = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in answer:
            raise ProtocolError(f"{expression!r} threw: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click (pressed and released) in the middle of the first match.

        The element is scrolled into view first, and the click waits (a few animation frames
        at a time) until the point it aims at is really that element's: a page that is still
        laying out, or that redraws rows as it scrolls, would otherwise take the click
        somewhere else, and nothing would say so. A busy machine only makes it wait longer.
        """
        aim = (
            "(async () => {"
            f" const find = () => document.querySelector({json.dumps(selector)});"
            " const frame = () => new Promise(r => requestAnimationFrame(() => r()));"
            " const first = find(); if (!first) return null;"
            " first.scrollIntoView({block: 'center', inline: 'nearest'});"
            " await frame(); await frame();"
            " const el = find(); if (!el) return null;"
            " const r = el.getBoundingClientRect();"
            " const x = r.x + r.width / 2, y = r.y + r.height / 2;"
            " const hit = document.elementFromPoint(x, y);"
            " return [x, y, hit !== null && (hit === el || el.contains(hit))];"
            " })()"
        )
        for _ in range(200):
            found = self.evaluate(aim)
            if found is None:
                raise ProtocolError(f"nothing in the page matches {selector!r}")
            x, y, on_target = found
            if on_target:
                break
        else:
            raise ProtocolError(f"{selector!r} never came under the mouse to be clicked")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def screenshot(self, path: Path, width: int = 1400, height: int = 1000) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def problems(self) -> list[str]:
        """Uncaught exceptions, console errors/warnings/asserts and error log entries."""
        found = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details.get("text")
                found.append(f"uncaught: {text}")
            elif method == "Runtime.consoleAPICalled" and params["type"] in (
                "error",
                "warning",
                "assert",
            ):
                args = " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
                found.append(f"console.{params['type']}: {args}")
            elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
                found.append(f"log {params['entry']['level']}: {params['entry']['text']}")
        return found

    def requests(self) -> list[str]:
        """The URL of every request the page made (the page itself included)."""
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e["method"] == "Network.requestWillBeSent"
        ]


class Browser:
    """A headless Chromium process and the websocket to its DevTools endpoint."""

    def __init__(self, binary: str, profile: Path) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (active.exists() and len(active.read_text().splitlines()) >= 2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise ProtocolError(f"{binary} did not open its DevTools port")
            time.sleep(0.05)
        port, path = active.read_text().splitlines()[:2]
        self._closing = ExitStack()
        self.ws: ClientConnection = self._closing.enter_context(
            connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=30, proxy=None)
        )

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            answer = self._receive(60.0)
            if answer.get("id") == ident:
                if "error" in answer:
                    raise ProtocolError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer["result"]
                return result

    def _receive(self, timeout: float) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.ws.recv(timeout=timeout))
        if "method" in message:
            self.events.append(message)
        return message

    def wait_for(self, method: str, session: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(e["method"] == method and e.get("sessionId") == session for e in self.events):
            self._receive(max(0.01, deadline - time.monotonic()))

    def new_page(self) -> Page:
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.call(f"{domain}.enable")
        return page

    def close(self) -> None:
        with suppress(ProtocolError, ConnectionClosed, TimeoutError):  # it may drop as it exits
            self.call("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._closing.close()


def artifacts_dir(fallback: Path) -> Path:
    """Where screenshots go: ``$FANSCOPE_ARTIFACTS`` (CI keeps it), else ``fallback``."""
    where = Path(os.environ.get("FANSCOPE_ARTIFACTS") or fallback)
    where.mkdir(parents=True, exist_ok=True)
    return where

"""A headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``): enough to
open a page, run JavaScript in it and read what it shows, with nothing but the standard library."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from typing import Any

BINARY = shutil.which("chromium") or shutil.which("chromium-browser")


def _above_nine(fd: int) -> int:
    import fcntl

    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


class Chromium:
    def __init__(self, width: int = 2400, height: int = 1400):
        assert BINARY, "no chromium on PATH"
        self._profile = tempfile.mkdtemp(prefix="memtech-chromium-")  # a fresh profile: no remembered UI state
        commands_r, commands_w = os.pipe()
        replies_r, replies_w = os.pipe()
        # the child's ends above 9, so that moving them to 3 and 4 cannot overwrite one with the other
        commands_r, replies_w = (_above_nine(fd) for fd in (commands_r, replies_w))
        command = [BINARY, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                   f"--window-size={width},{height}", f"--user-data-dir={self._profile}", "about:blank"]
        # Chromium reads commands on fd 3 and writes replies on fd 4: bash puts the pipe's ends there (dash
        # takes single-digit fds only)
        self.process = subprocess.Popen(["/bin/bash", "-c", f'exec "$@" 3<&{commands_r} 4>&{replies_w}', "sh", *command],
                                        pass_fds=(commands_r, replies_w), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        os.close(commands_r)
        os.close(replies_w)
        self._to = os.fdopen(commands_w, "wb", buffering=0)
        self._from = os.fdopen(replies_r, "rb", buffering=0)
        self._buffer = b""
        self._last_id = 0
        self._session: str | None = None

    def _call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._to.write(json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = self._from.read(1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed its DevTools pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._last_id:  # events in between are not needed here
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def open(self, url: str) -> None:
        target = self._call("Target.createTarget", {"url": url})["targetId"]
        self._session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def evaluate(self, expression: str) -> Any:
        result = self._call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                 "awaitPromise": True}, self._session)
        return result.get("result", {}).get("value")

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def wait_for_text(self, *fragments: str, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            shown = self.text()
            if all(f in shown for f in fragments):
                return shown
            if time.monotonic() > deadline:
                missing = [f for f in fragments if f not in shown]
                raise AssertionError(f"the page never showed {missing}; it shows:\n{shown[:3000]}")
            time.sleep(0.3)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

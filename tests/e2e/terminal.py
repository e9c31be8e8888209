"""A full-screen terminal program driven the way a person drives it: in a detached tmux
session on a private socket, read back with `capture-pane`, typed into with `send-keys`."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

EXIT_MARK = "TERMINAL-PROGRAM-EXITED:"


class Terminal:
    def __init__(self, command: list[str], cwd: Path, env: dict[str, str],
                 width: int = 120, height: int = 40) -> None:
        self.socket = f"antiphon-test-{uuid.uuid4().hex[:8]}"
        self.session = "main"
        environment = [f"{name}={value}" for name, value in env.items()]
        # The shell reports the program's exit status, then keeps the pane open to read it.
        script = (f"env -i {shlex.join(environment)} {shlex.join(command)}; "
                  f"echo {EXIT_MARK}$?; sleep 3600")
        self._tmux("new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height),
                   "-c", str(cwd), script)

    @staticmethod
    def available() -> bool:
        return shutil.which("tmux") is not None

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                              timeout=30, check=True)
        return done.stdout

    def screen(self) -> str:
        """What the terminal shows now, with the lines scrolled off kept."""
        return self._tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", self.session)

    def wait_for(self, seen: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if seen(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} after {timeout:.0f}s; the screen:\n{screen}")
            time.sleep(0.5)

    def press(self, *keys: str) -> None:
        for key in keys:
            self._tmux("send-keys", "-t", self.session, key)
            time.sleep(0.3)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", self.session, "-l", text)
        time.sleep(0.3)

    def exit_status(self) -> int | None:
        for line in self.screen().splitlines():
            if line.startswith(EXIT_MARK):
                return int(line.removeprefix(EXIT_MARK).strip())
        return None

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)

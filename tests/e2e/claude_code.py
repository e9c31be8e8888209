"""Claude Code for the end-to-end tests: a pinned release from npm, kept in a cache outside the
repository, and the settings that let it run against antiphon's small embedded model.

`@anthropic-ai/claude-code` is a thin npm package whose executable comes from an optional
per-platform package (`@anthropic-ai/claude-code-linux-x64`, `…-darwin-arm64`, …) holding a
self-contained native binary; a postinstall script copies it over the `bin/claude.exe`
placeholder. The binary needs neither Node.js nor the network to run. When install scripts
are off (`--ignore-scripts`, a future npm that gates them) the placeholder stays a stub that
only prints an error, so the platform package's binary is used directly; releases that still
ship `cli.js` run through `node_modules/.bin/claude`.

The cache is `$ANTIPHON_TEST_CACHE`, else `$XDG_CACHE_HOME/antiphon-tests`, else
`~/.cache/antiphon-tests`; the release goes to `<cache>/claude-code/<version>`.
`ANTIPHON_CLAUDE_CODE=/path/to/claude` uses an executable already at hand instead.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# Pinned: the request shapes in tests/fixtures/claude_code/ were captured from this release.
CLAUDE_CODE_VERSION = "2.1.330"
PACKAGE = "@anthropic-ai/claude-code"
NPM_TIMEOUT = 600.0

# Everything that keeps a print-mode run small, quiet and offline, for the forced tool loop of
# test_claude_code_tool_loop.py (test_claude_code.py runs Claude Code with none of this).
# Measured on 2.1.330 (see tests/fixtures/claude_code/README.md): the default first request is
# ~49 KB (~12,000 SmolLM2 tokens: 12 tools, a 7 KB system prompt, a 9 KB environment
# message); with these flags it is ~2 KB (~430 tokens).
SHRINK_FLAGS = [
    "--bare",  # no hooks/CLAUDE.md/plugins; short tool descriptions; no environment message
    "--tools", "Read",  # the only built-in tool offered
    "--allowedTools", "Read",  # allowed without a prompt (print mode allows Read anyway)
    "--strict-mcp-config",  # no MCP servers from any config
    "--setting-sources", "",  # no user/project/local settings files
    "--no-session-persistence",  # no transcript written under $HOME
    "--effort", "low",  # output_config.effort: "low" instead of "high"
]

# Environment for a hermetic, offline run (the variables Claude Code 2.1.330 reads).
QUIET_ENV = {
    # no calls to api.anthropic.com (feature flags, event logging), no error reports/updates
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_AUTOUPDATER": "1",
    # no `thinking`/`context_management` (as --settings '{"alwaysThinkingEnabled":false}')
    "CLAUDE_CODE_DISABLE_THINKING": "1",
    # no "x-anthropic-billing-header: …" text block at the head of `system`
    "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
    "CLAUDE_CODE_MAX_RETRIES": "1",
    "API_TIMEOUT_MS": "120000",
    "NO_COLOR": "1",
    "TERM": "dumb",
}


def cache_root() -> Path:
    if os.environ.get("ANTIPHON_TEST_CACHE"):
        return Path(os.environ["ANTIPHON_TEST_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "antiphon-tests"


def install_dir(version: str = CLAUDE_CODE_VERSION) -> Path:
    return cache_root() / "claude-code" / version


def reports_version(executable: Path, version: str) -> bool:
    """`claude --version` prints e.g. `2.1.330 (Claude Code)`; a stub or a wrong build does not."""
    try:
        done = subprocess.run([str(executable), "--version"], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip().startswith(version)


def candidates(prefix: Path) -> Iterator[Path]:
    """Executables an npm install under `prefix` may hold, the most direct first."""
    scope = prefix / "node_modules" / "@anthropic-ai"
    for package in sorted(scope.glob("claude-code-*")):  # the per-platform native packages
        for name in ("claude", "claude.exe"):
            yield package / name
    yield scope / "claude-code" / "bin" / "claude.exe"  # the postinstall's copy
    bin_dir = prefix / "node_modules" / ".bin"  # cli.js releases, through node
    yield bin_dir / ("claude.cmd" if sys.platform == "win32" else "claude")


def locate(version: str = CLAUDE_CODE_VERSION) -> Path | None:
    for path in candidates(install_dir(version)):
        if path.is_file() and reports_version(path, version):
            return path
    return None


@contextmanager
def install_lock(directory: Path) -> Iterator[None]:
    """One npm install at a time per cache (parallel test processes share it)."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no lock, npm copes with the rare overlap
        yield
        return
    with (directory / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_claude_code(version: str = CLAUDE_CODE_VERSION) -> Path | str:
    """The path of a working `claude` of the pinned version, installing it from npm into the
    cache when missing; or, when that cannot be done, a string saying why."""
    override = os.environ.get("ANTIPHON_CLAUDE_CODE")
    if override:
        path = Path(override).expanduser()
        if path.is_file() and reports_version(path, ""):
            return path
        return f"ANTIPHON_CLAUDE_CODE={override} is not a working claude executable"
    found = locate(version)
    if found:
        return found
    npm = shutil.which("npm")
    if npm is None:
        return f"npm is not on PATH, so {PACKAGE}@{version} cannot be installed"
    prefix = install_dir(version)
    with install_lock(prefix.parent):
        found = locate(version)  # another process may have installed it meanwhile
        if found:
            return found
        prefix.mkdir(parents=True, exist_ok=True)
        command = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                   "--no-save", "--loglevel", "error", f"{PACKAGE}@{version}"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=NPM_TIMEOUT,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return f"`npm install {PACKAGE}@{version}` took over {NPM_TIMEOUT:.0f}s"
        except OSError as error:
            return f"`npm install {PACKAGE}@{version}` could not run: {error}"
        if done.returncode != 0:
            lines = [line.strip() for line in (done.stderr or done.stdout).splitlines()]
            lines = [line for line in lines if line and "complete log of this run" not in line]
            gist = [line for line in lines if " code " in line or "errno" in line or "404" in line]
            detail = " | ".join((gist or lines)[:4]) or "no output"
            return f"`npm install {PACKAGE}@{version}` failed (exit {done.returncode}): {detail}"
        found = locate(version)
    if found:
        return found
    return (f"{PACKAGE}@{version} installed into {prefix}, but no executable there runs "
            f"(no native package for {sys.platform}-{platform.machine()}?)")


def claude_env(base_url: str, api_key: str, home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: nothing of the caller's Anthropic/Claude/proxy settings, a private
    HOME (Claude Code writes ~/.claude.json and ~/.claude/), the API pointed at `base_url`."""
    home.mkdir(parents=True, exist_ok=True)
    kept = ("PATH", "SYSTEMROOT", "TMPDIR", "TEMP", "TMP", "LANG")
    env = {name: os.environ[name] for name in kept if name in os.environ}
    env.update({
        "HOME": str(home),
        "USERPROFILE": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": api_key,
        "NO_PROXY": "127.0.0.1,localhost",
        **QUIET_ENV,
        **extra,
    })
    return env


@dataclass
class Transcript:
    """What `claude -p … --output-format stream-json --verbose` printed: one JSON object a
    line — `system` (init), `assistant` and `user` messages as sent and received, and last
    the `result` (the object `--output-format json` prints alone)."""

    returncode: int
    stdout: str
    stderr: str
    events: list[dict] = field(default_factory=list)
    server_log: Path | None = None  # shown in `summary()` when set

    @classmethod
    def parse(cls, returncode: int, stdout: str, stderr: str) -> Transcript:
        events = []
        for line in stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        return cls(returncode, stdout, stderr, events)

    @property
    def result(self) -> dict | None:
        return next((e for e in reversed(self.events) if e.get("type") == "result"), None)

    def blocks(self, role: str) -> list[dict]:
        out: list[dict] = []
        for event in self.events:
            message = event.get("message")
            if event.get("type") == role and isinstance(message, dict):
                content = message.get("content")
                if isinstance(content, list):
                    out.extend(b for b in content if isinstance(b, dict))
        return out

    @property
    def tool_uses(self) -> list[dict]:
        return [b for b in self.blocks("assistant") if b.get("type") == "tool_use"]

    @property
    def tool_results(self) -> list[dict]:
        return [b for b in self.blocks("user") if b.get("type") == "tool_result"]

    def tool_result_text(self, block: dict) -> str:
        content = block.get("content")
        if isinstance(content, list):
            return "".join(part.get("text", "") for part in content if isinstance(part, dict))
        return content if isinstance(content, str) else ""

    def summary(self, limit: int = 4000) -> str:
        """For assertion messages: the turns in brief, then stderr."""
        lines = [f"exit {self.returncode}"]
        for event in self.events:
            kind = event.get("type")
            if kind in ("assistant", "user"):
                lines.append(f"{kind}: {json.dumps(event['message'].get('content'))[:600]}")
            elif kind == "result":
                keep = ("subtype", "is_error", "num_turns", "terminal_reason", "result")
                lines.append(f"result: {json.dumps({k: event.get(k) for k in keep})[:800]}")
        if not self.events:
            lines.append(f"stdout: {self.stdout[-1500:]}")
        lines.append(f"stderr: {self.stderr[-1500:]}")
        text = "\n".join(lines)[-limit:]
        if self.server_log is not None and self.server_log.exists():
            tail = self.server_log.read_text()[-2500:]
            text += f"\nserver log ({self.server_log}), last lines:\n{tail}"
        return text


def plain_env(base_url: str, api_key: str, home: Path) -> dict[str, str]:
    """What a person sets to point Claude Code at a server, and nothing else: the base URL and
    key, in a fresh HOME. DISABLE_AUTOUPDATER keeps the pinned release from fetching a newer
    one into that HOME (it changes no request)."""
    home.mkdir(parents=True, exist_ok=True)
    env = {name: os.environ[name] for name in ("PATH", "LANG", "TMPDIR") if name in os.environ}
    env.update({
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": api_key,
        "DISABLE_AUTOUPDATER": "1",
    })
    return env


def print_mode_command(executable: Path, prompt: str, *, model: str, system_prompt: str,
                       max_turns: int) -> list[str]:
    return [str(executable), "-p", prompt, "--output-format", "stream-json", "--verbose",
            "--model", model, "--system-prompt", system_prompt, "--max-turns", str(max_turns),
            *SHRINK_FLAGS]


def run_print_mode(executable: Path, prompt: str, *, cwd: Path, env: dict[str, str], model: str,
                   system_prompt: str, max_turns: int, timeout: float) -> Transcript:
    command = print_mode_command(executable, prompt, model=model, system_prompt=system_prompt,
                                 max_turns=max_turns)
    return run_claude(command, cwd=cwd, env=env, timeout=timeout)


def run_claude(command: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> Transcript:
    """Run a print-mode command to its end (or `timeout`) and parse what it printed."""
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as expired:
        out = expired.stdout.decode() if isinstance(expired.stdout, bytes) else expired.stdout or ""
        err = expired.stderr.decode() if isinstance(expired.stderr, bytes) else expired.stderr or ""
        return Transcript.parse(-1, out, err + f"\n[timed out after {timeout:.0f}s]")
    return Transcript.parse(done.returncode, done.stdout, done.stderr)

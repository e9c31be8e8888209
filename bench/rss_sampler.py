"""Resident memory of the server under test (loadgen's --server-pid), from /proc."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Optional


def parse_proc_status(text: str) -> dict[str, int]:
    """The ``Name: N kB`` lines of /proc/PID/status, in KiB."""
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        parts = value.split()
        if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            fields[name] = int(parts[0])
    return fields


def read_proc_status(pid: int) -> dict[str, int]:
    try:
        return parse_proc_status(Path(f"/proc/{pid}/status").read_text())
    except OSError:  # the process has exited (or never existed): nothing to report
        return {}


def _mib(kib: Optional[int]) -> Optional[float]:
    return None if kib is None else kib / 1024


class RssSampler:
    """Polls one process's VmRSS while the measured run is in flight (that pid only,
    not its children: both servers under test are single processes)."""

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        self.pid, self.interval_s = pid, interval_s
        self.start_kib: Optional[int] = None
        self.peak_kib: Optional[int] = None
        self.hwm_kib: Optional[int] = None
        self._task: Optional[asyncio.Task] = None

    def sample(self) -> None:
        if (rss := read_proc_status(self.pid).get("VmRSS")) is None:
            return
        if self.start_kib is None:
            self.start_kib = rss
        self.peak_kib = max(self.peak_kib or 0, rss)

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.sample()
        # VmHWM is exact where polling can miss a short spike, but covers the process's
        # whole life (model load and warmup included), so both are reported.
        self.hwm_kib = read_proc_status(self.pid).get("VmHWM")

    def fill(self, summary: Any) -> None:
        """Set the summary's rss_start_mib, rss_peak_mib and rss_hwm_mib."""
        summary.rss_start_mib = _mib(self.start_kib)
        summary.rss_peak_mib = _mib(self.peak_kib)
        summary.rss_hwm_mib = _mib(self.hwm_kib)

"""CPU time a server's threads spent while a command ran, by thread name (Linux /proc).

    python bench/thread_cpu.py PID -- python bench/loadgen.py ... --json out.json

Prints one line per thread name (threads of one name summed: llama.cpp's workers share
theirs) with CPU seconds, and, when the command wrote loadgen's --json, microseconds per
output token. Why: on a fast GPU a step's device time is short, and what bounds a Python
server is the CPU its event loop and engine thread spend per token, which wall-clock
throughput alone does not show.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict

TICKS = os.sysconf("SC_CLK_TCK")


def thread_seconds(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of each live thread of `pid`, summed by thread name; the
    main thread (the event loop's) is `main`, whatever the process is called."""
    totals: dict[str, float] = defaultdict(float)
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as handle:
                stat = handle.read()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        name = "main" if tid == str(pid) else stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        totals[name] += (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return totals


def output_tokens(command: list[str]) -> int | None:
    if "--json" not in command:
        return None
    with open(command[command.index("--json") + 1]) as handle:
        summary = json.load(handle)
    tokens = summary.get("output_tokens")
    return int(tokens) if tokens else None


def main(argv: list[str]) -> int:
    pid, command = int(argv[1]), argv[argv.index("--") + 1 :]
    before = thread_seconds(pid)
    status = subprocess.call(command)
    after = thread_seconds(pid)
    tokens = output_tokens(command)
    for name in sorted(after, key=lambda n: before.get(n, 0.0) - after[n]):
        spent = after[name] - before.get(name, 0.0)
        if spent < 0.005:
            continue
        per_token = f" {1e6 * spent / tokens:8.1f} us/token" if tokens else ""
        print(f"THREAD {name:<16} {spent:8.2f} s{per_token}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))

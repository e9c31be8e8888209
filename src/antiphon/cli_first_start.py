"""The keys `antiphon serve` generates on first start, shown exactly once."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

from antiphon.services.bootstrap import Bootstrapped

GENERATED_KEYS_FILE = "first-start-keys.txt"


def show_generated_keys(console: Console, data_dir: Path, started: Bootstrapped) -> None:
    """Keys made on first start are shown once: on the terminal when there is one; else
    (a service's log, a container's output, which others may read) in a file of the data
    directory that only its owner can read."""
    made = [(kind, secret) for kind, secret in (
        ("API", started.generated_api_key), ("admin", started.generated_admin_key),
    ) if secret is not None]
    if not made:
        return
    if console.is_terminal:
        for kind, secret in made:
            console.print(
                f"first start: created this {kind} key; it is shown once and stored only as a "
                f"hash:\n\n    [bold]{secret}[/]\n"
            )
        return
    path = data_dir / GENERATED_KEYS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        os.fchmod(descriptor, 0o600)  # also when the file was there before
        handle.writelines(f"{kind} key: {secret}\n" for kind, secret in made)
    kinds = " and ".join(f"an {kind} key" for kind, _ in made)
    console.print(
        f"first start: created {kinds}, stored only as hashes; this output is not a terminal, "
        f"so they are not shown here but written to {path} (readable only by its owner): "
        "take them from there and delete the file"
    )

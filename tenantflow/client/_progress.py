"""A small progress indicator for the CLI: a spinner on a terminal, status lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

FRAMES = "|/-\\"


class Progress:
    """Show what is being waited for; ``update`` as often as you like, ``done`` at the end."""

    def __init__(self, what: str, stream: TextIO | None = None) -> None:
        self.what = what
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.start = time.monotonic()
        self.frame = 0
        self.last: str | None = None

    def update(self, state: str) -> None:
        """Report the current state (printed on change when not a terminal)."""
        elapsed = time.monotonic() - self.start
        if self.tty:
            spinner = FRAMES[self.frame % len(FRAMES)]
            self.frame += 1
            self.stream.write(f"\r{spinner} {self.what}: {state} ({elapsed:.1f}s)\x1b[K")
            self.stream.flush()
        elif state != self.last:
            self.stream.write(f"{self.what}: {state} ({elapsed:.1f}s)\n")
            self.stream.flush()
        self.last = state

    def done(self, state: str) -> None:
        """Final line."""
        if not self.tty and state == self.last:
            return
        elapsed = time.monotonic() - self.start
        prefix = "\r" if self.tty else ""
        self.stream.write(
            f"{prefix}{self.what}: {state} ({elapsed:.1f}s)\x1b[K\n"
            if self.tty
            else f"{self.what}: {state} ({elapsed:.1f}s)\n"
        )
        self.stream.flush()

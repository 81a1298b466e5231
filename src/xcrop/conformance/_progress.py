"""Progress of the conformance and compare commands, on stderr.

On a terminal with tqdm installed (``pip install "xcrop[conformance]"``; the nox sessions
have it): one live bar over every case of the run, labelled with the current
backend/path and suite, and a summary line per finished suite above it. Otherwise plain
lines: the summary per suite, and a heartbeat line at most every ``HEARTBEAT`` seconds
inside a long suite, so a log never goes quiet for minutes. ``--quiet`` prints nothing.
"""

from __future__ import annotations

import time
from typing import Any, TextIO

__all__ = ["HEARTBEAT", "Progress"]

#: Seconds between two progress lines in plain mode.
HEARTBEAT = 20.0


class Progress:
    def __init__(self, stream: TextIO | None, total: int = 0, unit: str = "case") -> None:
        self.stream = stream
        self.start = time.perf_counter()
        self.total = total
        self.done = 0
        self.label = ""
        self.suite_i = 0
        self.suite_n = 0
        self.last_line = self.start
        self.bar: Any = None
        if stream is not None and total and _isatty(stream):
            try:
                from tqdm import tqdm
            except ImportError:  # plain lines, with a \r counter on a terminal
                self.tty = True
            else:
                self.tty = False
                self.bar = tqdm(total=total, file=stream, unit=unit, dynamic_ncols=True,
                                mininterval=0.3, leave=False)
        else:
            self.tty = False

    # ---- lines ------------------------------------------------------------------
    def line(self, text: str) -> None:
        """A line on its own (above the bar, if there is one)."""
        if self.stream is None:
            return
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            if self.tty:
                text = "\r" + text.ljust(72)
            print(text, file=self.stream, flush=True)
        self.last_line = time.perf_counter()

    # ---- cases ------------------------------------------------------------------
    def begin(self, label: str, n: int) -> None:
        self.label, self.suite_i, self.suite_n = label, 0, n
        if self.bar is not None:
            self.bar.set_description_str(label, refresh=True)

    def tick(self) -> None:
        self.done += 1
        self.suite_i += 1
        if self.stream is None:
            return
        if self.bar is not None:
            self.bar.update(1)
            return
        now = time.perf_counter()
        if self.tty:
            if self.suite_i % 5 == 0 or self.suite_i == self.suite_n:
                print(f"\r{self._where()}", end="", file=self.stream, flush=True)
        elif now - self.last_line >= HEARTBEAT and self.suite_i < self.suite_n:
            self.line(self._where())

    def suite_done(self, results: list[Any], seconds: float) -> None:
        counts: dict[str, int] = {}
        for r in results:
            counts[r.status] = counts.get(r.status, 0) + 1
        summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        self.line(f"{self.label}: {len(results)} cases ({summary}) in {seconds:.1f} s "
                  f"[elapsed {self.elapsed():.0f} s]")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.tty and self.stream is not None:
            print("\r" + " " * 72 + "\r", end="", file=self.stream, flush=True)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def _where(self) -> str:
        overall = f" [{self.done}/{self.total} of the run]" if self.total else ""
        return (f"{self.label}: {self.suite_i}/{self.suite_n}{overall} "
                f"[elapsed {self.elapsed():.0f} s]")


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False

"""A progress bar while grading runs, and the summary table at the end."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field


@dataclass
class LabTally:
    submissions: int = 0
    up_to_date: int = 0
    graded: int = 0
    timed_out: int = 0   # graded with a check or cell that hit its time limit, or stopped at the deadline
    failed: int = 0      # not written: failed twice (worker died, deadline, nbgrader error)
    retried: int = 0
    scores: list = field(default_factory=list)
    max_score: float = 0.0

    def row(self, lab: str) -> list[str]:
        mean = f"{sum(self.scores) / len(self.scores):.1f}/{self.max_score:g}" if self.scores else "-"
        return [lab, str(self.submissions), str(self.up_to_date), str(self.graded), str(self.timed_out),
                str(self.failed), str(self.retried), mean]


HEADER = ["lab", "submissions", "up to date", "graded", "timed out", "failed", "retried", "mean score"]


def summary_table(tallies: dict[str, LabTally]) -> str:
    rows = [HEADER] + [t.row(lab) for lab, t in tallies.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class Progress:
    """One line redrawn in place on a terminal; a line per finished submission otherwise."""

    def __init__(self, total: int, stream=None, width: int = 30) -> None:
        self.total, self.done, self.width = total, 0, width
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.monotonic()
        self.counts = {"graded": 0, "failed": 0, "retrying": 0}

    def _eta(self) -> str:
        elapsed = time.monotonic() - self.t0
        left = elapsed / self.done * (self.total - self.done) if self.done else 0
        return f"{_mmss(elapsed)} elapsed" + (f", ~{_mmss(left)} left" if self.done and self.done < self.total else "")

    def line(self) -> str:
        filled = int(self.width * self.done / max(self.total, 1))
        bar = "#" * filled + "." * (self.width - filled)
        c = self.counts
        return (f"[{bar}] {self.done}/{self.total}  graded {c['graded']}  failed {c['failed']}"
                f"  retrying {c['retrying']}  {self._eta()}")

    def update(self, event: str = "", note: str = "") -> None:
        if event:
            self.counts[event] = self.counts.get(event, 0) + 1
        if self.tty:
            self.stream.write("\r" + self.line() + "\x1b[K")
        elif note:
            self.stream.write(f"{self.line()}  | {note}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _mmss(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"

"""How a batch shows its progress: a bar on a terminal (rich), plain lines otherwise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Tracker(Protocol):
    """What :func:`autograder.batch.grade_all` tells about its progress."""

    def note(self, message: str) -> None:
        """Something the instructor should know before grading starts (a folder skipped)."""

    def begin(self, total: int, reused: int) -> None: ...

    def finished(self, student: str, summary: str, failed: bool) -> None: ...

    def close(self) -> None: ...


class LineTracker:
    """One line per finished submission: ``[done/total] student: summary``."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.done = self.total = self.failures = 0

    def note(self, message: str) -> None:
        self.say(f"note: {message}")

    def begin(self, total: int, reused: int) -> None:
        self.total = total
        if reused:
            rest = f"grading the other {total - reused}" if reused < total else "nothing to do"
            self.say(f"{reused} of {total} already graded and unchanged; {rest}")

    def finished(self, student: str, summary: str, failed: bool) -> None:
        self.done += 1
        self.failures += failed
        failures = f" ({self.failures} not graded so far)" if self.failures else ""
        self.say(f"[{self.done}/{self.total}] {student}: {summary}{failures}")

    def close(self) -> None:
        pass


class BarTracker:
    """A rich progress bar on stderr: done/total, elapsed, ETA and failures so far."""

    def __init__(self) -> None:
        from rich import progress

        self.failures = 0
        self.bar = progress.Progress(
            progress.TextColumn("grading"),
            progress.BarColumn(),
            progress.MofNCompleteColumn(),
            progress.TimeElapsedColumn(),
            progress.TextColumn("ETA"),
            progress.TimeRemainingColumn(),
            progress.TextColumn("{task.fields[failures]} not graded  {task.fields[last]}"),
            console=_stderr_console(),
        )
        self.task = self.bar.add_task("grading", total=None, failures=0, last="")

    def note(self, message: str) -> None:
        self.bar.console.print(f"note: {message}", markup=False, highlight=False)

    def begin(self, total: int, reused: int) -> None:
        self.bar.start()
        self.bar.update(self.task, total=total, completed=reused)

    def finished(self, student: str, summary: str, failed: bool) -> None:
        self.failures += failed
        self.bar.update(self.task, advance=1, failures=self.failures, last=f"{student}: {summary}")

    def close(self) -> None:
        self.bar.stop()


def _stderr_console():  # -> rich.console.Console, imported lazily
    from rich.console import Console

    return Console(stderr=True)

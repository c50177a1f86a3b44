"""Student text made safe to print: one line, no log commands.

Messages, hints and notes can carry text the student's code chose (exception
messages, file names). Printed as they are, a newline in them could start a line
that looks like the grader's own (``score: 15 / 15``) or that CI reads as a command
(GitHub Actions runs lines starting with ``::``).
"""

from __future__ import annotations

import re

_WHITESPACE = re.compile(r"\s+")  # str patterns match \n, \r, \x0b, \x85, \u2028, ...
_COMMAND = re.compile(r"^\s*::")


def one_line(text: str) -> str:
    """``text`` on one line, with a leading ``::`` neutralised."""
    flat = _WHITESPACE.sub(" ", str(text)).strip()
    return _COMMAND.sub(": :", flat)

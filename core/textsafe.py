"""Stored text made safe to print on a terminal: the one place control characters are escaped.

Anything a plugin or a run wrote (a component name, a run's reason, a
metric name) may hold an ANSI escape sequence that would recolour, move the
cursor or retitle the user's terminal, or a bidirectional override that
shows text in another order than it reads. Every stored string the CLI
prints goes through :func:`printable`: such characters are shown as Python
escapes (``\\x1b``, ``\\u202e``), so the text is visible and inert.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls, DEL, C1 controls, and the Unicode bidi controls (embedding,
# override and isolate marks) that reorder what a terminal shows
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# the same, but newlines and tabs kept: a traceback printed as a block keeps its lines
_CONTROL_IN_BLOCK = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: Any, *, keep_lines: bool = False) -> str:
    """``text`` (any value, as ``str``) with control characters escaped: ``"\\x1b[31m"``
    prints as the seven characters ``\\x1b[31m``. ``keep_lines`` keeps newlines and
    tabs, for a block of text such as a traceback; otherwise they are escaped too,
    so a table cell or a progress line stays one line."""
    text = str(text)
    return (_CONTROL_IN_BLOCK if keep_lines else _CONTROL).sub(_escape, text)

"""Stored text made safe to show: the one place invisible and control characters are escaped.

Anything a plugin or a run wrote (a sweep or component name, a param, a run's
reason, a metric name, a plugin's description) may hold an ANSI escape sequence
that would recolour, move the cursor or retitle the user's terminal, a
bidirectional override (U+202E) that shows text in another order than it reads,
or a zero-width character (U+200B) that makes two different names look alike.
Every stored string the command line or the app shows goes through
:func:`printable`: each such character is shown as its Python escape (``\\x1b``,
``\\u202e``, ``\\u200b``), so the text is visible, inert and tells apart what differs.

The rule is Python's own (``str.isprintable``, what ``repr`` escapes): control
and format characters, line and paragraph separators, spaces other than the
ASCII one, surrogates, private-use and unassigned code points. Stdlib only.
"""

from __future__ import annotations

from typing import Any


def _escape(character: str) -> str:
    code = ord(character)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: Any, *, keep_lines: bool = False) -> str:
    """``text`` (any value, as ``str``) with every character that does not print as
    itself escaped: ``"\\x1b[31m"`` prints as the seven characters ``\\x1b[31m``, a
    zero-width space as ``\\u200b``. ``keep_lines`` keeps newlines and tabs, for a block
    of text such as a traceback; otherwise they are escaped too, so a table cell or a
    progress line stays one line."""
    text = str(text)
    if text.isprintable():  # the common case, in C
        return text
    kept = "\n\t" if keep_lines else ""
    return "".join(c if c.isprintable() or c in kept else _escape(c) for c in text)

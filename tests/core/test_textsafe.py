"""What :func:`printable` shows for hostile stored text: visible escapes for every
character that would act on a terminal or hide in a name, the rest as written."""

from __future__ import annotations

import pytest

from scratchlab.core.textsafe import printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),  # ANSI colour
        ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),  # terminal title
        ("evil\u202etxt.exe", "evil\\u202etxt.exe"),  # right-to-left override
        ("a\u2066b\u2069", "a\\u2066b\\u2069"),  # bidi isolates
        ("torch\u200b", "torch\\u200b"),  # zero-width space: looks like "torch"
        ("to\u200drch\ufeff", "to\\u200drch\\ufeff"),  # zero-width joiner, BOM
        ("line\u2028break", "line\\u2028break"),  # line separator
        ("non\u00a0breaking", "non\\xa0breaking"),  # looks like a space
        ("tab\tnew\nline", "tab\\x09new\\x0aline"),
        ("\U000e0041tag", "\\U000e0041tag"),  # an invisible tag character
    ],
)
def test_invisible_and_control_characters_are_shown_escaped(text: str, shown: str):
    assert printable(text) == shown


@pytest.mark.parametrize("text", ["plain", "naïve café", "日本語", "emoji 🙂", "e\u0301", "a b"])
def test_readable_text_is_shown_as_written(text: str):
    assert printable(text) == text


def test_a_block_keeps_its_lines_and_tabs_but_not_its_escapes():
    assert printable("Traceback:\n\tboom\x1b[2J", keep_lines=True) == "Traceback:\n\tboom\\x1b[2J"


def test_two_names_that_look_alike_are_told_apart():
    assert printable("torch") != printable("torch\u200b")
    assert printable(3.5) == "3.5"

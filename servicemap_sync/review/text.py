"""Text measured and wrapped in Python, so the page is laid out without a browser.

Widths are DejaVu Sans advances (the font the page asks for first; Verdana, its fallback on
Windows, is of the same family of widths), measured once in Chromium for printable ASCII at
100 px; any other character counts as a full em, so an estimate errs wide, never narrow.
"""

from __future__ import annotations

__all__ = ["ELLIPSIS", "text_width", "wrap"]

ELLIPSIS = "…"

#: advance of U+0020..U+007E at 100 px, regular and bold
_REGULAR = (
    32, 40, 46, 84, 64, 95, 78, 27, 39, 39, 50, 84, 32, 36, 32, 34, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 34,
    34, 84, 84, 84, 53, 100, 68, 69, 70, 77, 63, 58, 77, 75, 29, 29, 66, 56, 86, 75, 79, 60, 79, 69, 63, 61, 73,
    68, 99, 69, 61, 69, 39, 34, 39, 84, 50, 50, 61, 63, 55, 63, 62, 35, 63, 63, 28, 28, 58, 28, 97, 63, 61, 63,
    63, 41, 52, 39, 63, 59, 82, 59, 59, 52, 64, 34, 64, 84,
)
_BOLD = (
    35, 46, 52, 84, 70, 100, 87, 31, 46, 46, 52, 84, 38, 42, 38, 37, 70, 70, 70, 70, 70, 70, 70, 70, 70, 70, 40,
    40, 84, 84, 84, 58, 100, 77, 76, 73, 83, 68, 68, 82, 84, 37, 37, 77, 64, 100, 84, 85, 73, 85, 77, 72, 68, 81,
    77, 110, 77, 72, 73, 46, 37, 46, 84, 50, 50, 67, 72, 59, 72, 68, 44, 72, 71, 34, 34, 67, 34, 104, 71, 69, 72,
    72, 49, 60, 48, 71, 65, 92, 65, 65, 58, 71, 37, 71, 84,
)
_WIDE = 100
_MARGIN = 1.08  # other fonts, hinting, rounding


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """Estimated width in px of ``text`` at font size ``size``."""
    table = _BOLD if bold else _REGULAR
    units = sum(table[o - 32] if 32 <= (o := ord(ch)) < 127 else _WIDE for ch in text)
    return units * size / 100 * _MARGIN


def wrap(text: str, width: float, size: float, *, max_lines: int, bold: bool = False) -> tuple[list[str], bool]:
    """``text`` in at most ``max_lines`` lines no wider than ``width``; True if it was cut short.

    Lines break at spaces; a word longer than a line breaks after ``.``, ``_``, ``-``, ``/``,
    ``\\`` or ``:`` where it can, else anywhere. A cut last line ends with an ellipsis.
    """
    fits = lambda s: text_width(s, size, bold=bold) <= width  # noqa: E731
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if fits(candidate):
            current = candidate
            continue
        if current:
            lines.append(current)
            current = ""
        while not fits(word):
            cut = _longest_prefix(word, fits)
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    if len(lines) <= max_lines:
        return lines, False
    last = lines[max_lines - 1]
    while last and not fits(last + ELLIPSIS):
        last = last[:-1]
    return [*lines[:max_lines - 1], last.rstrip() + ELLIPSIS], True


def _longest_prefix(word: str, fits) -> int:
    """How much of ``word`` starts a line: up to a separator if one is far enough in, at least one character."""
    end = 1
    while end < len(word) and fits(word[:end + 1]):
        end += 1
    for at in range(end, max(end // 2, 1) - 1, -1):
        if word[at - 1] in "._-/\\:":
            return at
    return end

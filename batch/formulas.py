"""Cells a spreadsheet would run as formulas: the one rule, its CSV quote, and the quote undone.

Excel, LibreOffice and Google Sheets run a cell that starts with ``=``, ``+``, ``-`` or ``@``
(OWASP "CSV Injection"); a leading tab, carriage return or line feed is listed by OWASP too.
The rule here covers the class rather than a list of examples:

- the first character is ``= + - @`` or any character whose Unicode compatibility form
  (NFKC) starts with one of them: the full-width ``＝ ＋ － ＠`` (U+FF1D, U+FF0B, U+FF0D,
  U+FF20), the small forms ``﹦ ﹢ ﹣ ﹫`` (U+FE66, U+FE62, U+FE63, U+FE6B), the superscript and
  subscript ``⁼ ₌ ⁺ ₊ ⁻ ₋``, and the minus sign ``−`` (U+2212). An input method or a locale may
  turn them into the ASCII ones;
- the first character is a control character (tab, CR, LF, and the rest of C0/C1);
- the same after leading spaces: LibreOffice's CSV import with "Trim spaces" turns
  ``" =1+1"`` into a formula, so spaces (any Unicode space) are looked through.

Lives below ``reading`` and ``reporting`` because both need it: the reports neutralise with it,
and reading a failed-rows CSV the tool wrote takes the tool's own quote back off with it.
"""

from __future__ import annotations

import unicodedata

__all__ = ["QUOTE", "needs_neutralising", "neutralise", "unquote"]

QUOTE = "'"
# What NFKC makes of the look-alikes: the ASCII four, and the minus sign (U+2212), which is
# what the superscript and subscript minus fold to.
_STARTS = frozenset("=+-@\u2212")


def _is_control(ch: str) -> bool:
    return ch < " " or "\x7f" <= ch <= "\x9f"


def _runs_as_formula(ch: str) -> bool:
    if ch.isascii():
        return ch in _STARTS
    return unicodedata.normalize("NFKC", ch)[:1] in _STARTS


def needs_neutralising(cell: str) -> bool:
    """True when a spreadsheet could read ``cell`` as a formula (the rule in the module doc)."""
    for ch in cell:
        if _is_control(ch):
            return True
        if ch.isspace():  # a space a spreadsheet may trim before it looks
            continue
        return _runs_as_formula(ch)
    return False


def neutralise(cell: str, *, reversible: bool = False) -> str:
    """``cell`` made safe for a CSV file: a single quote before it when a spreadsheet would run it.

    Why the quote and not a leading space: the quote is what Excel itself uses to mean "this is
    text", so people recognise it, and a space could be trimmed by the next tool in line. Every
    such cell is prefixed, numbers included (``-5`` becomes ``'-5``): ``-2+3`` and
    ``-cmd|...`` start the same way as a number, and telling them apart is the guesswork this
    rule exists to avoid.

    ``reversible`` (the failed-rows CSV, which the tool reads back): a cell that already starts
    with quotes before such a text (a person typed ``'+44`` in their own file) gets one more,
    so ``unquote`` can take exactly the tool's quote back off and nothing of the person's.
    """
    if needs_neutralising(cell):
        return QUOTE + cell
    if reversible and cell.startswith(QUOTE) and needs_neutralising(cell.lstrip(QUOTE)):
        return QUOTE + cell
    return cell


def unquote(cell: str) -> str:
    """The inverse of ``neutralise(cell, reversible=True)``: the tool's quote taken off.

    Only for a file the tool wrote that way (the failed-rows CSV, known by its decisions
    sidecar): ``'+44`` -> ``+44``, ``''+44`` -> ``'+44``; a quote before anything else
    (``'t Hooft``) was never added by the tool and stays.
    """
    if cell.startswith(QUOTE) and needs_neutralising(cell[1:].lstrip(QUOTE)):
        return cell[1:]
    return cell

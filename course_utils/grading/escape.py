"""Make learner-chosen text safe for the instructor's terminal and spreadsheet.

Learner names, grade ids and error messages reach ``make report`` and ``grades.csv``.
Raw, they can rewrite the terminal (a carriage return or an ANSI escape sequence,
ECMA-48, can overwrite a row: a 2/10 shown as 10/10) or run as a formula when the CSV
is opened in a spreadsheet (OWASP, "CSV Injection": cells starting with ``=``, ``+``,
``-``, ``@``, tab or carriage return).

* :func:`for_terminal` replaces every control and format character (Unicode
  categories Cc, Cf, Zl, Zp: C0/C1 controls, DEL, bidirectional overrides, line and
  paragraph separators) by a visible escape such as ``\\x1b`` or ``\\u202e``.
* :func:`for_spreadsheet` does the same and puts a ``'`` before a cell that starts
  with a formula character, as OWASP recommends.
"""

from __future__ import annotations

import unicodedata

__all__ = ["for_terminal", "for_spreadsheet"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _visible(ch: str) -> str:
    if unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"}:
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return ch


def for_terminal(value: object) -> str:
    """``value`` as text with every control or format character shown as an escape."""
    text = "" if value is None else str(value)
    if text.isprintable():
        return text
    return "".join(_visible(ch) for ch in text)


def for_spreadsheet(value: object) -> str:
    """:func:`for_terminal`, with a leading ``'`` when the text would start a formula."""
    text = "" if value is None else str(value)
    return ("'" if text.startswith(_FORMULA_START) else "") + for_terminal(text)

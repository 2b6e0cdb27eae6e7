"""Word lists shared by the date parser, the answerer and the conversation: months,
weekdays, question words, and what a question about a date looks like.

Example:
    >>> MONTHS[2], WEEKDAY_NAMES[0], "whom" in QUESTION_WORDS
    (('february', 'feb'), 'monday', True)
    >>> bool(WHEN_QUESTION.search("In which year was it shot?"))
    True
"""

from __future__ import annotations

import re

#: Each month's name and abbreviations, January first (``MONTHS[1]``; index 0 is empty).
MONTHS = ((), ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
          ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
          ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
          ("december", "dec"))
MONTH_NAMES = tuple(m[0] for m in MONTHS[1:])
#: Every month name and abbreviation, as a regex alternation.
MONTH_WORDS = "|".join(w for m in MONTHS for w in m)
WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                 "sunday")
#: The words a question starts with.
QUESTION_WORDS = frozenset({"who", "whom", "whose", "what", "which", "when", "where", "why",
                            "how"})
#: A question that asks for a date.
WHEN_QUESTION = re.compile(r"^\W*when\b|\bwhat (year|date|day|month|time)\b|\b(which|what) "
                           r"(year|date|day|month)\b|\bhow long ago\b|\bsince when\b", re.I)

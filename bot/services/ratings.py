"""Reading a 1-5 rating from what a customer wrote: "4", "给4分", "五星", "很满意".

Shared by the satisfaction flow and the Rasa actions, so both read a rating the same way.
"""

from __future__ import annotations

import re

# A lone digit 1-5 ("4", "给4分", "5 stars"), not part of a longer number.
_DIGIT = re.compile(r"(?<![0-9A-Za-z])([1-5])(?![0-9])")
_NUMERAL = re.compile(r"([一二两三四五])\s*(?:分|星|颗星)")
_NUMERALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
# Words people rate with; the first that matches wins, so negated and stronger ones first.
_WORDS: tuple[tuple[str, int], ...] = (
    ("非常不满意", 1), ("很不满意", 1), ("差评", 1), ("very dissatisfied", 1),
    ("very unsatisfied", 1), ("terrible", 1),
    ("不太满意", 2), ("不满意", 2), ("dissatisfied", 2), ("unsatisfied", 2),
    ("not satisfied", 2),
    ("一般", 3), ("中评", 3), ("average", 3), ("so-so", 3),
    ("满分", 5), ("非常满意", 5), ("很满意", 5), ("十分满意", 5), ("好评", 5),
    ("very satisfied", 5), ("excellent", 5),
    ("满意", 4), ("satisfied", 4), ("good", 4),
)  # fmt: skip


# A negation just before a word of praise: "不是很满意", "not very satisfied", "not good".
_NEGATED = re.compile(r"(?:不是|不算|不|没有|没)\s*$|\b(?:not|never|n't)\s+(?:\w+\s+)?$")
# What a negated word of praise counts as.
_NEGATED_SCORE = 2


def score_of(text: str) -> int | None:
    """The 1-5 rating a message gives, if it gives one."""
    if match := _DIGIT.search(text):
        return int(match[1])
    if match := _NUMERAL.search(text):
        return _NUMERALS[match[1]]
    folded = text.casefold()
    for word, score in _WORDS:
        at = folded.find(word)
        if at >= 0:
            negated = score > _NEGATED_SCORE and _NEGATED.search(folded[max(0, at - 12) : at])
            return _NEGATED_SCORE if negated else score
    return None

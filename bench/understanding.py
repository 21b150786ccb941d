"""The per-message cost of the NLU and the FAQ, timed outside any turn."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.dialog import DIALOG
from bench.measure import percentile
from bot.dialog import Services


@dataclass(slots=True)
class Understanding:
    """Per-message cost of the NLU and the FAQ, outside any turn.

    The first pass over the texts is timed apart (its slowest call): lazy set-up inside
    the models would otherwise show up as the steady state's p99.
    """

    nlu_first_ms: float
    nlu_p50_ms: float
    nlu_p99_ms: float
    faq_first_ms: float
    faq_p50_ms: float
    faq_p99_ms: float
    calls: int


def time_understanding(services: Services, calls: int) -> Understanding:
    from bot.nlu.classifier import RANK_CACHE_SIZE  # after load_services has imported it

    texts = [step.text for step in DIALOG if step.text]
    language = services.settings.default_locale
    # The model's own cost: the rankings cache would answer these few texts from memory.
    services.nlu.keep_rankings(0)
    nlu_first, nlu = _time_each(lambda text: services.nlu.parse(text, language), texts, calls)
    services.nlu.keep_rankings(RANK_CACHE_SIZE)
    faq_first, faq = _time_each(
        lambda text: services.faq.match(text, language, limit=3), texts, calls
    )
    return Understanding(
        nlu_first_ms=nlu_first * 1000,
        nlu_p50_ms=percentile(nlu, 50) * 1000,
        nlu_p99_ms=percentile(nlu, 99) * 1000,
        faq_first_ms=faq_first * 1000,
        faq_p50_ms=percentile(faq, 50) * 1000,
        faq_p99_ms=percentile(faq, 99) * 1000,
        calls=calls,
    )


def _time_each(
    call: Callable[[str], object], texts: list[str], calls: int
) -> tuple[float, list[float]]:
    """The slowest call of a first pass over `texts`, then the times of `calls` more."""
    first = max(_timed(call, text) for text in texts)
    return first, [_timed(call, text) for text in itertools.islice(itertools.cycle(texts), calls)]


def _timed(call: Callable[[str], object], text: str) -> float:
    started = time.perf_counter()
    call(text)
    return time.perf_counter() - started

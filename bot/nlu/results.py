"""What the NLU says about one message: intent scores, entities, and Rasa's JSON shape of both."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PHONE = "phone"
ID_NUMBER = "id_number"
CASE_NUMBER = "case_number"
APPOINTMENT_NUMBER = "appointment_number"
TIME = "time"


@dataclass(frozen=True, slots=True)
class IntentScore:
    """One intent and the classifier's confidence in it (0..1)."""

    name: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Entity:
    """A value found in the text at ``text[start:end]``.

    ``value`` is normalised: an 11-digit national number for a CN mobile, E.164 for other
    phones, an upper-case ID or case number, an ISO 8601 time with its offset. ``valid`` is
    False when the text has the right shape but fails its check (an ID number's or a case
    number's check digit), so that a flow can ask again and say why.
    """

    entity: str
    value: str
    start: int
    end: int
    valid: bool = True

    def as_rasa(self) -> dict[str, Any]:
        """Rasa's entity shape; ``valid`` appears only when it is False."""
        data: dict[str, Any] = {
            "entity": self.entity,
            "value": self.value,
            "start": self.start,
            "end": self.end,
        }
        if not self.valid:
            data["valid"] = False
        return data


def without_overlaps(
    entities: Iterable[Entity], priority: Mapping[str, int] | None = None
) -> list[Entity]:
    """Keep one entity per stretch of text: the higher priority (lower number), then the
    longer, then the earlier; the result is in order of position."""
    ranks = priority or {}
    ranked = sorted(entities, key=lambda e: (ranks.get(e.entity, 0), e.start - e.end, e.start))
    starts: list[int] = []  # kept spans, sorted and disjoint
    kept: list[Entity] = []
    for entity in ranked:
        at = bisect.bisect_right(starts, entity.start)
        clear_before = at == 0 or kept[at - 1].end <= entity.start
        clear_after = at == len(kept) or entity.end <= kept[at].start
        if clear_before and clear_after:
            starts.insert(at, entity.start)
            kept.insert(at, entity)
    return kept


@dataclass(frozen=True, slots=True)
class Parse:
    """The NLU's reading of one message."""

    text: str
    language: str
    intent: IntentScore
    ranking: tuple[IntentScore, ...]
    entities: tuple[Entity, ...]

    def as_rasa(self) -> dict[str, Any]:
        """Rasa's ``/model/parse`` shape, for the HTTP API and Rasa integrations."""
        return {
            "text": self.text,
            "intent": _score(self.intent),
            "intent_ranking": [_score(score) for score in self.ranking],
            "entities": [entity.as_rasa() for entity in self.entities],
        }


def _score(score: IntentScore) -> dict[str, Any]:
    return {"name": score.name, "confidence": score.confidence}

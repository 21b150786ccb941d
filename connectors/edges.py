"""What a customer channel's connector is given to work with, by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import Domain
from bot.engine import Engine
from bot.handoff import DeskHandoff
from bot.metrics import Metrics
from bot.settings import Settings
from bot.store.client import RedisHandles
from bot.store.conversations import ConversationStore
from bot.store.events import EventHub


@dataclass(frozen=True, slots=True)
class EdgeParts:
    """The running server's parts a channel connector may use."""

    settings: Settings
    engine: Engine
    store: ConversationStore
    hub: EventHub
    domain: Domain
    handoff: DeskHandoff
    metrics: Metrics
    redis: RedisHandles

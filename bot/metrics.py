"""Prometheus metrics, on a registry of their own (no global state), served at /metrics."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The product's figures: turns, latency, NLU time, handoffs, duplicates, store health."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.turns = Counter(
            "shouwen_turns",
            "Customer turns handled",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.turn_seconds = Histogram(
            "shouwen_turn_seconds",
            "Time to answer a turn, Redis included",
            ["channel"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.nlu_seconds = Histogram(
            "shouwen_nlu_seconds",
            "Time to parse one message",
            buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05),
            registry=self.registry,
        )
        self.intents = Counter(
            "shouwen_intents", "Messages by recognised intent", ["intent"], registry=self.registry
        )
        self.handoffs = Counter(
            "shouwen_handoffs",
            "Requests for a human, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.store_up = Gauge(
            "shouwen_store_up",
            "1 when Redis answered the last health check",
            registry=self.registry,
        )
        self.event_waiters = Gauge(
            "shouwen_event_waiters", "Open long polls and sockets", registry=self.registry
        )
        # SLA clock: each counted once across processes (bot/services/sla.py).
        self.sla_warnings = Counter(
            "shouwen_sla_warnings", "SLA warnings sent, by due", ["due"], registry=self.registry
        )
        self.sla_breaches = Counter(
            "shouwen_sla_breaches", "SLA breaches, by due", ["due"], registry=self.registry
        )
        self.sla_met = Counter(
            "shouwen_sla_met",
            "Dues met, by due and whether on time",
            ["due", "on_time"],
            registry=self.registry,
        )

        # labels() locks and validates on every call; a turn records four figures, so the
        # labelled children are kept once made (a handful: channels x outcomes, intents).
        self._children: dict[tuple[str, ...], Any] = {}

    def turn(self, channel: str, outcome: str, seconds: float) -> None:
        """Count a turn and its time."""
        self._child(self.turns, "t", channel, outcome).inc()
        self._child(self.turn_seconds, "s", channel).observe(seconds)

    def parsed(self, intent: str, seconds: float) -> None:
        """Count a message's recognised intent and the time it took."""
        self.nlu_seconds.observe(seconds)
        self._child(self.intents, "i", intent).inc()

    def _child(self, metric: Any, kind: str, *labels: str) -> Any:
        key = (kind, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def render(self) -> bytes:
        return generate_latest(self.registry)

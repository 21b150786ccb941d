"""Global commands (human, menu, cancel, language, stop): recognised before anything else."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

# `resume` and `drop` only come from buttons: go back to a flow set aside, or forget it.
COMMANDS = ("human", "menu", "cancel", "language", "stop", "resume", "drop")
# A keyword found *inside* a message counts only in short messages: "我不要人工" is rare, but
# a long question that mentions 人工 is a question, not a command.
MAX_CONTAINS_CHARS = 24
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # one of COMMANDS
    argument: str | None = None  # the language of `language`, when given


def _fold(text: str) -> str:
    return _EDGES.sub("", unicodedata.normalize("NFKC", text).casefold().strip())


class Commands:
    """The keyword table of `locales/commands.yml`."""

    def __init__(self, exact: dict[str, Command], contains: list[tuple[str, Command]]) -> None:
        self._exact = exact
        self._contains = contains

    @classmethod
    def load(cls, locales_dir: Path) -> Commands:
        table = yaml.safe_load((locales_dir / "commands.yml").read_text(encoding="utf-8"))
        exact: dict[str, Command] = {}
        contains: list[tuple[str, Command]] = []
        for key, words in table.items():
            name, _sep, argument = key.partition("_")
            if name not in COMMANDS:
                raise ValueError(f"commands.yml: unknown command {key!r}")
            command = Command(name, argument or None)
            for word in words.get("exact", ()):
                exact[_fold(str(word))] = command
            contains.extend((_fold(str(word)), command) for word in words.get("contains", ()))
        return cls(exact, contains)

    def detect(self, text: str, payload: str | None) -> Command | None:
        """The command this message or button press is, if any."""
        if payload is not None:
            return self._from_payload(payload)
        folded = _fold(text)
        if not folded:
            return None
        if folded in self._exact:
            return self._exact[folded]
        if len(folded) <= MAX_CONTAINS_CHARS:
            for word, command in self._contains:
                if word in folded:
                    return command
        return None

    @staticmethod
    def _from_payload(payload: str) -> Command | None:
        kind, _sep, rest = payload.partition(":")
        if kind != "cmd":
            return None
        name, _sep, argument = rest.partition(":")
        return Command(name, argument or None) if name in COMMANDS else None

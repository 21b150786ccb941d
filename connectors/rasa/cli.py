"""`shouwen rasa`."""

from __future__ import annotations

import argparse

from bot.settings import Settings


def main(settings: Settings, args: argparse.Namespace) -> int:
    raise NotImplementedError

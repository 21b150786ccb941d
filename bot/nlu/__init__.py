"""Shouwen's NLU: intents (DESIGN.md §6) and entities from a customer's message.

    nlu = Nlu.load(pathlib.Path("locales"))
    parse = nlu.parse("明天下午3点上门装宽带", "zh")
    parse.intent.name                  # "book_appointment"
    parse.as_rasa()                    # Rasa's /model/parse shape

Training data is Rasa 3 ``nlu.yml`` per language; `bot.nlu.evaluate.run_test` cross-validates
it (imported on its own: its metrics pull in scipy.stats, which a server does not need).
"""

from bot.nlu.parser import Nlu, run_parse
from bot.nlu.results import Entity, IntentScore, Parse

__all__ = ["Entity", "IntentScore", "Nlu", "Parse", "run_parse"]

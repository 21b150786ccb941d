"""What only the Rasa actions say: why a form's value is not taken.

The names, reasons and labels they share with the flows (same msgids, translated once) are
in bot/services/case_texts.py and bot/services/visit_texts.py.
"""

from __future__ import annotations

from bot.i18n import _

# Why a form's value is not taken; the form's own question, with its buttons, follows.
UNKNOWN_SERVICE = _("Sorry, I do not know that service.")
UNKNOWN_PLACE = _("Sorry, that is not one of the places for this service.")
UNKNOWN_CATEGORY = _("Sorry, I could not tell what the complaint is about.")
SHORT_DESCRIPTION = _("Please tell me in a few sentences what happened.")
TRY_AGAIN = _("Sorry, something went wrong. Please try again shortly.")

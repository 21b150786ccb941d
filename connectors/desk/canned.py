"""Canned replies agents send with one click, in the customer's language (gettext catalogs)."""

from __future__ import annotations

from bot.i18n import Text, _

CANNED: dict[str, tuple[Text, Text]] = {
    # id: (title the agent sees, text the customer gets)
    "greet": (_("Greeting"), _("Hello, thank you for waiting. How can I help you today?")),
    "checking": (
        _("Checking"),
        _("I am checking this for you now; it will take a minute or two. Please stay here."),
    ),
    "verify": (
        _("Ask to verify"),
        _("To look at your account I need to confirm it is you. Please verify your phone number."),
    ),
    "engineer": (
        _("Engineer booked"),
        _("I have asked an engineer to contact you. You will get a message with the time."),
    ),
    "anything_else": (_("Anything else"), _("Is there anything else I can help you with?")),
    "goodbye": (
        _("Goodbye"),
        _("Thank you for contacting us. Have a good day, and feel free to write again."),
    ),
}

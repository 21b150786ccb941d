"""`POST /sms/twilio`: Twilio's messaging webhook, signed by Twilio, answered with TwiML.

Twilio signs the URL it called (our public address, not the host the request reached
behind a proxy) plus the sorted form parameters with the account's auth token; the `twilio`
package's own RequestValidator checks it. The answer is TwiML: one <Message> or none.
"""

from __future__ import annotations

import logging

from aiohttp import web
from multidict import MultiDict
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot.errors import ConversationBusy, StoreUnavailable
from bot.services.customers import InvalidPhone
from connectors.errors import ApiError
from connectors.sms.inbound import SmsInbound, valid_message_id

log = logging.getLogger(__name__)

PATH = "/sms/twilio"
SIGNATURE_HEADER = "X-Twilio-Signature"


class TwilioWebhook:
    """Checks Twilio's signature, reads the message, answers it in TwiML."""

    def __init__(self, public_url: str, auth_token: str, inbound: SmsInbound) -> None:
        self._public_url = public_url.rstrip("/")
        self._validator = RequestValidator(auth_token)
        self._inbound = inbound

    def routes(self) -> list[web.RouteDef]:
        return [web.post(PATH, self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        form = await _form(request)
        signature = request.headers.get(SIGNATURE_HEADER, "")
        url = self._public_url + request.path_qs
        if not signature or not self._validator.validate(url, form, signature):
            raise ApiError(403, "bad_signature", "The request does not carry Twilio's signature.")
        message_id = form.get("MessageSid") or form.get("SmsSid") or ""
        sender = form.get("From") or ""
        if not valid_message_id(message_id) or not sender:
            raise ApiError(400, "invalid_field", "MessageSid and From are required.")
        try:
            answer = await self._inbound.answer(sender, message_id, form.get("Body") or "")
        except InvalidPhone:
            # A short code or a sender name: nobody to answer or to link a customer to.
            log.warning("sms: %s came from a sender that is not a phone number", message_id)
            answer = None
        except (StoreUnavailable, ConversationBusy) as error:
            # Twilio does not redeliver after an error status: the customer is told instead.
            log.warning("sms: %s not answered: %s", message_id, type(error).__name__)
            answer = self._inbound.sorry()
        return twiml(answer)


def twiml(text: str | None) -> web.Response:
    """A TwiML answer sending `text`, or sending nothing."""
    response = MessagingResponse()
    if text:
        response.message(text)
    return web.Response(text=str(response), content_type="text/xml")


async def _form(request: web.Request) -> MultiDict[str]:
    """The form parameters, all text (a file part is no Twilio message)."""
    try:
        form = await request.post()
    except ValueError:  # undecodable bytes, a broken multipart body
        raise ApiError(400, "malformed_body", "The body is not a readable form.") from None
    fields: MultiDict[str] = MultiDict()
    for name, value in form.items():
        if not isinstance(value, str):
            raise ApiError(400, "malformed_body", "The form must hold text fields only.")
        fields.add(name, value)
    return fields

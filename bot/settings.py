"""Settings: one object built at start from `SHOUWEN_*` environment variables (and `.env`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DATA_DIR = Path(__file__).resolve().parent.parent / "data"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "shouwen"


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_WORKERS = 64


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names it."""


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    raw = env.get(name) or None
    if raw is not None and raw not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


# What each SMS provider cannot work without.
_SMS_NEEDS = {
    "twilio": (
        "SHOUWEN_TWILIO_ACCOUNT_SID",
        "SHOUWEN_TWILIO_AUTH_TOKEN",
        "SHOUWEN_SMS_FROM",
        "SHOUWEN_PUBLIC_URL",
    ),
    "gateway": ("SHOUWEN_SMS_GATEWAY_URL", "SHOUWEN_SMS_GATEWAY_SECRET"),
}


def _require_sms(env: Mapping[str, str], provider: str | None) -> None:
    missing = [name for name in _SMS_NEEDS.get(provider or "", ()) if not env.get(name)]
    if missing:
        raise SettingsError(f"SHOUWEN_SMS_PROVIDER={provider} also needs {', '.join(missing)}")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable; see README.md for each variable."""

    redis_url: str | None = None  # None: the embedded in-process store
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    default_locale: str = "zh"
    timezone: str = "Asia/Shanghai"
    hotline: str = "400-000-1234"
    max_text_chars: int = 2000  # longer text is cut before understanding
    max_body_bytes: int = 64 * 1024  # larger HTTP bodies are refused with 413
    conversation_ttl_days: int = 30
    log_level: str = "INFO"
    locales_dir: Path = field(default=LOCALES_DIR)
    data_dir: Path = field(default=DATA_DIR)  # policy, appointment capacity, outages
    cache_dir: Path = field(default=CACHE_DIR)  # trained intent models, to start faster
    secret_key: str | None = None  # encrypts personal data; None: a random key per start
    sms_provider: str | None = None  # "twilio" or "gateway"; None: codes go to the console
    # The https address customers' channels reach this server at: Twilio signs requests
    # over it, and `shouwen telegram --set-webhook` registers `<public_url>/telegram/webhook`.
    public_url: str | None = None
    telegram_token: str | None = None  # a bot token from @BotFather opens the Telegram edge
    telegram_secret: str | None = None  # webhook secret; None: derived from the token
    sms_from: str | None = None  # the number (or sender id) SMS are sent from
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None  # signs Twilio's requests and authorises ours
    twilio_api_url: str = "https://api.twilio.com"  # a Twilio-compatible API's base address
    sms_gateway_url: str | None = None  # the generic gateway's send endpoint
    sms_gateway_secret: str | None = None  # HMAC-SHA256 key, both directions
    rasa_token: str | None = None  # required as ?token= on /rasa/*; None: loopback callers only
    rasa_url: str | None = None  # the Rasa server, for agents' messages to Rasa users

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, dotenv: bool = True) -> Settings:
        """Read `SHOUWEN_*` variables; a `.env` file in the working directory fills gaps."""
        if env is None:
            if dotenv:
                from dotenv import load_dotenv

                load_dotenv(override=False)
            env = os.environ
        locale = env.get("SHOUWEN_DEFAULT_LOCALE", "zh") or "zh"
        if locale not in ("zh", "en"):
            raise SettingsError(f"SHOUWEN_DEFAULT_LOCALE must be zh or en, got {locale!r}")
        if env.get("SHOUWEN_REDIS_URL") and not env.get("SHOUWEN_SECRET_KEY"):
            # Every process and every restart must seal, open and look up personal data
            # with the same key; a random one per process would lose it between them.
            raise SettingsError(
                "SHOUWEN_SECRET_KEY is needed with SHOUWEN_REDIS_URL: set it to one long "
                "random string shared by every process"
            )
        sms_provider = _choice(env, "SHOUWEN_SMS_PROVIDER", ("twilio", "gateway"))
        _require_sms(env, sms_provider)
        level = (env.get("SHOUWEN_LOG_LEVEL") or "INFO").upper()
        if level not in LOG_LEVELS:
            raise SettingsError(f"SHOUWEN_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        return cls(
            redis_url=env.get("SHOUWEN_REDIS_URL") or None,
            host=env.get("SHOUWEN_HOST", "127.0.0.1") or "127.0.0.1",
            port=_int(env, "SHOUWEN_PORT", 8080, 1, 65535),
            workers=_int(env, "SHOUWEN_WORKERS", 1, 1, MAX_WORKERS),
            default_locale=locale,
            timezone=env.get("SHOUWEN_TIMEZONE", "Asia/Shanghai") or "Asia/Shanghai",
            hotline=env.get("SHOUWEN_HOTLINE", "400-000-1234") or "400-000-1234",
            max_text_chars=_int(env, "SHOUWEN_MAX_TEXT_CHARS", 2000, 100, 20000),
            max_body_bytes=_int(env, "SHOUWEN_MAX_BODY_BYTES", 64 * 1024, 1024, 10 * 1024 * 1024),
            conversation_ttl_days=_int(env, "SHOUWEN_CONVERSATION_TTL_DAYS", 30, 1, 3650),
            log_level=level,
            data_dir=Path(env.get("SHOUWEN_DATA_DIR") or DATA_DIR),
            cache_dir=Path(env.get("SHOUWEN_CACHE_DIR") or CACHE_DIR),
            secret_key=env.get("SHOUWEN_SECRET_KEY") or None,
            sms_provider=sms_provider,
            public_url=(env.get("SHOUWEN_PUBLIC_URL") or "").rstrip("/") or None,
            telegram_token=env.get("SHOUWEN_TELEGRAM_TOKEN") or None,
            telegram_secret=env.get("SHOUWEN_TELEGRAM_SECRET") or None,
            sms_from=env.get("SHOUWEN_SMS_FROM") or None,
            twilio_account_sid=env.get("SHOUWEN_TWILIO_ACCOUNT_SID") or None,
            twilio_auth_token=env.get("SHOUWEN_TWILIO_AUTH_TOKEN") or None,
            twilio_api_url=(env.get("SHOUWEN_TWILIO_API_URL") or "https://api.twilio.com").rstrip(
                "/"
            ),
            sms_gateway_url=env.get("SHOUWEN_SMS_GATEWAY_URL") or None,
            sms_gateway_secret=env.get("SHOUWEN_SMS_GATEWAY_SECRET") or None,
            rasa_token=env.get("SHOUWEN_RASA_TOKEN") or None,
            rasa_url=(env.get("SHOUWEN_RASA_URL") or "").rstrip("/") or None,
        )

    @property
    def conversation_ttl_seconds(self) -> int:
        return self.conversation_ttl_days * 86400

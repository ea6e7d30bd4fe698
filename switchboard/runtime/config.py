"""Process configuration, read once from the environment and an optional ``.env`` file.

Every variable is documented in the README and in the project's contract. Secrets are
``SecretStr`` so they never reach a log line or a ``repr``.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard.contract.conversation import DROPPED_CALL_FOLLOWUP
from switchboard.contract.names import DEFAULT_TASK_QUEUE
from switchboard.runtime.durations import parse_duration
from switchboard.runtime.payload_keys import EnvironmentKeys, parse_keys

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

SANDBOX_ACCOUNT_SID = "AC" + "0" * 32
"""Account SID used in sandbox mode (no Twilio credentials)."""
SANDBOX_AUTH_TOKEN = "sandbox-auth-token"
"""Auth token the gateway and the simulator share in sandbox mode to sign requests."""
SANDBOX_PHONE_NUMBER = "+15005550006"
"""The business number customers text in sandbox mode."""

DEFAULT_LLM_MODEL = "gpt-4o-mini"
"""The model asked for when ``LLM_MODEL`` is unset."""

DEFAULT_INSTRUCTIONS = (
    "You are a helpful, concise customer-service agent for a small business. "
    "Answer in plain text without markdown. If you do not know something, say so."
)


KEEP_EMPTY = frozenset({"voice_welcome_greeting", "voice_reconnect_greeting"})
"""Settings where an empty value means something (say nothing), not "unset"."""


class Settings(BaseSettings):
    """All configuration of a worker or gateway process.

    An empty value (``GATEWAY_API_KEY=``, which compose's ``${VAR}`` pass-through produces
    for a variable that is not set) counts as unset, so no secret is ever an empty key.
    """

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Temporal
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = DEFAULT_TASK_QUEUE
    temporal_api_key: SecretStr | None = None
    temporal_tls: bool = False
    # Worker Versioning (``runtime.versioning``): both set, the workers poll as this version
    # of the deployment; unset, unversioned, as before
    temporal_deployment_name: str | None = None
    temporal_build_id: str | None = None
    temporal_versioning_behavior: Literal["auto_upgrade", "pinned"] = "auto_upgrade"
    # host:port where this process serves Temporal's SDK metrics for Prometheus; unset: none
    temporal_metrics_bind: str | None = None

    # Twilio
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_api_base_url: str | None = None
    twilio_phone_number: str | None = None
    twilio_whatsapp_number: str | None = None
    public_base_url: str = "http://localhost:8000"
    twilio_validate_signatures: bool = True

    # LLM
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str | None = None
    llm_timeout: Duration = timedelta(seconds=60)
    # The longest reply a model call may write (``max_tokens``), text and voice
    llm_max_tokens: int = Field(default=500, ge=1)
    # The conversation history a model call carries, in estimated tokens (4 characters each)
    llm_history_tokens: int = Field(default=6000, ge=1)
    llm_price_per_1k_tokens: float | None = Field(default=None, ge=0)
    """What 1,000 model tokens cost (any currency): insights then report costs."""
    agent_instructions: str = DEFAULT_INSTRUCTIONS

    # Storage
    memory_database_url: str = "sqlite:///.data/memory.db"
    embedding_model: str | None = None
    embedding_base_url: str | None = None
    embedding_api_key: SecretStr | None = None

    # Gateway
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    gateway_api_key: SecretStr | None = None
    # What one gateway process takes on at once: connections (HTTP and sockets; more are
    # answered 503 by the server) and ConversationRelay calls (more are turned away)
    gateway_max_connections: int = Field(default=1000, ge=1)
    gateway_max_calls: int = Field(default=200, ge=1)
    # After SIGTERM, how long a gateway lets its live calls finish (gateway.drain); keep it
    # under the orchestrator's grace period (compose stop_grace_period, Kubernetes
    # terminationGracePeriodSeconds)
    gateway_drain_seconds: float = Field(default=300, ge=0)

    # Conversation behaviour
    conversation_idle_timeout: Duration = timedelta(hours=1)
    message_batch_window: Duration = timedelta(seconds=1.5)
    conversation_max_history_events: int | None = None
    # Texts a minute one customer gets answered one by one (0: no limit), and at once
    customer_rate_limit: float = Field(default=20.0, ge=0)
    customer_rate_burst: int = Field(default=10, ge=1)
    conversation_local_activities: bool = True
    # A conversation's workflow task timeout: how long Temporal waits on a worker that took
    # a task and went silent (SIGKILL, a lost host) before another worker takes it over. The
    # SDK heartbeats a task whose local activities (model call, send) run longer, so it
    # bounds recovery, not the model's time; each heartbeat costs three history events.
    workflow_task_timeout: Duration = timedelta(seconds=2)
    # How long a task for a conversation a worker has cached waits for that worker before
    # another takes it (after a replay): bounds the wait of a text to a dead worker's
    # conversation.
    worker_sticky_timeout: Duration = timedelta(seconds=2)
    workflow_sandbox: bool = True
    worker_max_cached_workflows: int = 1000
    worker_event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    """The worker's event loop: ``auto`` is uvloop where it is installed (``worker.run``)."""

    # Voice (ConversationRelay)
    voice_welcome_greeting: str | None = "Hello! How can I help you today?"
    voice_language: str = "en-US"
    voice_tts_provider: str | None = None
    voice_voice: str | None = None
    voice_transcription_provider: str | None = None
    voice_speech_model: str | None = None
    voice_interruptible: str = "any"
    voice_dtmf_detection: bool = True
    voice_drop_followup: bool = True
    voice_speculative_start: bool = True
    # When a speculative reply may be heard: "confirmed" once the workflow's plan matches
    # the guess (nothing is said that the workflow did not decide); "optimistic" at once,
    # cut and replaced if the plan differs (README "How a call works")
    voice_release: Literal["confirmed", "optimistic"] = "confirmed"
    voice_reconnect_greeting: str = "Sorry about that, we got cut off. Where were we?"
    voice_drop_followup_text: str = DROPPED_CALL_FOLLOWUP
    gateway_instance_id: str | None = None

    # The agent: a Python module attribute ("myapp.agent:agent"); unset, the default agent
    agent: str | None = None
    # HTTP tools declared in a file (TOML or JSON), added to the agent's own tools
    tools_file: str | None = None

    # Conversation intelligence: operators beside each conversation (switchboard.intelligence)
    intelligence: bool = True
    # Operators and built-in settings in a file (TOML or JSON), for people who do not write Python
    intelligence_file: Path | None = None
    # The operators' task queue; unset: "<TEMPORAL_TASK_QUEUE>-intelligence", so two
    # deployments sharing a namespace never run each other's operators
    intelligence_task_queue: str | None = None
    # Signs the webhooks of intelligence rules; a secret of its own, like the handoff one
    intelligence_webhook_secret: SecretStr | None = None

    # Handoff
    twilio_taskrouter_base_url: str = "https://taskrouter.twilio.com"
    twilio_taskrouter_workspace_sid: str | None = None
    twilio_taskrouter_workflow_sid: str | None = None
    handoff_webhook_url: str | None = None
    handoff_webhook_secret: SecretStr | None = None
    handoff_timeout: Duration = timedelta(minutes=5)

    # Payload encryption: "<key id>:<base64 of 32 bytes>,…"; the first wraps new data keys
    payload_encryption_keys: SecretStr | None = None
    # Origins (comma-separated) of the Temporal UI that may call the gateway's /codec endpoint
    temporal_ui_origins: str = "http://localhost:8233,http://127.0.0.1:8233"
    inbound_dedup_ttl: Duration = timedelta(days=30)
    """How long a processed inbound ``MessageSid`` is remembered (a replay is then dropped)."""
    outbox_retention: Duration = timedelta(hours=24)
    """How long the send outbox keeps a row (number and text) after its last attempt."""

    # Logging
    log_level: str = "INFO"
    log_format: str = "auto"
    log_mask_numbers: bool = True
    """Mask phone numbers in every log line but their last four digits (``LOG_MASK_NUMBERS``)."""

    @model_validator(mode="before")
    @classmethod
    def _empty_is_unset(cls, data: Any) -> Any:
        """Drop empty (or blank) values, so the default applies: empty means unset."""
        if not isinstance(data, dict):
            return data
        return {
            key: value
            for key, value in data.items()
            if str(key).lower() in KEEP_EMPTY or not _blank(value)
        }

    @field_validator("payload_encryption_keys", mode="after")
    @classmethod
    def _keys_parse(cls, value: SecretStr | None) -> SecretStr | None:
        """A malformed value stops the process here (``PayloadKeyError`` names no key)."""
        if value is not None:
            parse_keys(value.get_secret_value())
        return value

    @field_validator("temporal_versioning_behavior", mode="before")
    @classmethod
    def _behavior_lower(cls, value: Any) -> Any:
        """``PINNED`` or ``pinned``, as the CLI and the docs spell it."""
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("outbox_retention", mode="after")
    @classmethod
    def _outbox_retention(cls, value: timedelta) -> timedelta:
        """Shorter than a send's retries, a purged key could be sent twice."""
        if value < timedelta(hours=2):
            raise ValueError("OUTBOX_RETENTION must be at least 2h (a send retries for 1h)")
        return value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if (self.twilio_account_sid is None) != (self.twilio_auth_token is None):
            raise ValueError(
                "set both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or neither (sandbox mode)"
            )
        if (self.temporal_deployment_name is None) != (self.temporal_build_id is None):
            raise ValueError(
                "set both TEMPORAL_DEPLOYMENT_NAME and TEMPORAL_BUILD_ID (Worker Versioning),"
                " or neither"
            )
        if self.handoff_webhook_url and self.handoff_webhook_secret is None:
            raise ValueError(
                "HANDOFF_WEBHOOK_URL needs HANDOFF_WEBHOOK_SECRET (a secret of its own) to sign"
                " handoffs"
            )
        for name, secret in (
            ("HANDOFF_WEBHOOK_SECRET", self.handoff_webhook_secret),
            ("INTELLIGENCE_WEBHOOK_SECRET", self.intelligence_webhook_secret),
        ):
            if secret is not None and secret == self.gateway_api_key:
                raise ValueError(
                    f"{name} must differ from GATEWAY_API_KEY: every webhook receiver holds it"
                )
        self.public_base_url = self.public_base_url.rstrip("/")
        return self

    @property
    def analysis_task_queue(self) -> str:
        """The task queue the intelligence operators run on (``INTELLIGENCE_TASK_QUEUE``)."""
        return self.intelligence_task_queue or f"{self.temporal_task_queue}-intelligence"

    @property
    def master_keys(self) -> EnvironmentKeys | None:
        """The payload master keys (``PAYLOAD_ENCRYPTION_KEYS``); None: payloads in the clear."""
        if self.payload_encryption_keys is None:
            return None
        return parse_keys(self.payload_encryption_keys.get_secret_value())

    @property
    def ui_origins(self) -> list[str]:
        """``TEMPORAL_UI_ORIGINS`` as a list, without trailing slashes."""
        return [o.strip().rstrip("/") for o in self.temporal_ui_origins.split(",") if o.strip()]

    @property
    def sandbox(self) -> bool:
        """True when no Twilio credentials are configured: replies go to the local outbox."""
        return self.twilio_account_sid is None

    @property
    def account_sid(self) -> str:
        """The Twilio account SID in use (the sandbox one in sandbox mode)."""
        return self.twilio_account_sid or SANDBOX_ACCOUNT_SID

    @property
    def auth_token(self) -> str:
        """The Twilio auth token that signs webhooks and authenticates REST calls."""
        if self.twilio_auth_token is None:
            return SANDBOX_AUTH_TOKEN
        return self.twilio_auth_token.get_secret_value()

    @property
    def twilio_rest_base_url(self) -> str:
        """Where Messages and Calls requests go: Twilio, a test fake, or the sandbox outbox."""
        if self.twilio_api_base_url:
            return self.twilio_api_base_url.rstrip("/")
        if self.sandbox:
            return f"{self.public_base_url}/sandbox/twilio"
        return "https://api.twilio.com"

    @property
    def outbox_path(self) -> Path:
        """The send outbox's SQLite file when memory is SQLite: the memory database's file.

        With PostgreSQL memory the outbox is a table in that database instead
        (``switchboard.runtime.outbox.open_outbox``); ``.data/outbox.db`` is only a fallback.
        """
        if self.memory_database_url.startswith("sqlite:///"):
            return Path(self.memory_database_url.removeprefix("sqlite:///"))
        return Path(".data/outbox.db")

    @property
    def chat_model(self) -> str:
        """The model named in Chat Completions requests (``LLM_MODEL``, else a common default)."""
        return self.llm_model or DEFAULT_LLM_MODEL

    @property
    def llm_configured(self) -> bool:
        """True when an OpenAI-compatible endpoint is set; otherwise the demo responder answers."""
        return bool(self.llm_base_url)

    def safe_summary(self) -> dict[str, Any]:
        """Configuration worth logging at start-up, with no secret in it."""
        return {
            "temporal_address": self.temporal_address,
            "temporal_namespace": self.temporal_namespace,
            "task_queue": self.temporal_task_queue,
            "worker_version": (
                f"{self.temporal_deployment_name}:{self.temporal_build_id}"
                f" ({self.temporal_versioning_behavior})"
                if self.temporal_build_id
                else None
            ),
            "sandbox": self.sandbox,
            "llm": self.llm_base_url or "demo responder",
            "llm_model": self.llm_model,
            "agent": self.agent or "default",
            "tools_file": self.tools_file,
            "public_base_url": self.public_base_url,
            "validate_signatures": self.twilio_validate_signatures,
            "payload_encryption": self.master_keys is not None,
        }


def _blank(value: object) -> bool:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return isinstance(value, str) and not value.strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return Settings()

"""Stable error types raised by activities (``ApplicationError.type``).

Workflows branch on these strings, never on message text::

    ApplicationError
    ├── LLMAuthError              non-retryable: the LLM rejected our key
    ├── LLMBadRequest             non-retryable: the LLM rejected the request itself
    ├── LLMUnavailable            retryable: timeouts, 429, 5xx, connection errors
    ├── TwilioPermanentError      non-retryable: opted out (21610), invalid number (21211),
    │                             WhatsApp window closed (63016) whatever the HTTP status;
    │                             any other 4xx except 401/403/408/429
    ├── TwilioAuthError           non-retryable: 401/403 from Twilio (without a code above)
    ├── TwilioUnavailable         retryable: 408, 429, 5xx, connection errors; the outbox
    │                             re-checks with Twilio before resending
    ├── TaskRouterRejected        non-retryable: TaskRouter answered 4xx other than 408/429
    │                             (bad SID, auth, attributes)
    ├── TaskRouterUnavailable     retryable: 408, 429, 5xx, connection errors; the task is
    │                             looked up by its handoff key before it is created again
    ├── HandoffWebhookRejected    non-retryable: HANDOFF_WEBHOOK_URL answered 4xx other than
    │                             408/429 (or a redirect), or the URL is unusable
    ├── HandoffWebhookUnavailable retryable: 408, 429, 5xx, connection errors (delivery is at
    │                             least once; receivers dedupe on X-Switchboard-Idempotency-Key)
    ├── RuleWebhookRejected       non-retryable: a rule's webhook URL answered 4xx other than
    │                             408/429 (or a redirect), the URL is unusable, or no
    │                             INTELLIGENCE_WEBHOOK_SECRET signs it
    └── RuleWebhookUnavailable    retryable: 408, 429, 5xx, connection errors (at least once,
                                  like the handoff webhook)

The Twilio and TaskRouter types are assigned in one place,
``switchboard.twilio.failures.classify_twilio_error``, which says why for each rule; the
Twilio error code (or None) is always ``details[0]``.
"""

from __future__ import annotations

LLM_AUTH_ERROR = "LLMAuthError"
LLM_BAD_REQUEST = "LLMBadRequest"
LLM_UNAVAILABLE = "LLMUnavailable"
TWILIO_PERMANENT_ERROR = "TwilioPermanentError"
TWILIO_AUTH_ERROR = "TwilioAuthError"
TWILIO_UNAVAILABLE = "TwilioUnavailable"
TASKROUTER_REJECTED = "TaskRouterRejected"
TASKROUTER_UNAVAILABLE = "TaskRouterUnavailable"
HANDOFF_WEBHOOK_REJECTED = "HandoffWebhookRejected"
HANDOFF_WEBHOOK_UNAVAILABLE = "HandoffWebhookUnavailable"
RULE_WEBHOOK_REJECTED = "RuleWebhookRejected"
RULE_WEBHOOK_UNAVAILABLE = "RuleWebhookUnavailable"

TWILIO_OPTED_OUT = 21610
TWILIO_INVALID_NUMBER = 21211
TWILIO_WHATSAPP_WINDOW = 63016

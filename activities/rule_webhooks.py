"""A fired intelligence rule's webhook: one signed POST, retried by Temporal.

``post_rule_webhook`` runs on the intelligence task queue. The body (``RuleWebhookBody``)
is signed exactly like the handoff webhook (``switchboard.runtime.webhooks``), keyed with
``INTELLIGENCE_WEBHOOK_SECRET``, under the event ``intelligence_rule`` and the delivery's
idempotency key, which is the same on every attempt: delivery is at least once (an attempt
that timed out may have arrived), and a receiver dedupes on the key. 408, 429, 5xx and no
answer at all are retryable; any other refusal, or an unusable URL, is final.

Logs name the rule, the conversation and the status, never the result: it may quote the
customer.
"""

from __future__ import annotations

import httpx
import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import heartbeating
from switchboard.contract import errors
from switchboard.contract.names import POST_RULE_WEBHOOK_ACTIVITY
from switchboard.contract.rules import RULE_WEBHOOK_EVENT, RuleWebhookRequest
from switchboard.runtime.webhooks import WebhookError, post_signed
from switchboard.twilio.failures import is_transient_status

log = structlog.get_logger(__name__)


class RuleWebhooks:
    """Posts rules' webhooks with the worker's shared HTTP client.

    ``secret`` is ``INTELLIGENCE_WEBHOOK_SECRET``; the worker refuses to start with rules
    that post webhooks and no secret (``switchboard.intelligence.rules.webhook_secret``), so
    an empty one only meets a delivery that should not exist, and refuses it.
    """

    def __init__(self, http: httpx.AsyncClient, secret: str) -> None:
        self._http = http
        self._secret = secret

    @activity.defn(name=POST_RULE_WEBHOOK_ACTIVITY)
    async def post_rule_webhook(self, request: RuleWebhookRequest) -> int:
        """POST the signed body once; the status the receiver answered (2xx)."""
        body = request.body
        bound = log.bind(
            conversation_id=body.conversation_id,
            rule=body.rule,
            key=request.idempotency_key,
            attempt=activity.info().attempt,
        )
        if not self._secret:
            raise ApplicationError(
                "no INTELLIGENCE_WEBHOOK_SECRET to sign the rule's webhook",
                type=errors.RULE_WEBHOOK_REJECTED,
                non_retryable=True,
            )
        try:
            async with heartbeating(1.0):
                status = await post_signed(
                    self._http, request.url, body.model_dump_json().encode(), self._secret,
                    event=RULE_WEBHOOK_EVENT, idempotency_key=request.idempotency_key,
                )  # fmt: skip
        except WebhookError as exc:
            message = f"rule webhook answered {exc.http_status}: {exc.message}"
            bound.warning("rule_webhook_refused", status=exc.http_status)
            if is_transient_status(exc.http_status):
                raise ApplicationError(
                    message, exc.http_status, type=errors.RULE_WEBHOOK_UNAVAILABLE
                ) from exc
            raise ApplicationError(
                message, exc.http_status, type=errors.RULE_WEBHOOK_REJECTED, non_retryable=True
            ) from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            # A misconfigured URL does not fix itself: retrying would only delay the error.
            raise ApplicationError(
                f"rule webhook URL unusable: {type(exc).__name__}",
                type=errors.RULE_WEBHOOK_REJECTED,
                non_retryable=True,
            ) from exc
        except httpx.TransportError as exc:
            bound.warning("rule_webhook_unreachable", error=type(exc).__name__)
            raise ApplicationError(
                f"rule webhook unreachable: {type(exc).__name__}",
                type=errors.RULE_WEBHOOK_UNAVAILABLE,
            ) from exc
        bound.info("rule_webhook_delivered", status=status)
        return status

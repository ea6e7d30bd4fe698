"""How clients open a conversation: signal-with-start, with its search attributes set."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from switchboard.agent import Agent
from switchboard.contract import search_attributes as sa
from switchboard.contract.addresses import Channel, conversation_id
from switchboard.contract.conversation import (
    ConversationConfig,
    ConversationInput,
    ConversationStatus,
)
from switchboard.contract.intelligence import IntelligencePolicy
from switchboard.intelligence import Analyzer, load_operators, load_rules
from switchboard.runtime.config import SANDBOX_PHONE_NUMBER, Settings
from workflows.conversation import ConversationWorkflow


def conversation_config(settings: Settings, agent: Agent | None = None) -> ConversationConfig:
    """The behaviour settings new conversation runs are started with."""
    extra: dict[str, Any] = {}
    if agent is not None:
        extra.update(
            tools=agent.policies(),
            mcp=bool(agent.mcp),
            handoff_message=agent.handoff_message,
            handoff_timeout_message=agent.handoff_timeout_message,
        )
    sandbox_number = SANDBOX_PHONE_NUMBER if settings.sandbox else None
    return ConversationConfig(
        **extra,
        handoff_timeout_seconds=settings.handoff_timeout.total_seconds(),
        callback_number=settings.twilio_phone_number or sandbox_number,
        whatsapp_number=settings.twilio_whatsapp_number or sandbox_number,
        notify_human_side=bool(settings.handoff_webhook_url),
        idle_timeout_seconds=settings.conversation_idle_timeout.total_seconds(),
        batch_window_seconds=settings.message_batch_window.total_seconds(),
        max_history_events=settings.conversation_max_history_events,
        history_tokens=settings.llm_history_tokens,
        rate_per_minute=settings.customer_rate_limit,
        rate_burst=settings.customer_rate_burst,
        local_activities=settings.conversation_local_activities,
        voice_drop_followup=settings.voice_drop_followup,
        voice_drop_followup_text=settings.voice_drop_followup_text,
        intelligence=intelligence_policy(settings, agent),
    )


def intelligence_policy(settings: Settings, agent: Agent | None = None) -> IntelligencePolicy:
    """Which operators new conversation runs ask for, when, and the rules that act on them.

    Off with ``INTELLIGENCE=false``.
    """
    if not settings.intelligence:
        return IntelligencePolicy()
    operators = load_operators(settings, agent)
    return IntelligencePolicy(
        enabled=True,
        operators=Analyzer(operators, None, None).policies(),
        task_queue=settings.analysis_task_queue,
        rules=load_rules(settings, agent, operators),
    )


async def signal_with_start(
    client: Client,
    *,
    customer: str,
    channel: Channel,
    signal: str,
    arg: object,
    task_queue: str,
    config: ConversationConfig,
    task_timeout: timedelta | None = None,
) -> None:
    """Signal the customer's open conversation, or start one with the signal.

    The search attributes are set at the start, so the conversation is findable in the
    Temporal UI before its first workflow task has run. ``task_timeout`` is the run's
    workflow task timeout (``WORKFLOW_TASK_TIMEOUT``; Temporal's 10 s when None): a worker
    that dies holding a task is given up on after it. Runs it continues as new inherit it.
    """
    await client.start_workflow(
        ConversationWorkflow.run,
        ConversationInput(customer=customer, config=config),
        id=conversation_id(customer),
        task_queue=task_queue,
        start_signal=signal,
        start_signal_args=[arg],
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.CUSTOMER_ID, customer),
                SearchAttributePair(sa.CONVERSATION_CHANNELS, [str(channel)]),
                SearchAttributePair(sa.CONVERSATION_STATUS, str(ConversationStatus.AI)),
            ]
        ),
        static_summary=f"Conversation with {customer}",
        task_timeout=task_timeout,
    )

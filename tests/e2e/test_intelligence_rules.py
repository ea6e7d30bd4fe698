"""Rules of your own end to end: declared in INTELLIGENCE_FILE, acting on real results.

Real gateway, worker (both task queues) and dev server, no model (the offline built-ins);
the rule's webhook goes to a receiver that checks the signature on its own. Each test reads
what a user would: the webhook deliveries, the conversation's view, the operator API.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from switchboard.contract.addresses import conversation_id
from switchboard.contract.conversation import CloseRequest, ConversationStatus, ConversationView
from switchboard.devtools.devserver import DevServer
from switchboard.runtime.webhooks import verify_signature
from tests.conftest import BUSINESS_NUMBER, OPERATOR_KEY, running_stack, unique_customer
from tests.e2e.test_intelligence import results
from tests.support.fake_webhook import WEBHOOK_PATH, FakeWebhook
from tests.support.server import serve
from workflows.conversation import ConversationWorkflow

SECRET = "rules-webhook-secret"


def intelligence_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "intelligence.toml"
    path.write_text(text, encoding="utf-8")
    return path


async def test_a_negative_sentiment_rule_posts_one_signed_webhook(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    hook = FakeWebhook(SECRET)  # verifies t=…,v1=… itself, with the rules' own secret
    async with serve(hook.app) as hook_url:
        path = intelligence_file(tmp_path, f"""
[rules.unhappy]
operator = "sentiment"
when = {{ field = "label", equals = "negative" }}
on = "turn"
actions = [
  {{ type = "webhook", url = "{hook_url}{WEBHOOK_PATH}" }},
  {{ type = "tag", label = "unhappy" }},
]
""")  # fmt: skip
        async with running_stack(
            tmp_path, temporal_server, client, llm_base_url=None,
            twilio_phone_number=BUSINESS_NUMBER, intelligence_file=path,
            intelligence_webhook_secret=SECRET,
        ) as s:  # fmt: skip
            customer = unique_customer()
            await s.text(customer, "This is bad, I'm really unhappy with the delay.")
            await s.twilio.wait_for_messages(1, timeout=20)
            [delivery] = await hook.wait_for_deliveries(1, timeout=20)
            await s.text(customer, "Still bad. The app is terrible and the update broke it.")
            await s.twilio.wait_for_messages(2, timeout=20)

            async def both_analysed() -> bool:
                found = await results(s, customer)
                sentiments = [r for r in found if r["operator"] == "sentiment"]
                return [r["result"]["label"] for r in sentiments] == ["negative", "negative"]

            await s.eventually(both_analysed, timeout=20)
            handle: WorkflowHandle[ConversationWorkflow, ConversationView] = (
                client.get_workflow_handle_for(ConversationWorkflow.run, conversation_id(customer))
            )
            await handle.signal(ConversationWorkflow.close, CloseRequest(reason="test"))
            view = await handle.result()
            history = await handle.fetch_history()

    # Once per conversation: the second negative turn matched too, and posted nothing.
    assert len(hook.deliveries) == 1 and len(hook.requests) == 1
    headers = delivery["headers"]
    signed = {"event": "intelligence_rule", "idempotency_key": delivery["idempotency_key"]}
    assert headers["x-switchboard-event"] == "intelligence_rule"
    assert verify_signature(delivery["raw"], headers["x-switchboard-signature"], SECRET, **signed)
    assert not verify_signature(
        delivery["raw"], headers["x-switchboard-signature"], OPERATOR_KEY, **signed
    )
    body = delivery["body"]
    assert set(body) == {
        "rule", "conversation_id", "customer", "operator", "trigger", "turns", "result", "at",
    }  # fmt: skip
    assert body["rule"] == "unhappy" and body["operator"] == "sentiment"
    assert body["conversation_id"] == conversation_id(customer)
    assert body["customer"] == customer
    assert body["trigger"] == "turn" and body["turns"] == [1, 1]
    assert body["result"]["label"] == "negative"
    assert delivery["idempotency_key"].endswith(":rule-unhappy-turn-1-webhook-0")
    assert view.tags == ["unhappy"]
    assert [e.text for e in view.transcript].count("rule unhappy fired on sentiment (turn)") == 1
    # The run, rules and webhook included, replays under the workflow sandbox.
    replayer = Replayer(workflows=[ConversationWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


async def test_a_rule_hands_off_naming_itself_and_stops_outbound(
    tmp_path: Path, temporal_server: DevServer, client: Client
) -> None:
    path = intelligence_file(tmp_path, """
[operator.cancel_words]
kind = "phrases"
phrases = ["cancel my subscription"]
on = "turn"

[rules.cancellation]
operator = "cancel_words"
when = { field = "matched", equals = true }
actions = ["handoff", "do_not_contact"]
""")  # fmt: skip
    async with running_stack(
        tmp_path, temporal_server, client, llm_base_url=None,
        twilio_phone_number=BUSINESS_NUMBER, intelligence_file=path,
    ) as s:  # fmt: skip
        customer = unique_customer()
        await s.text(customer, "Hi, I want to cancel my subscription please")
        await s.twilio.wait_for_messages(1, timeout=20)

        async def handed_off() -> bool:
            view = await s.describe(customer)
            return view.status is ConversationStatus.HANDOFF_PENDING

        await s.eventually(handed_off, timeout=20)
        view = await s.describe(customer)
        assert view.handoff is not None and view.handoff.source == "rule"
        assert view.handoff.reason == "rule cancellation: cancel_words matched is true"
        assert any(r["operator"] == "cancel_words" for r in await results(s, customer))
        response = await s.http.post(
            f"{s.gateway_url}/api/conversations",
            json={"to": customer, "channel": "sms", "text": "A new offer"},
        )
        assert response.status_code == 409, response.text
        assert "asked not to be contacted" in response.json()["detail"]

"""The conversation worker: ``python worker.py``. All configuration comes from the environment."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import structlog
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxRestrictions

from activities.calls import CallActivities
from activities.conversations import ConversationStarter
from activities.delivery import DeliveryActivities
from activities.handoff import HandoffActivities
from activities.intelligence import IntelligenceActivities, store_recall
from activities.llm import LLMActivities, openai_client
from activities.memory import MemoryActivities
from activities.reanalysis import ReanalysisActivities
from activities.rule_webhooks import RuleWebhooks
from activities.tools import ToolActivities
from switchboard.agent import load_agent, tool_http_client
from switchboard.agent.http_client import NoCookieJar
from switchboard.agent.mcp_runtime import mcp_connections
from switchboard.contract import search_attributes
from switchboard.intelligence import Analyzer, load_operators, load_rules, webhook_secret
from switchboard.memory.setup import open_memory
from switchboard.runtime.config import Settings, get_settings
from switchboard.runtime.logging import configure_logging
from switchboard.runtime.outbox import open_outbox
from switchboard.runtime.outbox_postgres import PostgresOutbox
from switchboard.runtime.sandbox import LeanSandboxedWorkflowRunner
from switchboard.runtime.temporal import connect, ensure_search_attributes
from switchboard.runtime.tracing import start_tracing, stop_tracing, worker_interceptors
from switchboard.runtime.versioning import deployment_config
from switchboard.twilio.rest import TwilioRestClient
from workflows.callback import CallbackWorkflow
from workflows.conversation import ConversationWorkflow
from workflows.reanalysis import ReanalysisWorkflow
from workflows.starting import conversation_config

log = structlog.get_logger("worker")


def workflow_runner(settings: Settings) -> WorkflowRunner:
    """The workflow sandbox (``WORKFLOW_SANDBOX``, on by default), or none.

    The sandbox re-imports the workflow module for every conversation run and proxies every
    activation. This one is the SDK's without an ``exec`` per payload (``runtime.sandbox``),
    which was most of its CPU per turn; what remains is within run-to-run noise in
    ``benchmarks/scale.py``, while each cached run still takes ~130 KB more memory. Without
    it, determinism is still proven in CI: the replay tests run every recorded history
    through the sandboxed runner (``tests/workflows/test_replay.py``).
    """
    if settings.workflow_sandbox:
        return LeanSandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(
                "switchboard", "activities", "pydantic", "pydantic_core", "structlog",
                "httpx", "openai", "phonenumbers",
            )
        )  # fmt: skip
    return UnsandboxedWorkflowRunner()


class WorkerPool:
    """The worker process's Temporal workers, run and stopped together.

    One polls the conversation task queue (workflows and their activities); with
    conversation intelligence on, another polls the intelligence task queue (operators, and
    re-analyses with their activities), so a separate pool can serve the operators by running
    only that queue's worker elsewhere.
    """

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers
        self._running = contextlib.AsyncExitStack()

    async def __aenter__(self) -> WorkerPool:
        for worker in self.workers:
            await self._running.enter_async_context(worker)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._running.aclose()

    async def run(self) -> None:
        """Poll every queue until shut down."""
        await asyncio.gather(*(worker.run() for worker in self.workers))

    async def shutdown(self) -> None:
        """Stop polling and let running tasks finish (``graceful_shutdown_timeout``)."""
        await asyncio.gather(*(worker.shutdown() for worker in self.workers))


@contextlib.asynccontextmanager
async def build_worker(
    client: Client, settings: Settings, *, legacy_outbox: Path | None = None
) -> AsyncIterator[WorkerPool]:
    """The workers of this process, with their clients; closes them on exit.

    ``legacy_outbox``: a pre-upgrade local outbox file whose claims a PostgreSQL outbox
    imports before any worker polls (``main`` passes ``Settings.outbox_path``).
    """
    agent = load_agent(settings)
    outbox = open_outbox(settings)  # with PostgreSQL memory, a table every host shares
    if legacy_outbox is not None and isinstance(outbox, PostgresOutbox):
        # Before polling: a send retried now must find the claims this host made before.
        await outbox.import_local(legacy_outbox)
    store = await open_memory(settings)
    # Neither client keeps cookies: each serves every customer, so a cookie one customer's
    # request brought back must not go out with the next customer's. The agent's tools get
    # their own client (their servers are the agent author's, not ours).
    async with (
        httpx.AsyncClient(
            cookies=NoCookieJar(),
            timeout=httpx.Timeout(15.0, connect=5.0),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
        ) as http,
        tool_http_client() as tools_http,
        mcp_connections(agent),  # MCP servers' tools, listed into the agent's catalogue
    ):
        rest = TwilioRestClient(
            http, settings.twilio_rest_base_url, settings.account_sid, settings.auth_token
        )
        memory = MemoryActivities(store, settings, openai_client(settings))
        # A text turn's recall runs inside its model call (one activation fewer a turn).
        llm = LLMActivities(settings, agent=agent, recall=memory.recall_context)
        delivery = DeliveryActivities(settings, rest, outbox)
        handoff = HandoffActivities(settings, http, store, openai_client(settings), outbox)
        calls = CallActivities(settings, rest, outbox, agent)
        tools = ToolActivities(agent, tools_http, store)
        starter = ConversationStarter(
            client,
            settings.temporal_task_queue,
            conversation_config(settings, agent),
            settings.workflow_task_timeout,
        )
        operators_client = openai_client(settings)
        workers = [
            Worker(
                client,
                task_queue=settings.temporal_task_queue,
                workflows=[ConversationWorkflow, CallbackWorkflow],
                workflow_runner=workflow_runner(settings),
                activities=[
                    llm.generate_reply,
                    delivery.send_message,
                    memory.recall_context,
                    memory.remember,
                    memory.search_knowledge,
                    memory.record_conversation,
                    handoff.prepare_handoff,
                    handoff.deliver_handoff,
                    handoff.notify_human_side,
                    handoff.cancel_handoff_task,
                    calls.place_call,
                    tools.run_tool,
                    tools.mcp_tools,
                    starter.start_outbound,
                ],
                graceful_shutdown_timeout=timedelta(seconds=5),
                max_cached_workflows=settings.worker_max_cached_workflows,
                # A task for a conversation cached here waits this long on this worker's
                # own queue before any worker may take it: short, so a text to a dead
                # worker's conversation is answered elsewhere in seconds (at one replay).
                sticky_queue_schedule_to_start_timeout=settings.worker_sticky_timeout,
                deployment_config=deployment_config(settings),
                interceptors=worker_interceptors(client),
            )
        ]
        if settings.intelligence:
            operators = load_operators(settings, agent)
            # The rules' webhooks are signed here: no secret, no start (when a rule posts one).
            rule_webhooks = RuleWebhooks(
                http, webhook_secret(settings, load_rules(settings, agent, operators))
            )
            analyzer = Analyzer(
                operators,
                operators_client,
                (agent.model if agent else None) or settings.llm_model,
                recall=store_recall(store),
            )
            intelligence = IntelligenceActivities(analyzer, store)
            reanalysis = ReanalysisActivities(analyzer, store)
            workers.append(
                Worker(
                    client,
                    task_queue=settings.analysis_task_queue,
                    workflows=[ReanalysisWorkflow],
                    workflow_runner=workflow_runner(settings),
                    activities=[
                        intelligence.analyze_conversation,
                        rule_webhooks.post_rule_webhook,
                        reanalysis.count_stored_runs,
                        reanalysis.list_stored_runs,
                        reanalysis.reanalyze_batch,
                    ],
                    graceful_shutdown_timeout=timedelta(seconds=5),
                    interceptors=worker_interceptors(client),
                    deployment_config=deployment_config(settings),
                )
            )
        try:
            yield WorkerPool(workers)
        finally:
            await llm.close()
            await memory.close()
            await handoff.close()
            if operators_client is not None:
                await operators_client.close()
            await store.close()
            await outbox.aclose()


async def main() -> None:
    """Connect, register search attributes, and run until SIGINT or SIGTERM."""
    settings = get_settings()
    configure_logging(
        settings.log_level, settings.log_format, mask_numbers=settings.log_mask_numbers
    )
    # Which loop it runs on (WORKER_EVENT_LOOP): "uvloop" or "asyncio".
    event_loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    log.info("worker_starting", event_loop=event_loop, **settings.safe_summary())
    # Before connecting: the client takes its tracing interceptor from it.
    start_tracing("switchboard-worker")
    client = await connect(settings)
    await ensure_search_attributes(client, settings.temporal_namespace, search_attributes.ALL)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with build_worker(client, settings, legacy_outbox=settings.outbox_path) as worker:
        run = asyncio.create_task(worker.run())
        await stop.wait()
        log.info("worker_stopping")
        await worker.shutdown()
        await run
    stop_tracing()  # export the last spans


def run() -> None:
    """Run ``main`` on the event loop ``WORKER_EVENT_LOOP`` names (uvloop where installed).

    The SDK hands every activation and local activity result to the worker through the
    event loop, and the activities' HTTP calls run on it: uvloop took ~1.7 ms of CPU off a
    text turn (8.8 → 7.1 ms with the rest unchanged, ``benchmarks/README.md``). Workflow
    code is unaffected: it runs on the SDK's own deterministic loop either way.
    """
    run_on_loop(main)


def run_on_loop(entry: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``entry()`` to completion on the event loop ``WORKER_EVENT_LOOP`` names."""
    choice = get_settings().worker_event_loop
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise
        else:
            uvloop.run(entry())
            return
    asyncio.run(entry())


if __name__ == "__main__":
    run()

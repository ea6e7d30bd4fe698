"""Worker Versioning from the settings: off by default, both names or none, into every Worker."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from switchboard.devtools.devserver import DevServer
from switchboard.runtime.config import Settings
from switchboard.runtime.versioning import deployment_config
from tests.conftest import stack_settings
from tests.support.gate_workflows import ProbeV1, probe_step
from worker import build_worker


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_unset_means_unversioned() -> None:
    assert deployment_config(_settings()) is None


def test_a_name_and_a_build_id_make_a_versioned_worker_that_auto_upgrades() -> None:
    config = deployment_config(
        _settings(temporal_deployment_name="switchboard", temporal_build_id="2026-12-06.1")
    )
    assert config is not None
    assert config.version == WorkerDeploymentVersion("switchboard", "2026-12-06.1")
    assert config.use_worker_versioning
    assert config.default_versioning_behavior is VersioningBehavior.AUTO_UPGRADE


def test_pinned_can_be_chosen_in_either_case() -> None:
    settings = _settings(
        temporal_deployment_name="switchboard",
        temporal_build_id="b2",
        temporal_versioning_behavior="PINNED",
    )
    config = deployment_config(settings)
    assert config is not None
    assert config.default_versioning_behavior is VersioningBehavior.PINNED
    assert settings.safe_summary()["worker_version"] == "switchboard:b2 (pinned)"


@pytest.mark.parametrize(
    "values",
    [
        {"temporal_deployment_name": "switchboard"},
        {"temporal_build_id": "b1"},
        {
            "temporal_deployment_name": "s",
            "temporal_build_id": "b",
            "temporal_versioning_behavior": "x",
        },
    ],
)
def test_half_a_version_or_an_unknown_behaviour_is_refused(values: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        _settings(**values)


@pytest.mark.parametrize("versioned", [True, False], ids=["versioned", "unversioned"])
async def test_every_worker_of_the_process_gets_the_version(
    tmp_path: Path, temporal_server: DevServer, client: Client, versioned: bool
) -> None:
    version = {"temporal_deployment_name": "switchboard", "temporal_build_id": "b1"}
    settings = stack_settings(tmp_path, temporal_server, **(version if versioned else {}))
    async with build_worker(client, settings) as pool:
        assert len(pool.workers) == 2  # conversations, and intelligence
        for worker in pool.workers:
            config = worker.config()["deployment_config"]
            assert config == deployment_config(settings)


async def test_a_versioned_worker_polls_and_runs_its_workflows(client: Client) -> None:
    """On the dev server: the version registers by polling, becomes current, runs a run."""
    queue = f"versioned-{uuid.uuid4().hex[:8]}"
    settings = _settings(temporal_deployment_name=f"sb-{queue}", temporal_build_id="b1")
    config = deployment_config(settings)
    assert config is not None
    async with Worker(
        client,
        task_queue=queue,
        workflows=[ProbeV1],
        activities=[probe_step],
        workflow_runner=UnsandboxedWorkflowRunner(),
        deployment_config=config,
    ):
        await _make_current(client, f"sb-{queue}", "b1")
        handle = await client.start_workflow(ProbeV1.run, id=queue, task_queue=queue)
        await handle.signal(ProbeV1.finish)
        assert await asyncio.wait_for(handle.result(), 20) == "one"
        info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
        assert info.deployment_version.build_id == "b1"
        assert info.behavior == int(VersioningBehavior.AUTO_UPGRADE)


async def _make_current(client: Client, deployment: str, build_id: str) -> None:
    """Once the poller has registered the version (a moment after the worker starts)."""
    request = SetWorkerDeploymentCurrentVersionRequest(
        namespace=client.namespace, deployment_name=deployment, build_id=build_id
    )
    for _ in range(100):
        try:
            await client.workflow_service.set_worker_deployment_current_version(request)
            return
        except RPCError:
            await asyncio.sleep(0.2)
    raise AssertionError("the version never registered")

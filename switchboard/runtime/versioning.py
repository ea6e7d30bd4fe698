"""Worker Versioning from the settings: which deployment version a worker's code is.

Off unless both ``TEMPORAL_DEPLOYMENT_NAME`` and ``TEMPORAL_BUILD_ID`` are set; then every
worker of the process polls as that version of the deployment, and its workflows default
to ``TEMPORAL_VERSIONING_BEHAVIOR``.

The default behaviour is auto-upgrade, and that is deliberate for this project. A
conversation is one workflow per customer that continues as new and lives as long as the
customer keeps talking; a callback sleeps until its due time, weeks away if asked. Pinned,
each would stay on the build it started on until it ends, so an old build's workers would
have to keep running for as long as the longest of them (a continue-as-new of a pinned run
inherits its version too). Auto-upgrade moves every open workflow to the current version on
its next task, which is safe only if the new code replays the old histories: that is what
``workflow.patched`` is for, and what the replay gate (``switchboard.devtools.replay_gate``)
checks before a rollout. Pinned stays available for deployments that would rather drain.
"""

from __future__ import annotations

from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import WorkerDeploymentConfig

from switchboard.runtime.config import Settings

BEHAVIORS = {
    "auto_upgrade": VersioningBehavior.AUTO_UPGRADE,
    "pinned": VersioningBehavior.PINNED,
}
"""``TEMPORAL_VERSIONING_BEHAVIOR`` values and the behaviour each names."""


def deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    """The worker's deployment version, or None (unversioned) when it is not configured."""
    if settings.temporal_deployment_name is None or settings.temporal_build_id is None:
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(
            deployment_name=settings.temporal_deployment_name,
            build_id=settings.temporal_build_id,
        ),
        use_worker_versioning=True,
        default_versioning_behavior=BEHAVIORS[settings.temporal_versioning_behavior],
    )

"""Three versions of one tiny workflow, for the replay gate's tests.

All register as ``GateProbe``. ``ProbeV1`` is the deployed behaviour: an activity, then it
waits to be told to finish. ``ProbeTimerFirst`` inserts a timer before the activity without
a patch (a history of ``ProbeV1`` cannot replay on it); ``ProbeTimerFirstPatched`` puts the
same timer behind ``workflow.patched`` (old histories take the old path). Kept out of the
test module, which the sandbox would otherwise re-import with pytest in it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

PROBE_ACTIVITY = "gate_probe_step"
_STEP = timedelta(seconds=10)


@activity.defn(name=PROBE_ACTIVITY)
async def probe_step(value: str) -> str:
    """The probe's one activity: answers what it is given."""
    return value


@workflow.defn(name="GateProbe")
class ProbeV1:
    """The deployed version."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> str:
        result: str = await workflow.execute_activity(
            PROBE_ACTIVITY, "one", start_to_close_timeout=_STEP
        )
        await workflow.wait_condition(lambda: self.done)
        return result

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@workflow.defn(name="GateProbe")
class ProbeTimerFirst(ProbeV1):
    """A timer before the activity, unguarded: the commands come in another order."""

    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(0.1)
        return await super().run()


@workflow.defn(name="GateProbe")
class ProbeTimerFirstPatched(ProbeV1):
    """The same timer, only for runs that start on this version."""

    @workflow.run
    async def run(self) -> str:
        if workflow.patched("timer-first"):
            await workflow.sleep(0.1)
        return await super().run()

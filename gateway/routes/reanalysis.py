"""Operator API for re-analysis: run operators again over stored conversations.

``POST /api/intelligence/reanalyses`` starts one (202, with its id and a ``Location``),
``GET /api/intelligence/reanalyses/{id}`` answers its progress, and
``POST /api/intelligence/reanalyses/{id}/cancel`` stops it (started again with the same
selection, it skips what is done). ``make reanalyze`` does the same from a terminal, with a
progress bar.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from gateway.dependencies import AgentDep, SettingsDep, operator_auth
from switchboard.contract.addresses import InvalidAddress, to_e164
from switchboard.contract.reanalysis import ReanalysisProgress, ReanalysisRequest
from switchboard.intelligence import load_operators
from workflows.reanalysis_control import Reanalyses, new_reanalysis_id, valid_reanalysis_id

router = APIRouter(
    prefix="/api/intelligence", dependencies=[Depends(operator_auth)], tags=["intelligence"]
)


async def get_reanalyses(request: Request, settings: SettingsDep) -> Reanalyses:
    """Re-analyses on the gateway's Temporal client."""
    client: Client = request.app.state.conversations.client
    return Reanalyses(client, settings.analysis_task_queue)


ReanalysesDep = Annotated[Reanalyses, Depends(get_reanalyses)]


def _unavailable(exc: RPCError) -> HTTPException:
    return HTTPException(status_code=503, detail=f"Temporal unavailable: {exc.message}")


@router.post("/reanalyses", status_code=202)
async def start_reanalysis(
    body: ReanalysisRequest, settings: SettingsDep, agent: AgentDep, reanalyses: ReanalysesDep
) -> JSONResponse:
    """Start a re-analysis of the stored conversations ``body`` selects (202 with its id).

    422 for an operator no worker runs (the names are this deployment's operators: the
    built-ins that are on, the agent's and ``INTELLIGENCE_FILE``'s); 409 when conversation
    intelligence is off.
    """
    if not settings.intelligence:
        raise HTTPException(status_code=409, detail="conversation intelligence is off")
    known = {operator.name for operator in load_operators(settings, agent)}
    if unknown := [name for name in body.operators if name not in known]:
        raise HTTPException(
            status_code=422,
            detail=f"unknown operator {unknown[0]!r} (known: {', '.join(sorted(known))})",
        )
    if body.customer is not None:
        try:
            body.customer = to_e164(body.customer)
        except InvalidAddress as exc:
            raise HTTPException(status_code=422, detail=f"customer: {exc}") from exc
    if body.start is not None and body.end is not None and body.start >= body.end:
        raise HTTPException(status_code=422, detail="from must be before to")
    reanalysis_id = new_reanalysis_id()
    try:
        await reanalyses.start(body, reanalysis_id)
    except WorkflowAlreadyStartedError as exc:  # 48 random bits: practically never
        raise HTTPException(status_code=409, detail="try again") from exc
    except RPCError as exc:
        raise _unavailable(exc) from exc
    location = f"/api/intelligence/reanalyses/{reanalysis_id}"
    return JSONResponse(
        {"id": reanalysis_id, "status": "running", "progress": location},
        status_code=202,
        headers={"Location": location},
    )


@router.get("/reanalyses/{reanalysis_id}")
async def reanalysis_progress(reanalysis_id: str, reanalyses: ReanalysesDep) -> ReanalysisProgress:
    """How far a re-analysis is: counts, status, conversations per second so far."""
    if not valid_reanalysis_id(reanalysis_id):
        raise HTTPException(status_code=404, detail="no such re-analysis")
    try:
        progress = await reanalyses.progress(reanalysis_id)
    except RPCError as exc:
        raise _unavailable(exc) from exc
    if progress is None:
        raise HTTPException(status_code=404, detail="no such re-analysis")
    return progress


@router.post("/reanalyses/{reanalysis_id}/cancel", status_code=202)
async def cancel_reanalysis(reanalysis_id: str, reanalyses: ReanalysesDep) -> dict[str, str]:
    """Stop a running re-analysis (404 when none runs under that id)."""
    if not valid_reanalysis_id(reanalysis_id):
        raise HTTPException(status_code=404, detail="no running re-analysis")
    try:
        cancelled = await reanalyses.cancel(reanalysis_id)
    except RPCError as exc:
        raise _unavailable(exc) from exc
    if not cancelled:
        raise HTTPException(status_code=404, detail="no running re-analysis")
    return {"id": reanalysis_id, "status": "cancelling"}

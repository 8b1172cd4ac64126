"""`/_threadloom/…`: health, the request counter and the HTTP fault queue (outside `/v1` and auth)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from threadloom.threads_server.errors import APIError, not_found
from threadloom.threads_server.faults import HttpFault
from threadloom.threads_server.request_body import read_body
from threadloom.threads_server.services import Services, services

router = APIRouter(prefix="/_threadloom", tags=["threadloom"])
Svc = Annotated[Services, Depends(services)]


@router.get("/health")
async def health(svc: Svc) -> dict[str, Any]:
    """Liveness, plus what this server offers."""
    return {
        "ok": True,
        "long_poll_max_ms": svc.settings.long_poll_max_ms,
        "faults_enabled": svc.settings.faults_enabled,
        "idempotency_retention_seconds": svc.settings.idempotency_retention_seconds,
    }


@router.get("/stats")
async def stats(svc: Svc) -> dict[str, Any]:
    """Requests seen since start-up (or the last reset), total and per route; idempotency counters."""
    return _stats(svc)


@router.post("/stats/reset")
async def reset_stats(svc: Svc) -> dict[str, Any]:
    """Start counting from zero."""
    svc.stats.reset()
    svc.idempotency.reset()
    return _stats(svc)


def _stats(svc: Services) -> dict[str, Any]:
    return {**svc.stats.snapshot(), "idempotency": svc.idempotency.snapshot()}


@router.get("/runs/{run_id}/finished")
async def run_finished(run_id: str, svc: Svc) -> dict[str, Any]:
    """When the run reached its terminal status, in Unix milliseconds (`completed_at` has seconds)."""
    found = svc.runner.finish_times.get(run_id)
    if found is None:
        raise not_found("finished run", run_id)
    return found


def _require_faults(svc: Services) -> None:
    if not svc.settings.faults_enabled:
        raise APIError("Fault injection is disabled; start the server with --faults.")


@router.post("/faults")
async def add_fault(request: Request, svc: Svc) -> dict[str, Any]:
    """Queue an HTTP fault for matching requests."""
    _require_faults(svc)
    fault = await read_body(request, HttpFault)
    svc.faults.add(fault)
    return {"faults": svc.faults.pending()}


@router.get("/faults")
async def list_faults(svc: Svc) -> dict[str, Any]:
    """The queued HTTP faults."""
    return {"faults": svc.faults.pending()}


@router.delete("/faults")
async def clear_faults(svc: Svc) -> dict[str, Any]:
    """Forget every queued HTTP fault."""
    svc.faults.clear()
    return {"faults": []}

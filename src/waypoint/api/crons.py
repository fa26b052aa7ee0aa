"""Cron routes (`langgraph_sdk` `CronClient`): `/runs/crons…` and `/threads/{thread_id}/runs/crons`."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, Response

from waypoint.api.deps import JSONResponse, services
from waypoint.api.models import CronCount, CronCreate, CronPatch, CronSearch
from waypoint.service import Services

router = APIRouter(tags=["crons"], default_response_class=JSONResponse)


@router.post("/runs/crons")
async def create_cron(body: CronCreate, s: Services = Depends(services)):
    return await s.crons.create(None, body.fields())


@router.post("/threads/{thread_id}/runs/crons")
async def create_thread_cron(thread_id: UUID, body: CronCreate, s: Services = Depends(services)):
    return await s.crons.create(str(thread_id), body.fields())


@router.post("/runs/crons/search")
async def search_crons(body: CronSearch, s: Services = Depends(services)):
    return await s.crons.search(body.fields())


@router.post("/runs/crons/count")
async def count_crons(body: CronCount, s: Services = Depends(services)):
    return await s.crons.count(body.fields())


@router.get("/runs/crons/{cron_id}")
async def get_cron(cron_id: UUID, s: Services = Depends(services)):
    return await s.crons.get(str(cron_id))


@router.patch("/runs/crons/{cron_id}")
async def patch_cron(cron_id: UUID, body: CronPatch, s: Services = Depends(services)):
    return await s.crons.update(str(cron_id), body.fields())


@router.delete("/runs/crons/{cron_id}", status_code=204)
async def delete_cron(cron_id: UUID, s: Services = Depends(services)):
    await s.crons.delete(str(cron_id))
    return Response(status_code=204)

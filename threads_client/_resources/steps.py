"""``/threads/{thread_id}/runs/{run_id}/steps``."""

from __future__ import annotations

from typing import Literal

from threadloom.threads_client._models_step import RunStep
from threadloom.threads_client._pagination import AsyncPage
from threadloom.threads_client._resources._base import Resource, path


class Steps(Resource):
    """The steps of a run."""

    def list(
        self,
        thread_id: str,
        run_id: str,
        *,
        limit: int | None = None,
        order: Literal["asc", "desc"] | None = None,
        after: str | None = None,
        before: str | None = None,
    ) -> AsyncPage[RunStep]:
        """List the steps of a run (newest first unless ``order="asc"``).

        Returns:
            A page: ``await`` it for the first page, or ``async for`` over every step.
        """
        route = path("threads", thread_id, "runs", run_id, "steps")
        params = {"limit": limit, "order": order, "after": after, "before": before}
        return self._client.page(RunStep, route, params)

    async def retrieve(self, thread_id: str, run_id: str, step_id: str) -> RunStep:
        """Read one run step."""
        route = path("threads", thread_id, "runs", run_id, "steps", step_id)
        return await self._client.request_model(RunStep, "GET", route)

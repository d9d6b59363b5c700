"""The steps of a call, in order (workers/pipeline.py runs them): read what the call links to, write the call,
complete its task."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from outreach import api
from outreach.client import Params
from outreach.errors import OutreachRejected
from workers.after_call_steps import AFTER_CALL_STEPS, ReadOutcome
from workers.mapping import Links, call_attributes, call_relationships, dialed_number, e164
from workers.outcome import ProspectNotFound
from workers.pipeline import CallRun, Check, ReadStep, Step, WriteStep

# Of the task, only what the call needs (sparse fieldset: attributes and relationships alike, as call_tasks.py
# reads them): less of Outreach's data crosses into the job, and less JSON to parse.
TASK_FIELDS: Params = {"fields[task]": "state,prospect,sequence,sequenceState,sequenceStep"}
TASK_STATE: Params = {"fields[task]": "state"}


class Resolve(ReadStep):
    """Task, disposition and prospect, read just in time (concurrently where they do not depend)."""

    async def read(self, run: CallRun) -> None:
        call, rep = run.call, run.rep
        if call.disposition_id is None and call.disposition:
            task, disposition_id = await _all(self._task(run), self._disposition(run))
        else:  # only the task read goes to Outreach (the usual case): nothing to gather
            task, disposition_id = await self._task(run), call.disposition_id
        prospect_id = call.prospect_id
        if prospect_id is not None and (task is None or task.related_id("prospect") != prospect_id):
            # A task on this prospect already vouches for it.
            if await api.get_one(rep, "prospects", prospect_id) is None:
                raise ProspectNotFound
        if prospect_id is None and task is not None:
            prospect_id = task.related_id("prospect")
        if prospect_id is None:
            number = dialed_number(call)
            prospect_id = await api.prospect_id_by_number(rep, e164(number)) if number else None
        if prospect_id is None:
            raise ProspectNotFound
        run.task = task
        run.links = Links(
            prospect_id=prospect_id,
            user_id=run.user_id,
            disposition_id=disposition_id,
            task_id=task.id if task else None,
            sequence_id=task.related_id("sequence") if task else None,
            sequence_state_id=task.related_id("sequenceState") if task else None,
            sequence_step_id=task.related_id("sequenceStep") if task else None,
        )

    async def _task(self, run: CallRun) -> Any:
        task_id = run.call.task_id
        if task_id is None:
            return None
        task = await api.get_one(run.rep, "tasks", task_id, params=TASK_FIELDS)
        if task is not None and "prospect" not in task.relationships:
            # Sparse relationships are not confirmed for Outreach: if they did not come back, read it whole.
            task = await api.get_one(run.rep, "tasks", task_id)
        if task is None:
            run.flags.append("task_not_found")
        return task

    async def _disposition(self, run: CallRun) -> int | None:
        found = await api.disposition_id_by_name(run.rep, run.call.disposition or "")
        if found is None:
            run.flags.append("disposition_unknown")
        return found


class WriteCall(WriteStep):
    """`POST /calls`; done when a call with this call_id as its `vendorCallId` is on the prospect."""

    name = "call"
    story = "call_written"
    essential = True  # a call Outreach refuses cannot be logged: a person must look

    async def found(self, run: CallRun) -> str | None:
        found = await api.call_id_by_vendor_id(run.rep, run.resolved.prospect_id, run.call.call_id)
        return str(found) if found is not None else None

    async def act(self, run: CallRun, found: Check) -> str:
        links = run.resolved
        try:
            return str(await self._post(run, links, found))
        except OutreachRejected as rejected:
            # The disposition id came from Nooks unchecked (one request less per call). If that is what Outreach
            # refused, log the call without it and flag the event, as for an unknown disposition name.
            if rejected.status != 422 or links.disposition_id is None or run.call.disposition_id is None:
                raise
            if await api.get_one(run.rep, "callDispositions", links.disposition_id) is not None:
                raise
            run.flags.append("disposition_not_found")
            return str(await self._post(run, replace(links, disposition_id=None), found))

    async def _post(self, run: CallRun, links: Links, found: Check) -> int:
        async def written() -> int | None:
            marker = await found()
            return int(marker) if marker is not None else None

        return await api.create_call(run.rep, call_attributes(run.call), call_relationships(links), done=written)

    def adopt(self, run: CallRun, marker: str) -> None:
        run.outreach_call_id = int(marker)


class CompleteTask(WriteStep):
    """markComplete on the linked task, when it is open and the call's outcome completes it (with the finish it
    asks for, `actionParams[completionAction]`); done when the task is complete (completing a complete task is
    refused). Its marker is the task's id, then `:<flag>` when a finish asked for could not be sent."""

    name = "task"
    story = "task_completed"
    check_on_resume = False  # `wanted` reads the task's state this attempt: an open task is not done

    def wanted(self, run: CallRun) -> bool:
        task, plan = run.task, run.plan
        if task is None or plan is None or plan.task != "complete":
            return False
        # A finish asked of a task already complete is told (flagged), not silently dropped.
        return task.attributes.get("state") != "complete" or plan.completion_action is not None

    async def found(self, run: CallRun) -> str | None:
        task = await api.get_one(run.rep, "tasks", run.task.id, params=TASK_STATE)
        return str(task.id) if task is not None and task.attributes.get("state") == "complete" else None

    async def act(self, run: CallRun, found: Check) -> str:
        async def completed() -> bool | None:
            return True if await found() is not None else None

        task_id = run.task.id
        if run.task.attributes.get("state") == "complete":  # only with a finish asked for (`wanted`)
            # On a later attempt it may be this call's own completion whose marker was not written: no flag then.
            if run.resuming:
                return str(task_id)
            run.services.ops.telemetry.count("flagged_sequence")
            return f"{task_id}:sequence_refused:task_complete"
        completion = run.plan.completion_action if run.plan is not None else None
        caveat = ""
        if completion is not None and run.resolved.sequence_state_id is None:
            completion, caveat = None, ":sequence_refused:no_sequence_state"  # only Outreach could tell
            run.services.ops.telemetry.count("flagged_sequence")
        await api.mark_task_complete(run.rep, task_id, done=completed, completion_action=completion)
        if completion is not None:
            run.story("sequence_finished", detail=completion)
        return f"{task_id}{caveat}"

    def adopt(self, run: CallRun, marker: str) -> None:
        caveat = marker.partition(":")[2]
        if caveat:
            run.flags.append(caveat)


# What a call is, in order: read, decide the outcome, write the call, then each after-call action.
CALL_STEPS: tuple[Step, ...] = (Resolve(), ReadOutcome(), WriteCall(), CompleteTask(), *AFTER_CALL_STEPS)


async def _all(*reads: Any) -> list[Any]:
    """Run reads concurrently; if any fails, let all finish, then raise the first failure.

    Unlike a bare gather, no read is left running in the background after the job moves on.
    """
    results = await asyncio.gather(*reads, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)

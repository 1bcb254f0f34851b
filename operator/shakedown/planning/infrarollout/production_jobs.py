"""``rollback.jobs``: test Jobs run in production once it runs the change; a failure rolls back.

Some breakage shows in no probe: a build that starts, answers readiness and
then does nothing (an operator that stops reconciling). A Job in production,
in the candidate image and with the workload's permissions, can prove the
build does its work while the old version still serves. The Jobs run through
the same Job check as the shadow's smoke tests (``checks.job``); this decides
when they start, what they run as, and what their outcome means.

They start once production runs the change: for Canary when the first step's
pods are rolled out (``current_step`` past it), for Replace and BlueGreen when
the shift is done (Baking). While one runs the shift does not move on and the
bake does not end, so a Canary's old pods stay until the check has spoken.
Each Job is named after the rollout, the check and the revision, and the name
is written to ``status.checks`` when it is first asked for: a restarted
operator finds that Job instead of starting a second. Its owner is the
InfraRollout, so deleting the rollout deletes its Jobs; before that, only the
Jobs of the revisions ``status.history`` lists are kept: as a revision ends,
those of older revisions are deleted (``job_pruning``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from shakedown.api.infrarollout import (
    CheckPhase,
    CheckStatus,
    CheckType,
    ProductionJobCheck,
    RolloutPhase,
    StrategyType,
)
from shakedown.planning.infrarollout.actions import RunCheck
from shakedown.planning.infrarollout.bake import Verdict
from shakedown.planning.infrarollout.context import RunContext
from shakedown.planning.infrarollout.objects import WORKLOAD_KINDS, Obj, ObjKey, pod_spec
from shakedown.planning.infrarollout.production_checks import Start, judge_production_checks
from shakedown.planning.infrarollout.revision import resolve_change
from shakedown.planning.infrarollout.smoke import candidate_image
from shakedown.planning.infrarollout.strategies import ShiftContext

#: Status name prefix of the checks judged against production (as for rollback.metrics).
PREFIX = "production-"
_NAME_LIMIT = 63


def check_name(job: ProductionJobCheck) -> str:
    return f"{PREFIX}{job.name}"


def job_name(rollout: str, check: str, revision: int) -> str:
    """The Job's name: one per rollout, check and revision (a hash keeps long ones apart)."""
    name = re.sub(r"[^a-z0-9-]", "-", f"shakedown-{rollout}-{check}-r{revision}".lower())
    if len(name) <= _NAME_LIMIT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    tail = f"-r{revision}-{digest}"
    return name[: _NAME_LIMIT - len(tail)].rstrip("-") + tail


def change_is_live(run: RunContext) -> bool:
    """Whether production runs the change, so that its Jobs may start."""
    status = run.status
    if status.phase is RolloutPhase.BAKING:
        return True
    if status.phase is not RolloutPhase.SHIFTING:
        return False
    return run.spec.strategy.type is StrategyType.CANARY and (status.current_step or 0) >= 1


def running(run: RunContext) -> list[str]:
    """The production Job checks not yet finished (the shift and the bake wait for them)."""
    wanted = {check_name(j) for j in run.spec.rollback.jobs}
    ended = (CheckPhase.PASSED, CheckPhase.FAILED)
    finished = {c.name for c in run.status.checks if c.phase in ended}
    return sorted(wanted - finished)


def _template_of(ctx: ShiftContext, container: str | None) -> tuple[Obj, Obj]:
    """The pod spec and container the Job runs like: the target holding ``container``."""
    specs: list[Obj] = []
    for key in ctx.workloads():
        obj = ctx.desired.get(key) or ctx.snapshot.get(key)
        if obj is not None:
            specs.append(pod_spec(obj))
    for pod in specs:
        for c in pod.get("containers") or []:
            if container is None or c.get("name") == container:
                return pod, c
    return (specs[0] if specs else {}), {}


def job_body(job: ProductionJobCheck, ctx: ShiftContext, name: str) -> dict[str, object]:
    """What the Job check is given: the spec, its Job's name, and what it runs as."""
    pod, container = _template_of(ctx, job.container)
    body: dict[str, object] = {**job.to_api(), "jobName": name}
    body["serviceAccountName"] = job.service_account_name or pod.get("serviceAccountName")
    body["ownerReferences"] = [ctx.who.owner_reference()]
    for key, value in (
        ("podSecurityContext", pod.get("securityContext")),
        ("securityContext", container.get("securityContext")),
        ("imagePullSecrets", pod.get("imagePullSecrets")),
    ):
        if value:
            body[key] = value
    return {k: v for k, v in body.items() if v is not None}


def judge_production_jobs(run: RunContext, ctx: ShiftContext) -> Verdict:
    """Start ``rollback.jobs`` once the change is live, record them, fail on the first failure."""
    if not run.spec.rollback.jobs or not change_is_live(run):
        return Verdict(False)
    change = resolve_change(run.spec, run.observed.image_source)
    revision = run.status.revision
    jobs = run.spec.rollback.jobs

    def start(index: int, check: CheckStatus) -> Start:
        job = jobs[index]
        job_object = check.job or job_name(run.observed.name, job.name, revision)
        action = RunCheck(
            check.name,
            CheckType.JOB,
            run.observed.namespace,
            revision,
            job_body(job, ctx, job_object),
            image=job.image or candidate_image(change, job.container, _desired(ctx)),
            field=f"spec.rollback.jobs[{index}]",
        )
        return Start(action, f"Job {job_object} running in production", job=job_object)

    names = [check_name(j) for j in jobs]
    return judge_production_checks(run, names, CheckType.JOB, start, "JobCheckFailed")


def _desired(ctx: ShiftContext) -> Mapping[ObjKey, Obj | None]:
    return {k: v for k, v in ctx.desired.items() if k.kind in WORKLOAD_KINDS}

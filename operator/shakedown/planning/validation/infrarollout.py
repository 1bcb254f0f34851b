"""Checks of an InfraRollout spec that its CRD schema cannot express."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from shakedown.api.common import parse_duration
from shakedown.api.infrarollout import (
    InfraRolloutSpec,
    JobCheck,
    PatchType,
    StrategyType,
    TargetKind,
)
from shakedown.planning.validation.problems import Problem, check_duration_positive, parse

#: Kinds each shift strategy can move (Replace moves every workload kind).
STRATEGY_KINDS: Mapping[StrategyType, frozenset[TargetKind]] = {
    StrategyType.REPLACE: frozenset(
        {TargetKind.DEPLOYMENT, TargetKind.STATEFUL_SET, TargetKind.DAEMON_SET}
    ),
    StrategyType.CANARY: frozenset({TargetKind.DEPLOYMENT, TargetKind.STATEFUL_SET}),
    StrategyType.BLUE_GREEN: frozenset({TargetKind.DEPLOYMENT}),
}


def check_infra_rollout(
    spec: InfraRolloutSpec,
    *,
    containers: Mapping[tuple[TargetKind, str], frozenset[str]] | None = None,
) -> tuple[Problem, ...]:
    """Check an InfraRollout spec.

    ``containers`` (workload target -> its container names), when the caller
    has read the targets, lets the check name image changes for containers no
    target has.
    """
    problems: list[Problem] = []
    keys = [(t.kind, t.name) for t in spec.targets]
    strategy = spec.strategy.type

    # Duplicate targets never get here: the schema's list-map keys and the model refuse them.
    for index, target in enumerate(spec.targets):
        if target.kind.is_workload and target.kind not in STRATEGY_KINDS[strategy]:
            supported = ", ".join(sorted(STRATEGY_KINDS[strategy]))
            problems.append(
                Problem(
                    field=f"spec.targets[{index}].kind",
                    message=f"{target.kind} is not supported with strategy {strategy} "
                    f"(supported: {supported})",
                )
            )

    problems += _check_patches(spec, keys)
    problems += _check_manifests(spec, keys)
    problems += check_image_containers(spec, containers)
    problems += _check_smoke_tests(spec, keys)
    problems += _check_blue_green(spec, keys)
    for path, value in (
        ("spec.timeout", spec.timeout),
        ("spec.rollback.notReadyFor", spec.rollback.not_ready_for),
        ("spec.smokeTests.readyFor", spec.smoke_tests.ready_for),
        ("spec.smokeTests.readyTimeout", spec.smoke_tests.ready_timeout),
    ):
        problems += check_duration_positive(value, path)
    if parse_duration(spec.shadow.ttl) < parse_duration(spec.smoke_tests.ready_for):
        problems.append(
            Problem(
                field="spec.shadow.ttl",
                message=f"{spec.shadow.ttl} is shorter than spec.smokeTests.readyFor "
                f"({spec.smoke_tests.ready_for}); the shadow would expire before it is proven",
            )
        )
    return tuple(problems)


def _check_patches(spec: InfraRolloutSpec, keys: list[tuple[TargetKind, str]]) -> list[Problem]:
    problems = []
    for index, patch in enumerate(spec.change.patches):
        base = f"spec.change.patches[{index}]"
        # A target missing from spec.targets never gets here: the schema and model refuse it.
        if patch.type is PatchType.JSON:
            if not isinstance(patch.patch, list) or not all(
                isinstance(op, dict) and "op" in op and "path" in op for op in patch.patch
            ):
                problems.append(
                    Problem(
                        field=f"{base}.patch",
                        message="a json patch is a list of operations with op and path",
                    )
                )
        elif not isinstance(patch.patch, dict):
            problems.append(
                Problem(
                    field=f"{base}.patch",
                    message=f"a {patch.type} patch is an object",
                )
            )
    return problems


def _check_manifests(spec: InfraRolloutSpec, keys: list[tuple[TargetKind, str]]) -> list[Problem]:
    problems = []
    for index, manifest in enumerate(spec.change.manifests):
        base = f"spec.change.manifests[{index}]"
        metadata = manifest.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        kind = manifest.get("kind")
        if not manifest.get("apiVersion") or not kind or not name:
            problems.append(
                Problem(field=base, message="a manifest needs apiVersion, kind and metadata.name")
            )
            continue
        if kind not in TargetKind.__members__.values() or (TargetKind(kind), name) not in keys:
            problems.append(
                Problem(field=f"{base}.kind", message=f"{kind} {name} is not in spec.targets")
            )
    return problems


def check_image_containers(
    spec: InfraRolloutSpec,
    containers: Mapping[tuple[TargetKind, str], frozenset[str]] | None,
) -> list[Problem]:
    """The image changes naming a container no workload target has (``containers``: each
    target's container names, as read; None: not read, nothing to say)."""
    if containers is None:
        return []
    known = frozenset().union(*containers.values()) if containers else frozenset()
    problems = []
    for index, image in enumerate(spec.change.images):
        if image.container not in known:
            problems.append(
                Problem(
                    field=f"spec.change.images[{index}].container",
                    message=f"no workload target has a container {image.container!r} "
                    f"(containers: {', '.join(sorted(known)) or 'none'})",
                )
            )
    if spec.image_from is not None and spec.image_from.container not in known:
        problems.append(
            Problem(
                field="spec.imageFrom.container",
                message=f"no workload target has a container {spec.image_from.container!r} "
                f"(containers: {', '.join(sorted(known)) or 'none'})",
            )
        )
    return problems


def _changed_containers(spec: InfraRolloutSpec) -> set[str]:
    names = {i.container for i in spec.change.images}
    if spec.image_from is not None:
        names.add(spec.image_from.container)
    return names


def _check_smoke_tests(spec: InfraRolloutSpec, keys: list[tuple[TargetKind, str]]) -> list[Problem]:
    problems = []
    for index, http in enumerate(spec.smoke_tests.http):
        if (TargetKind.SERVICE, http.service) not in keys:
            problems.append(
                Problem(
                    field=f"spec.smokeTests.http[{index}].service",
                    message=f"Service {http.service!r} is not in spec.targets "
                    "(only targets are copied into the shadow namespace)",
                )
            )
    changed = _changed_containers(spec)
    jobs: list[tuple[str, Sequence[JobCheck]]] = [
        ("spec.smokeTests.jobs", spec.smoke_tests.jobs),
        ("spec.rollback.jobs", spec.rollback.jobs),
    ]
    for path, listed in jobs:
        for index, job in enumerate(listed):
            if job.image is None and job.container is not None and job.container not in changed:
                problems.append(
                    Problem(
                        field=f"{path}[{index}].container",
                        message=f"container {job.container!r} gets no new image "
                        "(not in spec.change.images or spec.imageFrom); set image",
                    )
                )
            if job.image is None and job.container is None and not changed:
                problems.append(
                    Problem(
                        field=f"{path}[{index}].image",
                        message="no candidate image to run (the change sets no image); set image",
                    )
                )
    return problems


def _check_blue_green(spec: InfraRolloutSpec, keys: list[tuple[TargetKind, str]]) -> list[Problem]:
    if spec.strategy.type is not StrategyType.BLUE_GREEN:
        return []
    services = [name for kind, name in keys if kind is TargetKind.SERVICE]
    chosen = spec.strategy.blue_green.service if spec.strategy.blue_green else None
    if chosen is None:
        if len(services) != 1:
            return [
                Problem(
                    field="spec.strategy.blueGreen.service",
                    message="name the Service to switch (spec.targets lists "
                    f"{len(services)} Services)",
                )
            ]
        return []
    if chosen not in services:
        return [
            Problem(
                field="spec.strategy.blueGreen.service",
                message=f"Service {chosen!r} is not in spec.targets (it must be snapshotted)",
            )
        ]
    return []


def template_refs(spec: InfraRolloutSpec) -> list[tuple[str, str]]:
    """(field path, MetricTemplate name) of every metric check that names a template."""
    refs = []
    for base, metrics in (
        ("spec.smokeTests.metrics", spec.smoke_tests.metrics),
        ("spec.rollback.metrics", spec.rollback.metrics),
    ):
        for index, metric in enumerate(metrics):
            if metric.template_ref is not None:
                refs.append((f"{base}[{index}].templateRef.name", metric.template_ref.name))
    return refs


def check_metric_templates(
    spec: InfraRolloutSpec, existing: Collection[str]
) -> tuple[Problem, ...]:
    """Every templateRef names an existing MetricTemplate (``existing``: names in the namespace)."""
    return tuple(
        Problem(field=path, message=f"MetricTemplate {name!r} not found in this namespace")
        for path, name in template_refs(spec)
        if name not in existing
    )


def validate_infra_rollout(
    raw_spec: Mapping[str, Any] | None,
    *,
    containers: Mapping[tuple[TargetKind, str], frozenset[str]] | None = None,
) -> tuple[InfraRolloutSpec | None, tuple[Problem, ...]]:
    """Parse and check an InfraRollout spec."""
    spec, problems = parse(InfraRolloutSpec, raw_spec)
    if spec is None:
        return None, problems
    return spec, check_infra_rollout(spec, containers=containers)

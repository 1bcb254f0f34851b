"""examples/gitops/: the repository layout the README's "With GitOps" describes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shakedown.planning.validation import summarize, validate_infra_rollout

GITOPS = Path(__file__).resolve().parents[2] / "examples" / "gitops"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def test_production_holds_only_the_rollout_and_it_validates() -> None:
    listed = _docs(GITOPS / "production" / "kustomization.yaml")[0]["resources"]
    assert listed == ["web.infrarollout.yaml"]
    (rollout,) = _docs(GITOPS / "production" / listed[0])
    assert rollout["kind"] == "InfraRollout"
    spec, problems = validate_infra_rollout(rollout["spec"])
    assert spec is not None and problems == (), summarize(problems)
    targets = {(t.kind.value, t.name) for t in spec.targets}
    manifests = {(m["kind"], m["metadata"]["name"]) for m in spec.change.manifests}
    assert manifests == targets


def test_flux_reads_the_rollouts_health_from_its_conditions() -> None:
    docs = _docs(GITOPS / "flux-system" / "production.kustomization.yaml")
    (kustomization,) = [d for d in docs if d["kind"] == "Kustomization"]
    spec = kustomization["spec"]
    assert spec["path"] == "./production" and spec["wait"] is True
    (exprs,) = spec["healthCheckExprs"]
    assert exprs["kind"] == "InfraRollout"
    assert "'Stalled'" in exprs["failed"] and "'Ready'" in exprs["current"]

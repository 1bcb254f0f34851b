"""The cluster side of ``shakedown prove``: dry runs, creating copies, reading them, cleaning up.

Every call goes through ``Kube`` (plain JSON); API errors are returned as
one-line problems or raised as ``UserError`` so the command prints them and
exits 2. Cleanup finds the copies by label, not by a list kept in memory, so
it also removes what an earlier, killed run with the same ``--id`` left.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shakedown.cli.main import UserError
from shakedown.cli.prove_inputs import Planned
from shakedown.planning.infrarollout.objects import ROLLOUT_LABEL, ROLLOUT_NAMESPACE_LABEL
from shakedown.planning.infrarollout.shadow import SHADOW_LABEL
from shakedown.presentation import prove_plan as plan

Obj = Mapping[str, Any]
#: Kinds ``prove`` creates, deleted in this order (the copies before their contexts).
CREATED_KINDS = ("InfraRollout", "ContainerImageRefresh", "ConfigMap")


@dataclass
class Cluster:
    """A ``Kube``, and what ``prove`` created with it."""

    kube: Any
    created: list[tuple[str, str, str]] = field(default_factory=list)

    @classmethod
    def connect(cls) -> Cluster:
        from shakedown.adapters import kubeclient
        from shakedown.adapters.workloads import Kube
        from shakedown.cli.kube import api_client

        return cls(Kube(kubeclient.connection(api_client())))

    def reachable(self) -> None:
        """One cheap call, so an unreachable cluster is one line before anything else."""
        from shakedown.cli.kube import talking_to_cluster

        with talking_to_cluster(what="the cluster", namespace=None):
            self.kube.call("GET", "/version")

    # ----------------------------------------------------------------- checks
    def dry_run(self, obj: Obj) -> str | None:
        """The API server's refusal of ``obj`` (schema, CEL rules, unknown fields), or None."""
        from shakedown.adapters.apiserver import ApiError
        from shakedown.adapters.workloads import Conflict

        kind, ns = str(obj["kind"]), str(obj["metadata"]["namespace"])
        try:
            self.kube.call(
                "POST",
                self.kube.path(kind, ns),
                body=obj,
                query={"dryRun": "All", "fieldValidation": "Strict"},
            )
        except Conflict:
            return f"{kind} {ns}/{obj['metadata']['name']} exists already"
        except ApiError as exc:
            if exc.status == 404:
                return f"namespace {ns} not found (or the {kind} CRD is not installed)"
            return refusal(str(exc.reason))
        return None

    def existing(self, namespace: str, kinds: Iterable[str], names: Iterable[str]) -> set[str]:
        """Which of ``names`` (``Kind/name``) exist in ``namespace``."""
        found = set()
        for key in names:
            kind, _, name = key.partition("/")
            if kind in kinds and self.kube.get(kind, namespace, name) is not None:
                found.add(key)
        return found

    # ----------------------------------------------------------------- create and read
    def create(self, obj: Obj) -> None:
        kind, ns, name = str(obj["kind"]), obj["metadata"]["namespace"], obj["metadata"]["name"]
        self.created.append((kind, ns, name))  # before: a signal mid-call still cleans it up
        self.kube.create(kind, ns, obj)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self.kube.get(kind, namespace, name)
        return result

    def job_log_tail(self, rollout: Obj, check: str, lines: int = 50) -> str:
        """The log tail of a smoke Job check's pod, while the shadow namespace still exists.

        CoreV1Api is imported here, not up front: loading it costs seconds on a
        busy machine, and only a failed Job check needs it.
        """
        from shakedown.adapters import kubeclient
        from shakedown.adapters.kubeclient import ApiException
        from shakedown.cli.logs import job_check

        try:
            namespace, job = job_check(rollout, check)
            if not namespace:
                return ""
            core: Any = kubeclient.core()
            pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={job}")
            texts = []
            for pod in pods.items or []:
                texts.append(
                    core.read_namespaced_pod_log(pod.metadata.name, namespace, tail_lines=lines)
                )
            return "\n".join(t for t in texts if t)
        except (ApiException, UserError):
            return ""

    # ----------------------------------------------------------------- cleanup
    def leftovers(self, namespaces: Iterable[str], selector: str) -> list[tuple[str, str, str]]:
        out = []
        for ns in sorted(set(namespaces)):
            for kind in CREATED_KINDS:
                for obj in self.kube.list(kind, ns, labels=selector):
                    out.append((kind, ns, str(obj["metadata"]["name"])))
        return out

    def delete_all(
        self,
        namespaces: Iterable[str],
        selector: str,
        *,
        timeout: float,
        say: Callable[[str], None],
    ) -> list[str]:
        """Delete every object labelled ``selector``; wait until they and their shadows are gone.

        Returns what is still there when ``timeout`` ran out (empty: all gone). An
        InfraRollout's finalizer deletes its shadow namespace; waiting for the
        namespace itself means none is left Terminating when ``prove`` exits.
        """
        namespaces = sorted(set(namespaces))
        found = self.leftovers(namespaces, selector)
        found += [c for c in self.created if c not in found]
        rollouts = [(ns, name) for kind, ns, name in found if kind == "InfraRollout"]
        for kind, ns, name in found:
            self.kube.delete(kind, ns, name)
        deadline = time.monotonic() + timeout
        remaining = self._remaining(found, rollouts)
        if remaining:
            say(f"waiting for {len(remaining)} object(s) to be deleted: {', '.join(remaining)}")
        while remaining and time.monotonic() < deadline:
            time.sleep(0.5)
            remaining = self._remaining(found, rollouts)
        return remaining

    def _remaining(
        self, found: Iterable[tuple[str, str, str]], rollouts: Iterable[tuple[str, str]]
    ) -> list[str]:
        left = [f"{k}/{n}" for k, ns, n in found if self.kube.get(k, ns, n) is not None]
        for ns, name in rollouts:
            shadows = self.kube.list(
                "Namespace",
                None,
                labels=f"{SHADOW_LABEL}=true,{ROLLOUT_LABEL}={name},{ROLLOUT_NAMESPACE_LABEL}={ns}",
            )
            left += [f"Namespace/{s['metadata']['name']}" for s in shadows]
        return left


#: What the API server appends when CEL rules were skipped; it names no field of the input.
_CEL_SKIPPED = re.compile(
    r",? ?<nil>: Invalid value: (null|\"null\"): some validation rules were not checked "
    r"because the object was invalid; correct the existing errors to complete validation"
)


def refusal(message: str) -> str:
    """The API server's refusal without the note that names no field."""
    return _CEL_SKIPPED.sub("", message).replace("[]", "").strip()


def registry_problem(registry: str, *, insecure: bool, timeout: float = 5.0) -> str | None:
    """None when something answers HTTP at the registry's /v2/ (401 counts), else why not."""
    from shakedown.adapters.registry import api_host

    schemes = ("https", "http") if insecure else ("https",)
    reason: object = ""
    for scheme in schemes:
        try:
            with urllib.request.urlopen(f"{scheme}://{api_host(registry)}/v2/", timeout=timeout):
                return None
        except urllib.error.HTTPError:
            return None  # it answered
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
    return f"cannot reach registry {registry} ({reason})"


# --------------------------------------------------------------------------- validation
def validate(cluster: Cluster, planned: Sequence[Planned], *, check_registries: bool) -> list[str]:
    """Every problem with the input, each naming where it is; empty when all is well."""
    from shakedown.cli.kube import talking_to_cluster
    from shakedown.planning.validation import validate_image_refresh, validate_infra_rollout

    problems: list[str] = []
    registries: dict[str, bool] = {}
    with talking_to_cluster(what="the cluster", namespace=None):
        for p in planned:
            where = f"{p.manifest.source}: {p.manifest.ref}"
            if p.context is not None and (refused := cluster.dry_run(p.context)):
                problems.append(f"{where}: build context: {refused}")
            if refused := cluster.dry_run(p.copy):
                problems.append(f"{where}: {refused}")
                continue
            spec = p.copy.get("spec")
            if p.manifest.kind == "InfraRollout":
                _, found = validate_infra_rollout(spec)
                targets = [
                    f"{t.get('kind')}/{t.get('name')}" for t in (spec or {}).get("targets") or []
                ]
                ns = p.copy["metadata"]["namespace"]
                existing = cluster.existing(ns, _TARGET_KINDS, targets)
                pairs = [(key.partition("/")[0], key.partition("/")[2]) for key in existing]
                for missing in plan.missing_targets(p.manifest, pairs):
                    problems.append(
                        f"{where}: {missing}: the production target does not exist in "
                        f"namespace {ns}"
                    )
            else:
                parsed, found = validate_image_refresh(spec)
                if parsed is not None:
                    from shakedown.adapters.registry import ImageRef

                    registry = ImageRef.parse(parsed.image).registry
                    registries[registry] = registries.get(registry, False) or bool(
                        parsed.insecure_registry
                    )
            problems += [f"{where}: {problem}" for problem in found]
    if check_registries and not problems:
        for registry, insecure in sorted(registries.items()):
            if unreachable := registry_problem(registry, insecure=insecure):
                problems.append(unreachable)
    return problems


_TARGET_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ConfigMap", "Secret", "Service")

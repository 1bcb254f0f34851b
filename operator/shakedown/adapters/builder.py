"""The in-cluster image build: a Job that runs buildah and pushes the candidate.

The build pod runs the project's builder image (Debian's buildah, git and
ca-certificates; ``shakedown.localcluster.builder_image`` builds it). It fetches the source — the
Git repository at the exact revision resolved when the run started, or the
files of a ConfigMap — runs ``buildah bud`` with the spec's containerfile and
build arguments, pushes the result under the run's own candidate tag and
writes a one-line JSON report to its termination message: the pushed
manifest digest, the commit it built and the base images (FROM) it used.

Privileges (measured on the local cluster, containerd 1.6 + runc): buildah
uses the ``vfs`` storage driver (no overlay mounts) and ``chroot`` isolation,
so the pod needs neither ``privileged`` nor ``SYS_ADMIN``. It runs as root
with every capability dropped except CHOWN, DAC_OVERRIDE, FOWNER, FSETID,
SETUID, SETGID, SYS_CHROOT and SETFCAP, with ``allowPrivilegeEscalation:
false``, and with seccomp ``Unconfined``: buildah enters a user namespace
(``unshare(CLONE_NEWUSER)``), which the runtime's default seccomp profile
refuses without SYS_ADMIN ("Error during unshare(CLONE_NEWUSER): Operation
not permitted"); without SETFCAP/FSETID writing its uid_map fails. Granting
SYS_ADMIN instead would allow the default seccomp profile; we prefer the
narrower capability set. No host namespaces or host paths are used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from shakedown.adapters.jobs import job_manifest, labels
from shakedown.api.common import parse_duration
from shakedown.api.imagerefresh import ContainerImageRefreshSpec
from shakedown.planning.imagerefresh.run import DEADLINE_GRACE_SECONDS

#: Debian packages of the builder image (debootstrap does not resolve virtual
#: packages, so containernetworking-plugins stands in for container-network-stack).
BUILDER_PACKAGES = ("buildah", "ca-certificates", "containernetworking-plugins", "git")
#: Repository of the builder image in the local registry.
BUILDER_REPOSITORY = "builder"
#: Environment variable naming the builder image the operator uses.
BUILDER_IMAGE_ENV = "SHAKEDOWN_BUILDER_IMAGE"

AUTH_DIR = "/run/shakedown/auth"
#: The only capabilities the build container keeps (see the module docstring).
BUILD_CAPABILITIES = (
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "SETUID",
    "SETGID",
    "SYS_CHROOT",
    "SETFCAP",
)

#: The build pod's script. Build arguments arrive as its positional parameters.
BUILD_SCRIPT = r"""
set -eu
say() { echo "[shakedown-build] $*"; }
STORAGE="--storage-driver=vfs --root=/workspace/storage --runroot=/workspace/run"
AUTH=""
if [ -f __AUTH__/config.json ]; then AUTH="--authfile=__AUTH__/config.json"; fi
REVISION=""
if [ -n "${SD_GIT_URL:-}" ]; then
  say "fetching $SD_GIT_URL at $SD_GIT_REVISION"
  export HOME=/workspace/home
  mkdir -p "$HOME"
  if [ -n "${GIT_USERNAME:-}" ]; then
    git config --global credential.helper \
      '!f() { echo "username=$GIT_USERNAME"; echo "password=$GIT_PASSWORD"; }; f'
  fi
  git init -q /workspace/src
  cd /workspace/src
  git remote add origin "$SD_GIT_URL"
  if git fetch -q --depth 1 origin "$SD_GIT_REVISION" 2>/dev/null; then
    git checkout -q --detach FETCH_HEAD
  else
    git fetch -q origin '+refs/heads/*:refs/remotes/origin/*' '+refs/tags/*:refs/tags/*'
    git checkout -q --detach "$SD_GIT_REVISION" 2>/dev/null \
      || git checkout -q --detach "origin/$SD_GIT_REVISION"
  fi
  REVISION=$(git rev-parse HEAD)
  CONTEXT="/workspace/src/${SD_CONTEXT_DIR:-.}"
else
  mkdir -p /workspace/context
  for f in /context/*; do cp -L "$f" /workspace/context/; done
  CONTEXT=/workspace/context
fi
CF="$CONTEXT/$SD_CONTAINERFILE"
if [ ! -f "$CF" ]; then
  echo "containerfile $SD_CONTAINERFILE not found in the build context" >&2
  exit 2
fi
say "building $SD_CONTAINERFILE${REVISION:+ at $REVISION}"
buildah $STORAGE bud --isolation=chroot --layers=false --tls-verify="$SD_TLS_VERIFY" $AUTH \
  -f "$CF" -t localhost/shakedown-candidate "$@" "$CONTEXT"
say "pushing $SD_IMAGE:$SD_CANDIDATE_TAG"
buildah $STORAGE push --tls-verify="$SD_TLS_VERIFY" $AUTH --digestfile /workspace/digest \
  localhost/shakedown-candidate "docker://$SD_IMAGE:$SD_CANDIDATE_TAG"
DIGEST=$(cat /workspace/digest)
FROMS=$(grep -iE '^[[:space:]]*FROM[[:space:]]' "$CF" | tr -d '"\\' | tr '\t\n' ' |')
printf '{"digest":"%s","revision":"%s","from":"%s"}' "$DIGEST" "$REVISION" "$FROMS" \
  > /dev/termination-log
say "pushed $SD_IMAGE@$DIGEST"
""".replace("__AUTH__", AUTH_DIR)


class BuilderUnavailable(Exception):
    """The operator was not told which builder image to use."""


def builder_image() -> str:
    """The builder image the operator puts in build Jobs."""
    image = os.environ.get(BUILDER_IMAGE_ENV)
    if image:
        return image
    registry = os.environ.get("REGISTRY")
    if registry:
        return f"{registry}/shakedown/{BUILDER_REPOSITORY}:latest"
    raise BuilderUnavailable(
        f"no builder image: set {BUILDER_IMAGE_ENV} in the operator's environment"
    )


#: What a build pod gets unless spec.buildResources says otherwise: enough for
#: buildah to unpack and commit a CI image, bounded so one build cannot take a
#: node's memory or fill its disk (the pod is evicted instead, and the run fails).
DEFAULT_BUILD_REQUESTS = {"cpu": "250m", "memory": "512Mi"}
DEFAULT_BUILD_LIMITS = {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "20Gi"}


def build_resources(spec: ContainerImageRefreshSpec) -> dict[str, dict[str, str]]:
    """The build container's resources: the defaults, overridden key by key by the spec."""
    chosen = spec.build_resources
    limits = {**DEFAULT_BUILD_LIMITS, **chosen.limits.amounts()}
    asked = chosen.requests.amounts()
    requests = {**DEFAULT_BUILD_REQUESTS, **asked}
    for key, default in DEFAULT_BUILD_REQUESTS.items():
        # A default request above a limit the spec lowered would make the pod invalid.
        if key not in asked and _quantity(limits[key]) < _quantity(default):
            requests[key] = limits[key]
    return {"requests": requests, "limits": limits}


_SUFFIXES = {
    "": 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40,
}  # fmt: skip


def _quantity(text: str) -> float:
    """The value of a quantity the schema's QUANTITY_PATTERN admitted."""
    number = text.rstrip("kmMGTi")
    return float(number) * _SUFFIXES[text[len(number) :]]


def build_job(
    *,
    spec: ContainerImageRefreshSpec,
    name: str,
    namespace: str,
    owner: Mapping[str, Any],
    resource: str,
    run_id: str,
    source_revision: str | None,
    candidate_tag: str,
    image: str | None = None,
) -> dict[str, Any]:
    """The Job that builds and pushes the candidate of a run."""
    source = spec.source
    env: list[dict[str, Any]] = [
        {"name": "SD_IMAGE", "value": spec.image},
        {"name": "SD_CANDIDATE_TAG", "value": candidate_tag},
        {"name": "SD_CONTAINERFILE", "value": source.containerfile},
        {"name": "SD_TLS_VERIFY", "value": "false" if spec.insecure_registry else "true"},
    ]
    volumes: list[dict[str, Any]] = [{"name": "workspace", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": "workspace", "mountPath": "/workspace"}]
    if source.git is not None:
        env += [
            {"name": "SD_GIT_URL", "value": source.git.url},
            {"name": "SD_GIT_REVISION", "value": source_revision or source.git.revision},
            {"name": "SD_CONTEXT_DIR", "value": source.git.context_dir or "."},
        ]
        if source.git.secret_ref is not None:
            for var, key in (("GIT_USERNAME", "username"), ("GIT_PASSWORD", "password")):
                env.append(
                    {
                        "name": var,
                        "valueFrom": {
                            "secretKeyRef": {"name": source.git.secret_ref.name, "key": key}
                        },
                    }
                )
    else:
        assert source.config_map is not None
        volumes.append({"name": "context", "configMap": {"name": source.config_map.name}})
        mounts.append({"name": "context", "mountPath": "/context", "readOnly": True})
    if spec.push_secret_ref is not None:
        volumes.append(
            {
                "name": "auth",
                "secret": {
                    "secretName": spec.push_secret_ref.name,
                    "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
                },
            }
        )
        mounts.append({"name": "auth", "mountPath": AUTH_DIR, "readOnly": True})
    build_args: list[str] = []
    for key, value in sorted(source.build_args.items()):
        build_args += ["--build-arg", f"{key}={value}"]
    builder = image or builder_image()
    container = {
        "name": "build",
        "image": builder,
        # A tag may have moved to a newer builder; a digest never changes.
        "imagePullPolicy": "IfNotPresent" if "@sha256:" in builder else "Always",
        "command": ["/bin/sh", "-c", BUILD_SCRIPT, "shakedown-build", *build_args],
        "env": env,
        "volumeMounts": mounts,
        "resources": build_resources(spec),
        "terminationMessagePolicy": "File",
        "securityContext": {
            "runAsUser": 0,
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"], "add": list(BUILD_CAPABILITIES)},
            "seccompProfile": {"type": "Unconfined"},
        },
    }
    pod = {
        "containers": [container],
        "volumes": volumes,
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 5,
    }
    return job_manifest(
        name=name,
        namespace=namespace,
        owner=owner,
        job_labels=labels(resource, run_id, "build"),
        pod_spec=pod,
        deadline_seconds=parse_duration(spec.build_timeout) + DEADLINE_GRACE_SECONDS,
    )

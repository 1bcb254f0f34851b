"""What ``shakedown prove`` creates: prove-only copies of a pull request's manifests.

A pull request's checkout holds ContainerImageRefresh and InfraRollout
manifests among other YAML. Proving them must never touch what they describe
in production, and two pull requests (or two pushes to one) must not collide,
so each object is copied under a name derived from ``--id``, with
``promote: false``, no schedule and no polling triggers (a proof is one run),
and labelled so the copies can be found and deleted whatever happens to the
process that made them.

Pure: text and mappings in, plain dicts out; reading files and talking to the
cluster happen in ``shakedown.cli.prove``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from shakedown import GROUP
from shakedown.api.imagerefresh import meta as imagerefresh_meta
from shakedown.api.infrarollout import meta as infrarollout_meta
from shakedown.presentation.errors import UserError

Obj = Mapping[str, Any]

KINDS = (imagerefresh_meta.NAMES.kind, infrarollout_meta.NAMES.kind)
#: kubectl's short name of each kind prove creates (``cir/images``), as the CRDs declare it.
SHORT = {
    names.kind: names.short_name for names in (imagerefresh_meta.NAMES, infrarollout_meta.NAMES)
}

#: Every object ``prove`` creates carries these, so cleanup finds them by label.
LABEL_PROVE = f"{GROUP}/prove"
LABEL_PROVE_ID = f"{GROUP}/prove-id"
#: The original object a copy proves, and the --id as given (labels cannot hold every id).
ANNOTATION_PROVES = f"{GROUP}/proves"
ANNOTATION_PROVE_ID = f"{GROUP}/prove-id"

#: Names of copies must stay DNS labels (the operator derives Job, Service and
#: namespace names from them).
MAX_NAME = 63
#: A build context travels to the builder in one ConfigMap. The API server
#: refuses objects over 1 MiB (etcd's limit); this leaves room for metadata.
#: Counted as stored: text files as they are, other files base64-encoded (4/3).
MAX_CONTEXT_BYTES = 900_000
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


# --------------------------------------------------------------------------- names
def slug(text: str) -> str:
    """``text`` as a DNS label part: lower case, runs of other characters as one dash."""
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if not value:
        raise UserError(f"--id {text!r}: needs at least one letter or digit")
    return value


def _fit(name: str, limit: int = MAX_NAME) -> str:
    """``name`` if it fits, else a prefix plus a hash of the whole (still unique, still a label)."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: limit - len(digest) - 1].rstrip('-')}-{digest}"


def copy_name(original: str, prove_id: str) -> str:
    """The name of the prove-only copy of ``original`` for ``prove_id``."""
    return _fit(f"{original}-{slug(prove_id)}")


def id_label(prove_id: str) -> str:
    """The value of the prove-id label (a label value is at most 63 characters)."""
    return _fit(slug(prove_id))


def context_name(original: str, prove_id: str) -> str:
    """The ConfigMap holding a local build context for the copy of ``original``."""
    return _fit(f"{original}-{slug(prove_id)}-context")


# --------------------------------------------------------------------------- documents
@dataclass(frozen=True)
class Manifest:
    """One ContainerImageRefresh or InfraRollout found in the input."""

    source: str
    """Where it came from: ``path#index`` (index of the YAML document, from 1)."""
    obj: Obj

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name") or "")

    @property
    def ref(self) -> str:
        return f"{SHORT[self.kind]}/{self.name}"


def parse_documents(text: str, source: str) -> tuple[list[Manifest], int]:
    """The shakedown objects in a (multi-document) YAML text, and how many others it held."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{source}{where}: not valid YAML: {problem}") from None
    found: list[Manifest] = []
    others = 0
    for index, doc in enumerate(docs, start=1):
        if doc is None:
            continue
        where = f"{source}#{index}"
        if not isinstance(doc, Mapping):
            raise UserError(f"{where}: expected a Kubernetes object, found {type(doc).__name__}")
        items = doc.get("items") if str(doc.get("kind", "")).endswith("List") else None
        for item in items if isinstance(items, list) else [doc]:
            if not isinstance(item, Mapping) or item.get("kind") not in KINDS:
                others += 1
                continue
            if not str(item.get("apiVersion", "")).startswith(f"{GROUP}/"):
                raise UserError(f"{where}: apiVersion: expected {GROUP}/v1alpha1")
            name = (item.get("metadata") or {}).get("name")
            if not isinstance(name, str) or not name:
                raise UserError(f"{where}: metadata.name: required")
            found.append(Manifest(where, item))
    return found, others


def check_unique(manifests: Iterable[Manifest], namespace_of: Mapping[str, str]) -> None:
    """Two inputs naming the same object would be proven as one copy: refuse that."""
    seen: dict[tuple[str, str, str], str] = {}
    for m in manifests:
        key = (m.kind, namespace_of[m.source], m.name)
        if key in seen:
            raise UserError(f"{m.source}: {m.ref} is defined twice (also at {seen[key]})")
        seen[key] = m.source


# --------------------------------------------------------------------------- copies
def prove_labels(prove_id: str) -> dict[str, str]:
    return {LABEL_PROVE: "true", LABEL_PROVE_ID: id_label(prove_id)}


def selector(prove_id: str) -> str:
    return f"{LABEL_PROVE}=true,{LABEL_PROVE_ID}={id_label(prove_id)}"


def prove_copy(
    manifest: Manifest,
    *,
    prove_id: str,
    namespace: str,
    revision: str | None = None,
    context_config_map: str | None = None,
) -> dict[str, Any]:
    """The prove-only copy of ``manifest``: renamed, labelled, ``promote: false``.

    For a ContainerImageRefresh, ``revision`` replaces ``source.git.revision``
    and ``context_config_map`` replaces the source with that ConfigMap; the
    schedule and the polling triggers are dropped, so the copy runs exactly
    once, and ``notify`` is dropped (the CI job reports the verdict, and a
    pull request's failures are not news for production's channel). Everything
    else is the pull request's own spec, so what is proven is
    what will be merged.
    """
    obj = copy.deepcopy(dict(manifest.obj))
    meta = dict(obj.get("metadata") or {})
    labels = {**(meta.get("labels") or {}), **prove_labels(prove_id)}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if not k.startswith(f"{GROUP}/")
    }
    annotations.update({ANNOTATION_PROVES: manifest.name, ANNOTATION_PROVE_ID: prove_id})
    obj["metadata"] = {
        "name": copy_name(manifest.name, prove_id),
        "namespace": namespace,
        "labels": labels,
        "annotations": annotations,
    }
    obj.pop("status", None)
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return obj  # the dry run names the missing spec
    spec["promote"] = False
    if manifest.kind == "ContainerImageRefresh":
        spec.pop("schedule", None)
        spec.pop("suspend", None)
        spec.pop("notify", None)  # the CI job reports; production's channel hears nothing
        triggers = spec.get("triggers")
        spec["triggers"] = {
            **(triggers if isinstance(triggers, dict) else {}),
            "baseImage": False,
            "source": False,
        }
        source = spec.get("source")
        if isinstance(source, dict):
            if context_config_map is not None:
                source.pop("git", None)
                source["configMap"] = {"name": context_config_map}
            elif revision is not None and isinstance(source.get("git"), dict):
                source["git"]["revision"] = revision
    return obj


def missing_targets(manifest: Manifest, existing: Iterable[tuple[str, str]]) -> list[str]:
    """Targets of an InfraRollout that production lacks and its change does not create."""
    spec = manifest.obj.get("spec") or {}
    present = set(existing)
    change = spec.get("change") or {}
    created = {
        (str(m.get("kind")), str((m.get("metadata") or {}).get("name")))
        for m in change.get("manifests") or []
        if isinstance(m, Mapping)
    }
    out = []
    for index, target in enumerate(spec.get("targets") or []):
        key = (str(target.get("kind")), str(target.get("name")))
        if key not in present and key not in created:
            out.append(f"spec.targets[{index}]: {key[0]}/{key[1]}")
    return out


# --------------------------------------------------------------------------- build contexts
def pack_context(
    files: Mapping[str, bytes], *, name: str, namespace: str, prove_id: str, where: str
) -> dict[str, Any]:
    """A ConfigMap holding a build context (flat: one key per file) for the builder.

    The builder copies the ConfigMap's keys into its context directory, so the
    context must be flat, its file names valid ConfigMap keys, and the whole
    within ``MAX_CONTEXT_BYTES``. Text stays readable in ``data``; anything
    that is not UTF-8 goes to ``binaryData``.
    """
    if not files:
        raise UserError(f"--context {where}: the directory is empty")
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    size = 0
    for key, content in sorted(files.items()):
        if not _KEY.match(key):
            raise UserError(
                f"--context {where}: {key!r} is not a valid file name for a ConfigMap key "
                "(letters, digits, '-', '_', '.')"
            )
        try:
            data[key] = content.decode("utf-8")
            size += len(content) + len(key)
        except UnicodeDecodeError:
            binary[key] = base64.b64encode(content).decode()
            size += len(binary[key]) + len(key)
    if size > MAX_CONTEXT_BYTES:
        raise UserError(
            f"--context {where}: {size} bytes, over the limit of {MAX_CONTEXT_BYTES} bytes "
            "(a build context travels in one ConfigMap, which Kubernetes limits to 1 MiB; "
            "binary files count base64-encoded); build from Git with --revision instead"
        )
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": prove_labels(prove_id)},
        "data": data,
    }
    if binary:
        body["binaryData"] = binary
    return body


def containerfile_of(manifest: Manifest) -> str:
    source = (manifest.obj.get("spec") or {}).get("source") or {}
    return str(source.get("containerfile") or "Containerfile")

"""A small client for the Docker Registry HTTP API v2 (the OCI distribution API).

shakedown needs four things from a registry: the digest a tag points to, the
digest of a base image, a manifest by digest, and a manifest PUT under a tag.
Promotion and rollback are exactly "GET the manifest by digest, PUT the same
bytes under the tag with the same media type": no layers move and nothing is
rebuilt, so the tag ends up at the very digest the tests ran against.

Credentials come from a ``kubernetes.io/dockerconfigjson`` Secret; both the
basic-auth and the bearer-token challenge are answered. The Secret's keys are
matched the way docker and buildah match them: a key may be a URL with scheme
and path (``https://reg.example:5000/v2/``), and Docker Hub's key
``https://index.docker.io/v1/`` (or ``index.docker.io``, ``registry-1.docker.io``,
``docker.io``) serves images without a registry part, which parse to
``docker.io``; their API lives at ``registry-1.docker.io``. Plain HTTP is refused
unless the spec allows it (``insecureRegistry``), in which case HTTPS is tried
first without verification and plain HTTP after it.

Every request goes through ``httpcalls``: idempotent ones are retried with
backoff on 429, 5xx and dropped connections, and a redirect to another host
loses the Authorization header. The protocol itself stays hand-written: four
calls (HEAD/GET/PUT of a manifest, the tag list) and the token challenge are
less code than adapting a general OCI client, and the tag move must PUT the
manifest's exact bytes, which is all this does.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shakedown.adapters import httpcalls
from shakedown.adapters.httpcalls import DEFAULT_POLICY, GaveUp, RetryPolicy
from shakedown.adapters.registry_tokens import (
    DOCKER_HUB_API,
    TOKEN_HOSTS_ENV,
    realm_host,
    token_service_trusted,
)

#: Manifest media types asked for, most specific first. Asking for indexes too
#: keeps multi-platform images whole when a tag is moved.
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
ACCEPT = ", ".join(MANIFEST_TYPES)

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")

#: What an image without a registry part means, and the other names Docker Hub
#: goes by in credential files (``docker login`` writes ``https://index.docker.io/v1/``).
DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = frozenset({DOCKER_HUB, "index.docker.io", "registry-1.docker.io"})


class RegistryError(Exception):
    """A registry request failed; the message is one line for status and Events."""


@dataclass(frozen=True, kw_only=True)
class ImageRef:
    """``registry/repository[:tag][@digest]`` split into its parts."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, reference: str) -> ImageRef:
        rest, _, digest = reference.partition("@")
        first, slash, remainder = rest.partition("/")
        if slash and ("." in first or ":" in first or first == "localhost"):
            registry, path = first, remainder
        else:
            registry, path = DOCKER_HUB, rest
            if "/" not in path:
                path = f"library/{path}"
        tag: str | None = None
        if ":" in path.rsplit("/", 1)[-1]:
            path, _, tag = path.rpartition(":")
        if not path:
            raise RegistryError(f"invalid image reference {reference!r}")
        if not digest and tag is None:
            tag = "latest"
        return cls(registry=registry, repository=path, tag=tag, digest=digest or None)

    @property
    def reference(self) -> str:
        """The tag or digest to ask the registry for (digest wins)."""
        return self.digest or self.tag or "latest"

    @property
    def ref(self) -> str:
        """``registry/repository:tag``, as a person writes it (``latest`` when no tag)."""
        return f"{self.registry}/{self.repository}:{self.tag or 'latest'}"

    @property
    def by_digest(self) -> str:
        """``registry/repository@digest``: the reference that never moves."""
        if not self.digest:
            raise RegistryError(f"{self.ref}: no digest known")
        return f"{self.registry}/{self.repository}@{self.digest}"


def credentials_from_dockerconfig(
    dockerconfigjson: bytes | str, registry: str
) -> tuple[str, str] | None:
    """Username and password for ``registry`` from a .dockerconfigjson document."""
    try:
        doc = json.loads(dockerconfigjson)
    except ValueError as exc:
        raise RegistryError(f"pushSecretRef: .dockerconfigjson is not JSON: {exc}") from None
    auths: Mapping[str, Any] = (doc.get("auths") if isinstance(doc, Mapping) else None) or {}
    wanted = registry_key(registry)
    for key, entry in auths.items():
        if registry_key(key) != wanted or not isinstance(entry, Mapping):
            continue
        if entry.get("username") is not None:
            return str(entry["username"]), str(entry.get("password", ""))
        if entry.get("auth"):
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            return user, password
    return None


def registry_key(name: str) -> str:
    """The registry a credentials key or image registry names, as ``host[:port]``.

    Keys may carry a scheme and a path (``https://host:5000/v2/``); host names
    are case-insensitive; every name of Docker Hub becomes ``docker.io``.
    """
    name = name.strip()
    host = urllib.parse.urlsplit(name).netloc if "://" in name else name.split("/", 1)[0]
    host = host.rpartition("@")[2].lower()
    return DOCKER_HUB if host in DOCKER_HUB_ALIASES else host


def api_host(registry: str) -> str:
    """Where the registry API of ``registry`` answers (Docker Hub's is elsewhere)."""
    return DOCKER_HUB_API if registry_key(registry) == DOCKER_HUB else registry


@dataclass(frozen=True, kw_only=True)
class Manifest:
    body: bytes
    media_type: str
    digest: str


class RegistryClient:
    """Talks to one registry host; keeps the chosen scheme and bearer tokens."""

    def __init__(
        self,
        registry: str,
        *,
        insecure: bool = False,
        credentials: tuple[str, str] | None = None,
        timeout: float = 15.0,
        retry: RetryPolicy = DEFAULT_POLICY,
    ) -> None:
        self.registry = registry
        self.host = api_host(registry)
        self.insecure = insecure
        self.credentials = credentials
        self.timeout = timeout
        self.retry = retry
        self._open = httpcalls.opener(timeout=timeout, verify=not insecure)
        self._scheme: str | None = None
        self._tokens: dict[str, str] = {}

    # ------------------------------------------------------------------ public
    def resolve(self, repository: str, reference: str) -> str | None:
        """The digest ``repository:reference`` points to, or None when it does not exist."""
        try:
            _, headers, _ = self._request(
                "HEAD", repository, f"/v2/{repository}/manifests/{reference}", {"Accept": ACCEPT}
            )
        except _NotFound:
            return None
        digest = headers.get("Docker-Content-Digest")
        if digest and _DIGEST_RE.match(digest):
            return digest
        return self.get_manifest(repository, reference).digest

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        """The manifest stored under a tag or digest, byte for byte."""
        try:
            _, headers, body = self._request(
                "GET", repository, f"/v2/{repository}/manifests/{reference}", {"Accept": ACCEPT}
            )
        except _NotFound:
            raise RegistryError(f"{self.registry}/{repository}: no manifest {reference}") from None
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(
                f"{self.registry}/{repository}: manifest {reference} has content digest {digest}"
            )
        media_type = headers.get("Content-Type", "").split(";")[0].strip()
        if media_type not in MANIFEST_TYPES:
            media_type = str(json.loads(body).get("mediaType") or media_type)
        return Manifest(body=body, media_type=media_type, digest=digest)

    def put_manifest(self, repository: str, tag: str, manifest: Manifest) -> str:
        """Store ``manifest`` under ``tag``; returns the digest the registry reports."""
        _, headers, _ = self._request(
            "PUT",
            repository,
            f"/v2/{repository}/manifests/{tag}",
            {"Content-Type": manifest.media_type},
            body=manifest.body,
            push=True,
        )
        return headers.get("Docker-Content-Digest") or manifest.digest

    def move_tag(self, repository: str, tag: str, digest: str) -> bool:
        """Point ``tag`` at ``digest`` (already in the repository). False when it already does."""
        if self.resolve(repository, tag) == digest:
            return False
        manifest = self.get_manifest(repository, digest)
        stored = self.put_manifest(repository, tag, manifest)
        if stored != digest:
            raise RegistryError(
                f"{self.registry}/{repository}:{tag}: registry stored {stored}, expected {digest}"
            )
        return True

    def tags(self, repository: str) -> list[str]:
        """Tags of a repository (empty when it does not exist)."""
        try:
            _, _, body = self._request("GET", repository, f"/v2/{repository}/tags/list", {})
        except _NotFound:
            return []
        return list(json.loads(body).get("tags") or [])

    # ------------------------------------------------------------------ plumbing
    def _base(self) -> str:
        if self._scheme is None:
            self._scheme = self._pick_scheme()
        return f"{self._scheme}://{self.host}"

    def _probe(self, url: str) -> None:
        """Raises the last error's ``reason`` unless something answered HTTP at ``url``."""
        try:
            httpcalls.call(
                self._open,
                urllib.request.Request(url),
                policy=self.retry,
                retry_statuses=_ANY_ANSWER,
            )
        except GaveUp as gave:
            if isinstance(gave.error, urllib.error.HTTPError):
                return  # it answered (401, even 503, says which scheme works)
            raise gave.error from None

    def _pick_scheme(self) -> str:
        try:
            self._probe(f"https://{self.host}/v2/")
            return "https"
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            if not self.insecure:
                if isinstance(reason, ssl.SSLError):
                    raise RegistryError(
                        f"registry {self.registry} does not speak HTTPS ({reason}); "
                        "set spec.insecureRegistry: true to allow plain HTTP"
                    ) from None
                raise RegistryError(f"registry {self.registry} unreachable: {reason}") from None
        try:
            self._probe(f"http://{self.host}/v2/")
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise RegistryError(f"registry {self.registry} unreachable: {reason}") from None
        return "http"

    def _request(
        self,
        method: str,
        repository: str,
        path: str,
        headers: Mapping[str, str],
        *,
        body: bytes | None = None,
        push: bool = False,
    ) -> tuple[int, Mapping[str, str], bytes]:
        scope = f"repository:{repository}:{'pull,push' if push else 'pull'}"
        url = self._base() + path
        for attempt in range(2):
            all_headers = dict(headers)
            token = self._tokens.get(scope)
            if token:
                all_headers["Authorization"] = token
            request = urllib.request.Request(url, data=body, method=method, headers=all_headers)
            try:
                return httpcalls.call(self._open, request, policy=self.retry)
            except GaveUp as gave:
                exc = gave.error
                if not isinstance(exc, urllib.error.HTTPError):
                    reason = getattr(exc, "reason", exc)
                    raise RegistryError(
                        f"{method} {self.registry}{path}: {reason}{gave.detail()}"
                    ) from None
                if exc.code == 404:
                    raise _NotFound from None
                if exc.code == 401 and attempt == 0:
                    self._tokens[scope] = self._authorize(
                        exc.headers.get("WWW-Authenticate", ""), scope
                    )
                    continue
                detail = _error_detail(exc)
                raise RegistryError(
                    f"{method} {self.registry}{path}: HTTP {exc.code} {detail}".strip()
                    + gave.detail()
                ) from None
        raise RegistryError(f"{method} {self.registry}{path}: not authorized")

    def _authorize(self, challenge: str, scope: str) -> str:
        kind, _, params_text = challenge.partition(" ")
        params = dict(re.findall(r'(\w+)="([^"]*)"', params_text))
        if kind.lower() == "basic":
            if self.credentials is None:
                raise RegistryError(
                    f"registry {self.registry} wants credentials: set spec.pushSecretRef"
                )
            return "Basic " + _basic(self.credentials)
        if kind.lower() != "bearer" or "realm" not in params:
            raise RegistryError(f"registry {self.registry}: unsupported challenge {challenge!r}")
        query = {"scope": params.get("scope", scope)}
        if "service" in params:
            query["service"] = params["service"]
        realm = params["realm"]
        request = urllib.request.Request(realm + "?" + urllib.parse.urlencode(query))
        if self.credentials is not None:
            if not token_service_trusted(self.host, realm):
                raise RegistryError(
                    f"registry {self.registry}: its token service {realm_host(realm)} is on "
                    "another host; the push credentials are not sent there (declare it in "
                    f"{TOKEN_HOSTS_ENV} as {self.host}={realm_host(realm)} if it is the "
                    "registry's own)"
                )
            request.add_header("Authorization", "Basic " + _basic(self.credentials))
        try:
            _, _, answer = httpcalls.call(self._open, request, policy=self.retry)
            doc = json.loads(answer)
        except GaveUp as gave:
            raise RegistryError(
                f"registry {self.registry}: token request failed: {gave.error}{gave.detail()}"
            ) from None
        except ValueError as exc:
            raise RegistryError(f"registry {self.registry}: token request failed: {exc}") from None
        token = doc.get("token") or doc.get("access_token")
        if not token:
            raise RegistryError(f"registry {self.registry}: token endpoint returned no token")
        return f"Bearer {token}"


#: For the scheme probe any HTTP status is an answer; only the connection is retried.
_ANY_ANSWER: frozenset[int] = frozenset()


class _NotFound(Exception):
    pass


def _basic(credentials: tuple[str, str]) -> str:
    return base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        doc = json.loads(exc.read() or b"{}")
        errors = doc.get("errors") or []
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
    except (ValueError, AttributeError, OSError):
        return ""

"""Resolving a Git revision to a commit without cloning, and hashing ConfigMap contexts.

A run builds exactly the commit that was current when it started, and the
source trigger compares commits between polls. Both need "which commit is
``main`` now?", which the smart HTTP protocol answers with one GET of
``info/refs`` (what ``git ls-remote`` does). Other URL schemes fall back to
``git ls-remote`` itself when git is installed.

The GET goes through ``httpcalls``: retried on 429, 5xx and dropped
connections, and a redirect to another host (a mirror, a login page) does not
carry the repository's credentials along, as with git itself.

For a ConfigMap context the "revision" is a hash of its files, so editing a
file is a source change while relabelling the ConfigMap is not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping

from shakedown.adapters import httpcalls
from shakedown.adapters.httpcalls import DEFAULT_POLICY, GaveUp, RetryPolicy

_SHA_RE = re.compile(r"^[0-9a-f]{40}$")


class SourceError(Exception):
    """The revision cannot be resolved; one line for status."""


def resolve_git_revision(
    url: str,
    revision: str,
    *,
    credentials: tuple[str, str] | None = None,
    timeout: float = 15.0,
    retry: RetryPolicy = DEFAULT_POLICY,
) -> str:
    """The commit ``revision`` (branch, tag, ref, HEAD or a full sha) names at ``url``."""
    if _SHA_RE.match(revision):
        return revision
    if url.startswith(("http://", "https://")):
        refs = http_refs(url, credentials=credentials, timeout=timeout, retry=retry)
    else:
        refs = _ls_remote(url, timeout=timeout)
    for candidate in (revision, f"refs/heads/{revision}", f"refs/tags/{revision}"):
        peeled = refs.get(candidate + "^{}")
        if peeled:
            return peeled
        if candidate in refs:
            return refs[candidate]
    raise SourceError(f"spec.source.git.revision: {revision!r} not found at {url}")


def http_refs(
    url: str,
    *,
    credentials: tuple[str, str] | None = None,
    timeout: float = 15.0,
    retry: RetryPolicy = DEFAULT_POLICY,
) -> dict[str, str]:
    """Ref name -> commit at a smart-HTTP ``url``."""
    target = url.rstrip("/") + "/info/refs?service=git-upload-pack"
    headers = {"User-Agent": "git/2 shakedown"}
    if credentials is not None:
        token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    request = urllib.request.Request(target, headers=headers)
    try:
        _, _, data = httpcalls.call(httpcalls.opener(timeout=timeout), request, policy=retry)
    except GaveUp as gave:
        exc = gave.error
        if isinstance(exc, urllib.error.HTTPError):
            hint = " (set spec.source.git.secretRef)" if exc.code == 401 and not credentials else ""
            raise SourceError(f"{url}: HTTP {exc.code} listing refs{hint}{gave.detail()}") from None
        raise SourceError(f"{url}: {getattr(exc, 'reason', exc)}{gave.detail()}") from None
    return parse_advertisement(data)


def parse_advertisement(data: bytes) -> dict[str, str]:
    """Ref name -> commit from a smart-HTTP ``info/refs`` answer (pkt-lines)."""
    refs: dict[str, str] = {}
    pos = 0
    while pos + 4 <= len(data):
        try:
            length = int(data[pos : pos + 4], 16)
        except ValueError:
            raise SourceError("malformed ref advertisement") from None
        if length == 0:
            pos += 4
            continue
        line = data[pos + 4 : pos + length].decode(errors="replace").rstrip("\n")
        pos += length
        if line.startswith("#"):
            continue
        line = line.split("\0", 1)[0]
        sha, _, name = line.partition(" ")
        if _SHA_RE.match(sha) and name:
            refs[name] = sha
    return refs


def _ls_remote(url: str, *, timeout: float) -> dict[str, str]:
    git = shutil.which("git")
    if git is None:
        raise SourceError(f"{url}: only http(s) URLs can be polled without git installed")
    try:
        proc = subprocess.run(
            [git, "ls-remote", url],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SourceError(f"{url}: git ls-remote timed out") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        raise SourceError(f"{url}: git ls-remote: {last}")
    refs: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        sha, _, name = line.partition("\t")
        if _SHA_RE.match(sha):
            refs[name] = sha
    return refs


def configmap_revision(data: Mapping[str, str] | None, binary: Mapping[str, str] | None) -> str:
    """A short content hash of a ConfigMap's files."""
    doc = json.dumps([sorted((data or {}).items()), sorted((binary or {}).items())])
    return "configmap-" + hashlib.sha256(doc.encode()).hexdigest()[:16]

"""Registry credentials from a dockerconfigjson Secret, against a password-protected
registry (a second Debian docker-registry with htpasswd auth, started by the test).

Its access log shows every manifest PUT, so the test checks that a run pushes
exactly one candidate and moves the tag exactly once, and that rollback moves
the tag without pushing anything new.
"""

from __future__ import annotations

import pytest

from shakedown.adapters import kubeclient
from shakedown.adapters.registry import RegistryClient, RegistryError
from tests.fixtures.imagerefresh import PrivateRegistry, Refreshes, TokenIssuer

pytestmark = pytest.mark.cluster


def test_push_promote_and_rollback_with_credentials(
    refreshes: Refreshes, registry: str, private_registry: PrivateRegistry
) -> None:
    r = refreshes
    priv = private_registry
    kubeclient.core(r.api).create_namespaced_secret(
        r.namespace,
        {
            "metadata": {"name": "creds"},
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": priv.dockerconfigjson()},
        },
    )
    r.config_map(
        "ctx",
        {
            "Containerfile": f"FROM {registry}/shakedown/busybox:latest\nCOPY msg /msg\n",
            "msg": "private\n",
        },
    )
    repo = f"{r.namespace}/secure"
    spec = {
        "image": f"{priv.address}/{repo}",
        "source": {"configMap": {"name": "ctx"}},
        "tests": [{"name": "reads", "command": ["cat", "/msg"], "timeout": "1m"}],
    }
    r.create("secure", {**spec, "pushSecretRef": {"name": "creds"}})
    r.create("anonymous", {**spec, "image": f"{priv.address}/{r.namespace}/anonymous"})

    run1 = r.wait_run("secure", "1")["lastRun"]
    assert run1["phase"] == "Succeeded", run1
    digest1 = run1["candidateDigest"]
    assert priv.client().resolve(repo, "latest") == digest1
    cand1 = f"shakedown-{r.namespace}-secure-run-1"
    assert priv.manifest_puts(repo) == [cand1, "latest"]

    failed = r.wait_run("anonymous", "1")["lastRun"]
    assert failed["phase"] == "Failed"
    assert "build failed" in failed["message"]
    assert "authentication required" in failed["message"] or "unauthorized" in failed["message"]

    r.annotate("secure", "shakedown.dev/run-requested", "again")
    run2 = r.wait_run("secure", "2")["lastRun"]
    assert run2["phase"] == "Succeeded", run2
    cand2 = f"shakedown-{r.namespace}-secure-run-2"
    assert priv.manifest_puts(repo) == [cand1, "latest", cand2, "latest"]

    r.annotate("secure", "shakedown.dev/rollback-to", digest1)
    r.wait_for("rolled back", lambda: r.status("secure").get("promotedDigest") == digest1, 30)
    assert priv.client().resolve(repo, "latest") == digest1
    assert priv.manifest_puts(repo) == [cand1, "latest", cand2, "latest", "latest"]


def test_bearer_token_registry(
    refreshes: Refreshes,
    registry: str,
    token_registry: tuple[PrivateRegistry, TokenIssuer],
) -> None:
    r = refreshes
    priv, issuer = token_registry
    kubeclient.core(r.api).create_namespaced_secret(
        r.namespace,
        {
            "metadata": {"name": "creds"},
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": priv.dockerconfigjson()},
        },
    )
    r.config_map("ctx", {"Containerfile": f"FROM {registry}/shakedown/busybox:latest\n"})
    repo = f"{r.namespace}/tokened"
    r.create(
        "tokened",
        {
            "image": f"{priv.address}/{repo}",
            "pushSecretRef": {"name": "creds"},
            "source": {"configMap": {"name": "ctx"}},
            "tests": [{"name": "runs", "command": ["true"], "timeout": "1m"}],
        },
    )
    run = r.wait_run("tokened", "1")["lastRun"]
    assert run["phase"] == "Succeeded", run
    assert priv.client().resolve(repo, "latest") == run["candidateDigest"]
    assert priv.manifest_puts(repo) == [f"shakedown-{r.namespace}-tokened-run-1", "latest"]
    # Tokens were asked for with the Secret's credentials (build push, pulls, tag move).
    granted = [scopes for ok, scopes in issuer.issued if ok]
    assert any(f"repository:{repo}:pull,push" in scopes for scopes in granted)
    # Without credentials the registry grants nothing.
    with pytest.raises(RegistryError, match="401"):
        RegistryClient(priv.address, insecure=True).resolve(repo, "latest")

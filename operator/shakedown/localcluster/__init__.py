"""A local single-node Kubernetes cluster built from pinned Go modules.

Real components only (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kube-proxy, kubelet, containerd with runc, CNI bridge) plus a
plain-HTTP registry, all started as detached processes whose state lives under
``.shakedown/`` at the repository root. ``shakedown cluster up|down|status``
drives it and the pytest fixtures in ``tests/fixtures/cluster.py`` use it.
"""

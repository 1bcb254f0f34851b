"""``shakedown dashboard``: a local web page that shows and steers both kinds.

It talks to the API server with the caller's own kubeconfig, so every action is
allowed or refused by the caller's RBAC, exactly as with the CLI. Layers, by
depth: ``views`` turns objects into view models and ``render`` turns those into
escaped HTML (both pure); ``guard`` decides which requests are accepted;
``actions`` sets the annotations the CLI sets; ``watches`` keeps one watch per
kind and fans changes out to every browser; ``server`` wires them to HTTP.
"""

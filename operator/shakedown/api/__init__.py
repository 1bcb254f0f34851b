"""The public API of shakedown: pydantic models of its custom resources.

The models are the single source of truth: the CRDs in crds/ are generated from
them (``shakedown.api.crdgen``), and the operator reads and writes objects through
them. ``common`` holds the shared types, one module per kind holds the rest.
"""

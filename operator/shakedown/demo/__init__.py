"""``make demo``: shakedown end to end on a real cluster, in a few minutes.

The demo uses the cluster KUBECONFIG names, or starts the local one
(``shakedown.localcluster``) and leaves it running for you to explore. It
installs the CRDs, starts the operator as a subprocess, plays its scenes in a
namespace of its own, prints a timeline of what happened (conditions and
Events) and stops the operator.

``stage`` holds what scenes share (``Context``, the ``scene`` registry);
``basics``, ``imagerefresh`` and ``infrarollout`` are the scenes; ``run`` is
the driver. ``basics`` shows the API itself: refused input, conditions on a
valid object, Stalled with the field named, recovery.
"""

from shakedown.demo.run import main, operator_process
from shakedown.demo.stage import SCENES, Context, Scene, load_scenes, say, scene

__all__ = ["SCENES", "Context", "Scene", "load_scenes", "main", "operator_process", "say", "scene"]

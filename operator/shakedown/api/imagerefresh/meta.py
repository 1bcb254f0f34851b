"""The names of the ContainerImageRefresh kind and the bounds of its lists.

Upper bounds keep the API server's CEL cost estimates within budget.
"""

from __future__ import annotations

from shakedown.api.names import KindNames

NAMES = KindNames(kind="ContainerImageRefresh", plural="containerimagerefreshes", short_name="cir")

#: Upper bounds keep CEL cost estimates within the API server's budget.
MAX_TESTS = 64
MAX_HISTORY_LIMIT = 50

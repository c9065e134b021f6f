"""Alias: ``isnet.paper`` is ``isnet.study.paper`` (kept so the name users type still imports)."""
import sys
from .study import paper as _module
sys.modules[__name__] = _module

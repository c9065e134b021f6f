"""Alias: ``isnet.search`` is ``isnet.study.search`` (kept so the name users type still imports)."""
import sys
from .study import search as _module
sys.modules[__name__] = _module

"""Alias: ``isnet.masks`` is ``isnet.method.masks`` (kept so the name users type still imports)."""
import sys
from .method import masks as _module
sys.modules[__name__] = _module

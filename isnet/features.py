"""Alias: ``isnet.features`` is ``isnet.method.features`` (kept so the name users type still imports)."""
import sys
from .method import features as _module
sys.modules[__name__] = _module

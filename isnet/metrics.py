"""Alias: ``isnet.metrics`` is ``isnet.method.metrics`` (kept so the name users type still imports)."""
import sys
from .method import metrics as _module
sys.modules[__name__] = _module

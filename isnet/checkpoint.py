"""Alias: ``isnet.checkpoint`` is ``isnet.engine.checkpoint`` (kept so the name users type still imports)."""
import sys
from .engine import checkpoint as _module
sys.modules[__name__] = _module

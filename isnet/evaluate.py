"""Alias: ``isnet.evaluate`` is ``isnet.engine.evaluate`` (kept so the name users type still imports)."""
import sys
from .engine import evaluate as _module
sys.modules[__name__] = _module

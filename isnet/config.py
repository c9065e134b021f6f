"""Alias: ``isnet.config`` is ``isnet.engine.config`` (kept so the name users type still imports)."""
import sys
from .engine import config as _module
sys.modules[__name__] = _module

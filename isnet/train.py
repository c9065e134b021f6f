"""Alias: ``isnet.train`` is ``isnet.engine.train`` (kept so the name users type still imports)."""
import sys
from .engine import train as _module
sys.modules[__name__] = _module

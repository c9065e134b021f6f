"""Alias: ``isnet.inpaint`` is ``isnet.engine.inpaint`` (kept so the name users type still imports)."""
import sys
from .engine import inpaint as _module
sys.modules[__name__] = _module

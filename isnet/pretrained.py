"""Alias: ``isnet.pretrained`` is ``isnet.engine.pretrained`` (kept so the name users type still imports)."""
import sys
from .engine import pretrained as _module
sys.modules[__name__] = _module

"""Alias: ``isnet.photos`` is ``isnet.data.photos`` (kept so the name users type still imports)."""
import sys
from .data import photos as _module
sys.modules[__name__] = _module

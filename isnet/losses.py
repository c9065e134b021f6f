"""Alias: ``isnet.losses`` is ``isnet.method.losses`` (kept so the name users type still imports)."""
import sys
from .method import losses as _module
sys.modules[__name__] = _module

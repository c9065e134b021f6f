"""Alias: ``isnet.pra`` is ``isnet.method.pra`` (kept so the name users type still imports)."""
import sys
from .method import pra as _module
sys.modules[__name__] = _module

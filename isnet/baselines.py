"""Alias: ``isnet.baselines`` is ``isnet.method.baselines`` (kept so the name users type still imports)."""
import sys
from .method import baselines as _module
sys.modules[__name__] = _module

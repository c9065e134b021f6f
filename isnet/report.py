"""Alias: ``isnet.report`` is ``isnet.study.report`` (kept so the name users type still imports)."""
import sys
from .study import report as _module
sys.modules[__name__] = _module

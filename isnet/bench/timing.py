"""Alias: ``isnet.bench.timing`` is ``isnet.engine.device`` (sync, median_ms; kept while isnet.bench.pra imports it)."""
import sys
from ..engine import device as _module
sys.modules[__name__] = _module

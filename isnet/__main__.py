"""``python -m isnet`` (also what torchrun runs: ``torchrun ... -m isnet train ...``)."""
import sys

from .cli import main

sys.exit(main())

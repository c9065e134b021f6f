"""isnet: a reproducible study of ISNet and the Progressive Reconstruction Algorithm.

Gong, Li et al., *Image Inpainting Based on Interactive Separation Network and Progressive
Reconstruction Algorithm*, IEEE Access 2022.

Conventions (the authors' code's, docs/authors-code.md §7): images are float N×3×H×W in
[0, 1]; a mask tensor is the paper's M, called ``known``: 1 = known pixel, 0 = hole, N×1×H×W float.
"""

import warnings

__version__ = "0.1.0"

# tqdm.auto falls back to the text bar without ipywidgets and warns so when it is imported inside a kernel; several
# layers import it at module top, so the filter must be in place before any of them loads
warnings.filterwarnings("ignore", message="IProgress not found")

"""Fitting the head model to a scene's landmarks (``emotag track``) and importing VHAP tracks.

Conventions (docs/reference/camera-conventions.md): world = the head model's frame (metres, x to
the subject's left, y up, z out of the face); camera = OpenCV (x right, y down, z forward).
"""

from ..camera import Camera
from .fit import FitResult, fit_landmarks
from .pipeline import track
from .result import Track, open_track
from .vhap_import import import_vhap

__all__ = ["Camera", "FitResult", "Track", "fit_landmarks", "import_vhap", "open_track", "track"]

"""MediaPipe FaceMesh (legacy solutions API, weights inside the mediapipe wheel)."""

from __future__ import annotations

import numpy as np

N_FACE = 468
N_REFINED = 478


class FaceMesh:
    """Per-frame face landmarks.

    ``max_faces > 1`` reports every face (for counting and choosing the largest); tracking mode
    (``static=False``) reuses the previous frame's face region, which is both faster and steadier
    on video.
    """

    def __init__(self, max_faces: int = 1, refine: bool = True, static: bool = False,
                 min_confidence: float = 0.5):
        from .mediapipe_log import mediapipe

        mp = mediapipe()
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=static,
            max_num_faces=max_faces,
            refine_landmarks=refine,
            min_detection_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )
        self.n_points = N_REFINED if refine else N_FACE

    def __call__(self, rgb: np.ndarray) -> list[np.ndarray]:
        """rgb [H, W, 3] uint8 → one [P, 3] float32 array per face: x, y in pixels, z in pixels
        of the image width (MediaPipe's relative depth, smaller = nearer)."""
        h, w = rgb.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(rgb))
        faces = []
        for lms in result.multi_face_landmarks or []:
            pts = np.array([(p.x, p.y, p.z) for p in lms.landmark], dtype=np.float32)
            pts *= np.array([w, h, w], dtype=np.float32)
            faces.append(pts)
        return faces

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> FaceMesh:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def face_box(points: np.ndarray) -> np.ndarray:
    """[P, 3] landmarks → [4] float32 box x0, y0, x1, y1 of the 468 face points."""
    p = points[:N_FACE, :2]
    return np.concatenate([p.min(0), p.max(0)]).astype(np.float32)

"""The forward model, below the stages: an identity's head model, Gaussians, mouth refinement and
static offset → the posed Gaussians and the rendered frame of frame t (frame.py). Training,
rendering and evaluation all call it; ``TrackedClip`` (clip.py) serves a tracked scene's frames
to it, and ``MouthRegion`` (mouth_region.py) says which Gaussians the refinement moves."""

"""emotag: emotion-aware, audio-driven 3D Gaussian talking heads (EmoTaG, CVPR 2026)."""

__version__ = "0.1.0"

"""``emotag render``: speech → motion → Gaussians → frames → mp4."""

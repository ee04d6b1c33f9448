"""PSNR / SSIM against known values and scikit-image."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from emotag_cli.image_metrics import psnr, ssim


def test_identical_images():
    a = torch.rand(2, 3, 32, 32)
    assert torch.isinf(psnr(a, a)).all()
    assert torch.allclose(ssim(a, a), torch.ones(2), atol=1e-6)


def test_psnr_known_value():
    a = torch.zeros(1, 3, 8, 8)
    b = torch.full((1, 3, 8, 8), 0.1)
    assert math.isclose(float(psnr(a, b)), 20.0, rel_tol=1e-5)               # mse 0.01


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ssim_matches_scikit_image(seed):
    skimage = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(seed)
    a = rng.random((48, 40, 3))
    b = np.clip(a + rng.normal(0, 0.1 * (seed + 1), a.shape), 0, 1)
    ref = skimage.structural_similarity(a, b, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, data_range=1.0)
    ours = ssim(torch.tensor(a).permute(2, 0, 1)[None], torch.tensor(b).permute(2, 0, 1)[None])
    assert abs(float(ours) - ref) < 1e-3


def test_masked_metrics_ignore_pixels_outside_the_mask():
    a = torch.rand(1, 3, 32, 32)
    b = a.clone()
    b[..., :, 16:] = torch.rand(1, 3, 32, 16)                                # differ on the right half
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., :, :8] = 1
    assert torch.isinf(psnr(a, b, mask)).all()
    assert float(ssim(a, b)) < 0.9

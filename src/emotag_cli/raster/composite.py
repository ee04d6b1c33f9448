"""Front-to-back alpha compositing of tile-binned Gaussians, with a hand-written backward.

Per pixel and its Gaussians i = 1, 2, ... in depth order (3DGS / gsplat semantics):

    alpha_i = min(0.999, o_i exp(-sigma_i)), skipped (alpha_i = 0) when below 1/255
    T_i = prod_{j<i} (1 - alpha_j)                      (transmittance in front of i)
    w_i = alpha_i T_i while T_{i+1} > 1e-4; the pixel stops at the first i where it is not
    out = sum_i w_i f_i,   A = sum_i w_i = 1 - T_final

Each (tile, Gaussian) pair enters as a quadratic in the pixel centre (x, y) relative to the tile
centre, s = k0 x² + k1 xy + k2 y² + k3 x + k4 y + k5 = sigma - ln(o), so that alpha = exp(-s)
for all pixels of a chunk of tiles comes from one small matrix product. A chunk is a dense
[tiles, L, P] block (L pairs per tile, padded; P pixels per tile).

Backward, for an included pair whose alpha is not clamped, with g = dL/dout and g_A = dL/dA:

    dL/dalpha_i (1 - alpha_i) = T_{i+1} (g . f_i) + sum_{j<=i} w_j (g . f_j) + g_A T_final - g . out
    dL/ds_i = -alpha_i dL/dalpha_i

(the sum over the Gaussians behind i written as the total minus a prefix sum). The forward
quantities are recomputed chunk by chunk in the backward pass rather than stored, so memory
stays at a few chunk-sized buffers whatever the image and scene size.

Masks are applied with threshold() and sign() on float tensors rather than boolean
masked_fill/where, which are several times slower on CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from .projection import ALPHA_MIN
from .tiles import ChunkPlan

ALPHA_MAX = 0.999
T_MIN = 1e-4  # a pixel stops at the Gaussian that would bring its transmittance to this or below
PAD_S = 1e4  # s of a padding pair: exp(-1e4) == 0


@dataclass
class Layout:
    """How Gaussians map to pixels.

    plan: the chunks and each slot's Gaussian (see ``tiles.plan_chunks``).
    n_tiles: tiles in all C images together.
    neg_basis: [6, P] minus (x², xy, y², x, y, 1) at the pixel centres relative to the tile
        centre, row-major.
    """

    plan: ChunkPlan
    n_tiles: int
    neg_basis: Tensor


def pixel_basis(tile_size: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """[6, P] monomials of the pixel centres relative to the tile centre, P = tile_size², row-major.

    Centring keeps every term of the quadratic small, so float32 loses little to cancellation.
    """
    r = torch.arange(tile_size, dtype=dtype, device=device) + (0.5 - tile_size / 2)
    y, x = torch.meshgrid(r, r, indexing="ij")
    x, y = x.reshape(-1), y.reshape(-1)
    return torch.stack([x * x, x * y, y * y, x, y, torch.ones_like(x)])


def _threshold(x: Tensor, below: float) -> Tensor:
    """x where x > ``below``, else 0 (in place)."""
    return F.threshold_(x, below, 0.0)


def _raw_alpha(coefs: Tensor, neg_basis: Tensor) -> Tensor:
    """o exp(-sigma) [T, L, P] from the pair quadratics [T, L, 6]."""
    return torch.matmul(coefs, neg_basis).exp_()


def _blend(alpha: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """From alphas [T, L, P]: weights w, 1 - alpha, and T_{i+1} zeroed past the stop."""
    one_minus = 1.0 - alpha
    t_after = _threshold(torch.cumprod(one_minus, dim=1), T_MIN)
    w = alpha.div(one_minus).mul_(t_after)  # alpha T_i = alpha T_{i+1} / (1 - alpha)
    return w, one_minus, t_after


# The smallest float32 at or above 1/255 is kept, as alpha >= 1/255 is in gsplat.
_BELOW_ALPHA_MIN = float(torch.nextafter(torch.tensor(ALPHA_MIN, dtype=torch.float32), torch.tensor(0.0)))


def _quadratics(slot: Tensor, centres: Tensor) -> Tensor:
    """The per-slot quadratic k [T, L, 6] of s(x) = ½ dᵀ Q d - ln o, d = x - m, in the pixel
    centre x relative to the tile centre. slot: [T, L, 6+] (mean x, y, conic a, b, c, ln o, ...)."""
    mx = slot[..., 0] - centres[:, None, 0]
    my = slot[..., 1] - centres[:, None, 1]
    a, b, c, log_o = slot[..., 2], slot[..., 3], slot[..., 4], slot[..., 5]
    ax, bx, by, cy = a * mx, b * mx, b * my, c * my
    return torch.stack([0.5 * a, b, 0.5 * c, -(ax + by), -(bx + cy),
                        0.5 * (ax * mx + cy * my) + bx * my - log_o], dim=-1)


def _quadratics_backward(slot: Tensor, centres: Tensor, g: Tensor) -> Tensor:
    """Chain rule through ``_quadratics``: g [6, n] (dL/dk per slot) -> [6, n] gradients of
    (mean x, y, a, b, c, ln o) for the n = T*L slots of ``slot`` [T, L, 6+]."""
    mx = (slot[..., 0] - centres[:, None, 0]).reshape(-1)
    my = (slot[..., 1] - centres[:, None, 1]).reshape(-1)
    a, b, c = (slot[..., i].reshape(-1) for i in (2, 3, 4))
    g0, g1, g2, g3, g4, g5 = g.unbind(0)
    return torch.stack([
        g5 * (a * mx + b * my) - g3 * a - g4 * b,
        g5 * (b * mx + c * my) - g3 * b - g4 * c,
        0.5 * (g0 + g5 * mx * mx) - g3 * mx,
        g1 - g3 * my - g4 * mx + g5 * mx * my,
        0.5 * (g2 + g5 * my * my) - g4 * my,
        -g5,
    ])


class _Composite(torch.autograd.Function):
    @staticmethod
    def forward(ctx, means2d: Tensor, conics: Tensor, log_opacities: Tensor, feats: Tensor,
                layout: Layout) -> tuple[Tensor, Tensor]:
        plan, P, K = layout.plan, layout.neg_basis.shape[1], feats.shape[1]
        table = torch.cat([means2d, conics, log_opacities[:, None], feats], dim=1)
        # The padding Gaussian: a unit conic with opacity exp(-1e4), i.e. never seen.
        never = table.new_zeros(1, table.shape[1])
        never[0, 2], never[0, 4], never[0, 5] = 1.0, 1.0, -PAD_S
        slots = torch.cat([table, never]).index_select(0, plan.slots)
        out = table.new_zeros(layout.n_tiles, K, P)
        acc = table.new_zeros(layout.n_tiles, P)
        for ch in plan.chunks:
            slot = slots[ch.offset:ch.offset + len(ch.tiles) * ch.length].view(-1, ch.length, 6 + K)
            raw = _raw_alpha(_quadratics(slot, ch.centres), layout.neg_basis)
            w, _, _ = _blend(_threshold(raw, _BELOW_ALPHA_MIN).clamp_(max=ALPHA_MAX))
            out.index_copy_(0, ch.tiles, torch.bmm(slot[..., 6:].transpose(1, 2), w))  # [T, K, P]
            acc.index_copy_(0, ch.tiles, w.sum(dim=1))
        ctx.layout = layout
        ctx.n_gaussians = len(table)
        ctx.save_for_backward(slots, acc)
        return out, acc

    @staticmethod
    @once_differentiable
    def backward(ctx, g_out: Tensor, g_acc: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, None]:
        slots, acc = ctx.saved_tensors
        layout = ctx.layout
        plan, K = layout.plan, slots.shape[1] - 6
        g_out = g_out.contiguous()
        g_final = g_acc * (1.0 - acc)  # g_A T_final
        # Rows are the gradients' components: index_add_ along dim 1 is about twice as fast.
        grads = slots.new_zeros(6 + K, ctx.n_gaussians + 1)
        for ch in plan.chunks:
            n = len(ch.tiles) * ch.length
            slot = slots[ch.offset:ch.offset + n].view(-1, ch.length, 6 + K)
            g = g_out.index_select(0, ch.tiles)  # [T, K, P]
            raw = _raw_alpha(_quadratics(slot, ch.centres), layout.neg_basis)
            # d alpha / d(-s): raw where 1/255 <= raw < 0.999, else 0.
            slope = _threshold(raw - _threshold(raw.clone(), ALPHA_MAX), _BELOW_ALPHA_MIN)
            w, one_minus, t_after = _blend(_threshold(raw, _BELOW_ALPHA_MIN).clamp_(max=ALPHA_MAX))
            gf = torch.bmm(slot[..., 6:], g)  # g . f_i, [T, L, P]
            prefix = torch.cumsum(w * gf, dim=1)
            rest = g_final.index_select(0, ch.tiles)[:, None, :] - prefix[:, -1:, :]
            q = gf.mul_(t_after).add_(prefix).add_(rest)  # dL/dalpha (1 - alpha)
            gain = slope.div_(one_minus).mul_(torch.sign(t_after))  # 0 past the stop
            g_k = torch.mm(layout.neg_basis, q.mul_(gain).view(n, -1).T)  # dL/dk, [6, n]
            g_f = torch.bmm(g, w.transpose(1, 2)).transpose(0, 1).reshape(K, n)
            grads.index_add_(1, plan.slots[ch.offset:ch.offset + n],
                             torch.cat([_quadratics_backward(slot, ch.centres, g_k), g_f]))
        grads = grads[:, :-1].T
        return grads[:, 0:2], grads[:, 2:5], grads[:, 5], grads[:, 6:], None


def composite(means2d: Tensor, conics: Tensor, log_opacities: Tensor, feats: Tensor,
              layout: Layout) -> tuple[Tensor, Tensor]:
    """Blend G Gaussians into tiles.

    means2d [G, 2] px, conics [G, 3], log_opacities [G], feats [G, K] (colour, depth, ...), all
    on the flattened camera-Gaussian axis that ``layout.plan.slots`` indexes.
    Returns the blended features [n_tiles, K, P] and the accumulated alpha [n_tiles, P];
    tiles without Gaussians are 0. Differentiable with respect to all four tensors.
    """
    return _Composite.apply(means2d, conics, log_opacities, feats, layout)

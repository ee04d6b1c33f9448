"""Tile binning: which Gaussians can touch which square tile of pixels, front to back.

A Gaussian can only touch pixels inside its cutoff ellipse (alpha >= 1/255 there). Binning
walks the tile rows of the ellipse's bounding box and, in each, takes the exact x-range of the
ellipse over the row's pixel centres, so a tile is paired with a Gaussian only when the ellipse
reaches it: for thin or tilted splats that is far fewer pairs than the bounding box gives, and
it costs less than testing the box's tiles one by one. Pairs are grouped by tile and sorted by
depth inside each tile. For compositing, tiles are then ordered by how many pairs they
hold and cut into chunks of similar length, so that each chunk is a dense [tiles, L, pixels]
block with little padding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

CUTOFF_SLACK = 1.0 + 1e-4  # widen the ellipse by rounding errors: culling stays conservative
EDGE_SLACK = 1e-3  # px, likewise for the ellipse's x-range in a row


@dataclass
class TileBins:
    """Pairs of (tile, Gaussian) for C cameras, grouped by tile, front to back inside a tile.

    n_gaussians: the length C*N of the flattened camera-Gaussian axis.
    pair_gaussian: [M] int64 index into that axis.
    pair_tile: [M] int64 global tile index c*tiles_y*tiles_x + ty*tiles_x + tx.
    tile_start, tile_count: [C*tiles_y*tiles_x] int64, each tile's slice of the pairs.
    """

    tile_size: int
    tiles_x: int
    tiles_y: int
    n_cameras: int
    n_gaussians: int
    pair_gaussian: Tensor
    pair_tile: Tensor
    tile_start: Tensor
    tile_count: Tensor

    @property
    def n_tiles(self) -> int:
        return self.n_cameras * self.tiles_y * self.tiles_x

    def tile_centres(self, tiles: Tensor) -> Tensor:
        """[K, 2] pixel coordinates (x, y) of the centres of global tiles [K]."""
        local = tiles % (self.tiles_x * self.tiles_y)
        corner = torch.stack([local % self.tiles_x, local // self.tiles_x], dim=-1) * self.tile_size
        return corner + self.tile_size / 2


@dataclass
class Chunk:
    """A dense block of ``len(tiles)`` tiles, each padded to ``length`` pairs.

    tiles: [T] int64 global tile indices; centres: [T, 2] their centres in pixels.
    offset: where the block's [T, length] slots start in ``ChunkPlan.slots``.
    """

    tiles: Tensor
    centres: Tensor
    length: int
    offset: int


@dataclass
class ChunkPlan:
    """slots: [S] int64 Gaussian (camera-Gaussian axis) of every slot of all chunks, each chunk's
    [T, L] block row-major and front to back along L. Padding slots hold ``n_gaussians``, one
    past the end, where callers put a Gaussian that is never seen."""

    slots: Tensor
    chunks: list[Chunk]


@torch.no_grad()
def bin_gaussians(
    means2d: Tensor,
    conics: Tensor,
    cutoffs: Tensor,
    depths: Tensor,
    visible: Tensor,
    width: int,
    height: int,
    tile_size: int,
) -> TileBins:
    """Bin screen-space Gaussians into tiles.

    means2d [C, N, 2] px, conics [C, N, 3], cutoffs [C, N]: the squared Mahalanobis radius
    beyond which alpha < 1/255, depths [C, N], visible [C, N] bool.
    """
    C, N = depths.shape
    T = tile_size
    tiles_x, tiles_y = math.ceil(width / T), math.ceil(height / T)
    dev = means2d.device

    ids = torch.nonzero(visible.reshape(-1)).squeeze(1)
    ids = ids[torch.argsort(depths.reshape(-1)[ids])]  # front to back over all cameras
    mx, my = means2d.reshape(-1, 2).index_select(0, ids).float().unbind(-1)
    a, b, c = conics.reshape(-1, 3).index_select(0, ids).float().unbind(-1)
    q = cutoffs.reshape(-1).index_select(0, ids).float() * CUTOFF_SLACK
    # The ellipse dᵀ Q d <= q, Q = [[a, b], [b, c]]: its half height is sqrt(q a / det) and its
    # rightmost point (half width sqrt(q c / det)) lies at dy = -b sqrt(q / (c det)).
    det = a * c - b * b
    half_h = torch.sqrt(q * a / det)
    dy_right = -b * torch.sqrt(q / (c * det))
    # Rows of pixel centres inside the ellipse's vertical extent, then their tile rows.
    y_lo = torch.ceil(my - half_h - 0.5).clamp_min(0).long()
    y_hi = torch.floor(my + half_h - 0.5).clamp_max(height - 1).long()
    row_lo = y_lo // T
    n_rows = torch.where(y_hi >= y_lo, y_hi // T - row_lo + 1, torch.zeros_like(row_lo))

    # One entry per (Gaussian, tile row), in the Gaussians' depth order.
    owner = torch.repeat_interleave(torch.arange(len(ids), device=dev), n_rows)
    first = torch.cumsum(n_rows, 0) - n_rows
    mx_r, my_r, a_r, b_r, q_r, det_r, dyr_r, ylo_r, yhi_r, rlo_r, first_r = (
        x.contiguous().index_select(0, owner)
        for x in (mx, my, a, b, q, det, dy_right, y_lo, y_hi, row_lo, first))
    row = rlo_r + torch.arange(len(owner), device=dev) - first_r
    # The row's pixel-centre band, relative to the centre (inside the ellipse's extent).
    y0 = (torch.maximum(row * T, ylo_r).float() + 0.5) - my_r
    y1 = (torch.minimum(row * T + T - 1, yhi_r).float() + 0.5) - my_r

    def x_edge(dy: Tensor, sign: float) -> Tensor:  # x of the ellipse boundary at dy (right: +1)
        return (-b_r * dy + sign * torch.sqrt((a_r * q_r - det_r * dy * dy).clamp_min(0))) / a_r

    # The right edge is concave in dy, the left edge convex: the band's extremes are the
    # extreme points clamped into the band.
    right = x_edge(torch.minimum(torch.maximum(dyr_r, y0), y1), 1.0) + EDGE_SLACK
    left = x_edge(torch.minimum(torch.maximum(-dyr_r, y0), y1), -1.0) - EDGE_SLACK
    x_lo = torch.ceil(mx_r + left - 0.5).clamp_min(0).long()
    x_hi = torch.floor(mx_r + right - 0.5).clamp_max(width - 1).long()
    col_lo = x_lo // T
    n_cols = torch.where(x_hi >= x_lo, x_hi // T - col_lo + 1, torch.zeros_like(col_lo))

    # One pair per (Gaussian, tile).
    row_of = torch.repeat_interleave(torch.arange(len(owner), device=dev), n_cols)
    first_c = torch.cumsum(n_cols, 0) - n_cols
    tx = (col_lo - first_c).index_select(0, row_of) + torch.arange(len(row_of), device=dev)
    pair_gaussian = ids.index_select(0, owner.index_select(0, row_of))
    tile = ((pair_gaussian // N) * tiles_y + row.index_select(0, row_of)) * tiles_x + tx
    # Stable, so the depth order survives inside a tile; int32 keys sort about twice as fast.
    tile, order = torch.sort(tile.int(), stable=True)
    tile = tile.long()
    pair_gaussian = pair_gaussian.index_select(0, order)
    count = torch.bincount(tile, minlength=C * tiles_y * tiles_x)
    start = torch.cumsum(count, 0) - count
    return TileBins(T, tiles_x, tiles_y, C, C * N, pair_gaussian, tile, start, count)


def choose_tile_size(radii: Tensor) -> int:
    """Tile size for the dense CPU compositing: 4 px for small splats, 8 px for large ones.

    radii: [C, N, 2] int (0 = culled). Small tiles waste fewer pixel evaluations on splats a
    few pixels wide; once splats span many tiles, the per-pair bookkeeping of small tiles costs
    more than it saves (measured on 2-core CPUs: 4 px wins below ~10 px mean radius).
    """
    r = radii.max(dim=-1).values
    r = r[r > 0]
    return 4 if len(r) == 0 or r.float().mean() <= 10 else 8


def plan_chunks(bins: TileBins, max_elements: int = 1 << 17) -> ChunkPlan:
    """Cut the non-empty tiles into dense chunks of at most about ``max_elements`` slot-pixels.

    Tiles are sorted by pair count (longest first) so that a chunk's tiles have similar lengths
    and padding stays small.
    """
    pixels = bins.tile_size**2
    tiles = torch.nonzero(bins.tile_count).squeeze(1)
    counts, order = torch.sort(bins.tile_count[tiles], descending=True)
    tiles = tiles[order]
    padded = torch.cat([bins.pair_gaussian, bins.pair_gaussian.new_full((1,), bins.n_gaussians)])
    n_pairs = len(bins.pair_gaussian)
    counts_list = counts.tolist()
    chunks, blocks, offset, i = [], [], 0, 0
    while i < len(tiles):
        length = counts_list[i]
        step = max(1, max_elements // (length * pixels))
        sel = tiles[i:i + step]
        ar = torch.arange(length, device=tiles.device)
        idx = torch.where(ar < counts[i:i + step, None], bins.tile_start[sel, None] + ar, n_pairs)
        blocks.append(padded.index_select(0, idx.reshape(-1)))
        chunks.append(Chunk(sel, bins.tile_centres(sel), length, offset))
        offset += idx.numel()
        i += step
    slots = torch.cat(blocks) if blocks else bins.pair_gaussian.new_zeros(0)
    return ChunkPlan(slots, chunks)

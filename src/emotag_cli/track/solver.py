"""Levenberg–Marquardt over a whole clip, with each step's linear system solved exactly in O(N).

Unknowns: K parameters per frame (N frames) and G shared ones (shape, focal). The Hessian is

    [ A    B ]      A: block tridiagonal — dense K×K blocks A_t on the diagonal (each frame's own
    [ Bᵀ   C ]         landmarks and priors) coupled to the next frame by a diagonal block diag(u_t)
                       (temporal smoothness);
                    B: [N·K, G] how the shared parameters interact with each frame's; C: [G, G].

Block elimination (Thomas' algorithm) solves A against the gradient and against B's columns in
one forward and one backward sweep; the G×G Schur complement C − Bᵀ A⁻¹ B then gives the shared
step and back-substitution the per-frame ones. Cost: N solves of K×K systems with K + G + 1
right-hand sides, instead of one dense (N·K + G)² system.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch


def solve_bordered_tridiagonal(a: torch.Tensor, upper: torch.Tensor, b: torch.Tensor, c: torch.Tensor,
                               g_frame: torch.Tensor, g_shared: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Solve H [x_frame; x_shared] = [g_frame; g_shared] for the H above.

    a [N, K, K] diagonal blocks; upper [N-1, K] the diagonals of the blocks H[t, t+1] = H[t+1, t];
    b [N, K, G]; c [G, G]; g_frame [N, K]; g_shared [G]. Returns x_frame [N, K], x_shared [G].
    H must be positive definite (a damped Gauss-Newton matrix is).
    """
    n, k = g_frame.shape
    g = c.shape[0]
    rhs = torch.cat([g_frame[..., None], b], 2)                       # [N, K, 1+G]
    u_blocks, y = [], []
    prev_u = prev_y = None
    for t in range(n):
        m = a[t]
        r = rhs[t]
        if t > 0:
            lower = upper[t - 1][:, None]                             # diag(u_{t-1}) as a column scale
            m = m - lower * prev_u
            r = r - lower * prev_y
        right = torch.diag(upper[t]) if t < n - 1 else m.new_zeros(k, 0)
        sol = torch.linalg.solve(m, torch.cat([r, right], 1))
        prev_y, prev_u = sol[:, : r.shape[1]], sol[:, r.shape[1]:]
        y.append(prev_y)
        u_blocks.append(prev_u)
    z = [None] * n
    z[n - 1] = y[n - 1]
    for t in range(n - 2, -1, -1):
        z[t] = y[t] - u_blocks[t] @ z[t + 1]
    z = torch.stack(z)                                                # A⁻¹ [g_frame | B]: [N, K, 1+G]
    z_g, z_b = z[..., 0], z[..., 1:]
    if g == 0:
        return z_g, g_shared.new_zeros(0)
    schur = c - torch.einsum("nkg,nkh->gh", b, z_b)
    x_shared = torch.linalg.solve(schur, g_shared - torch.einsum("nkg,nk->g", b, z_g))
    x_frame = z_g - torch.einsum("nkg,g->nk", z_b, x_shared)
    return x_frame, x_shared


class LeastSquaresProblem(Protocol):
    def objective(self, p: dict[str, torch.Tensor]) -> float: ...
    def normal_equations(self, p: dict[str, torch.Tensor], blocks: list[str]): ...
    def apply(self, p: dict[str, torch.Tensor], blocks: list[str], d_frame: torch.Tensor,
              d_shared: torch.Tensor) -> dict[str, torch.Tensor]: ...


def levenberg_marquardt(problem: LeastSquaresProblem, p: dict[str, torch.Tensor], blocks: list[str], iters: int,
                        advance: Callable[[int], None], rtol: float = 1e-6) -> int:
    """Minimise ``problem``'s objective over ``blocks`` of ``p`` (updated in place), at most ``iters``
    steps, stopping when a step lowers it by less than ``rtol`` relatively. Returns the steps taken.

    Marquardt's damping (each parameter by its own curvature) adapts: divided by 3 after a step
    that lowers the objective, multiplied by 4 and retried after one that does not.
    """
    lam = 1e-3
    f = problem.objective(p)
    done = 0
    for _ in range(iters):
        eq = problem.normal_equations(p, blocks)
        done += 1
        improved = False
        for _attempt in range(8):
            a = eq.a + lam * torch.diag_embed(torch.diagonal(eq.a, dim1=1, dim2=2).clamp_min(1e-9))
            c = eq.c + lam * torch.diag(torch.diagonal(eq.c).clamp_min(1e-9))
            d_frame, d_shared = solve_bordered_tridiagonal(a, eq.upper, eq.b, c, -eq.g_frame, -eq.g_shared)
            q = problem.apply(p, blocks, d_frame, d_shared)
            f_new = problem.objective(q)
            if f_new < f:
                p.update(q)
                improved = True
                lam = max(lam / 3, 1e-7)
                break
            lam *= 4
        advance(1)
        if not improved:
            break
        decrease, f = f - f_new, f_new
        if decrease < rtol * f:
            break
    return done

"""Region graph and solvers for the classical segmenter (numpy + OpenCV only, no weights).

A frame is over-segmented into about a thousand small regions (superpixels). The graph of
adjacent regions carries what the segmenter needs per click in a few milliseconds:

- per region: pixel count, mean Lab colour and centroid;
- per edge: the shared boundary length, the summed GrabCut contrast term
  ``exp(-beta * |dLab|^2)`` of the pixel pairs across it, and a colour step length for
  geodesic distances.

``geodesic_distance`` is Dijkstra on that graph; ``tv_min_cut`` minimises the graph-cut
energy ``sum_i f_i u_i + sum_ij w_ij |u_i - u_j|`` over u in [0, 1] with hard seeds (its
relaxation is tight: thresholding a minimiser at 0.5 gives a minimum cut), by a diagonally
preconditioned primal-dual method (Pock and Chambolle, ICCV 2011) that runs as a handful of
vectorised numpy operations per step.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import cv2
import numpy as np

# Lab colour histogram grid: L in [0, 100], a and b in [-96, 96] (sRGB gamut, clipped).
HIST_SHAPE = (10, 12, 12)
_HIST_LO = np.array([0.0, -96.0, -96.0], np.float32)
_HIST_HI = np.array([100.0, 96.0, 96.0], np.float32)


@dataclass
class RegionGraph:
    labels: np.ndarray  # HxW int32 region id of each pixel (working resolution)
    count: np.ndarray  # (n,) pixels per region
    mean_lab: np.ndarray  # (n, 3)
    centroid: np.ndarray  # (n, 2) x, y in working pixels
    src: np.ndarray  # (m,) int64 edge endpoints, src < dst
    dst: np.ndarray
    boundary: np.ndarray  # (m,) shared boundary length in pixel pairs
    contrast: np.ndarray  # (m,) sum over the boundary pairs of exp(-beta |dLab|^2)
    step: np.ndarray  # (m,) geodesic length of the edge
    border: np.ndarray  # ids of regions touching the image border
    neighbours: list[list[tuple[int, float]]]  # adjacency with step lengths, for Dijkstra

    @property
    def size(self) -> int:
        return len(self.count)


def lab_image(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 float32 CIE Lab (L in 0..100) of an RGB uint8 image."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def colour_gradient(lab: np.ndarray) -> np.ndarray:
    """Magnitude of the Lab colour gradient (Sobel on a lightly smoothed image)."""
    blurred = cv2.GaussianBlur(lab, (0, 0), 1.0)
    total = np.zeros(lab.shape[:2], np.float32)
    for ch in range(3):
        gx = cv2.Sobel(blurred[..., ch], cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(blurred[..., ch], cv2.CV_32F, 0, 1, ksize=3)
        total += gx * gx + gy * gy
    return np.sqrt(total)


def oversegment(rgb: np.ndarray, lab: np.ndarray, regions: int) -> np.ndarray:
    """About ``regions`` connected superpixels: watershed from a grid of seeds, each moved to
    the lowest colour gradient in its 3x3 neighbourhood (as SLIC does) so no seed sits on an edge.
    """
    h, w = lab.shape[:2]
    step = max(3, int(round(np.sqrt(h * w / max(1, regions)))))
    grad = colour_gradient(lab)
    ys = np.arange(step // 2, h, step)
    xs = np.arange(step // 2, w, step)
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    gy, gx = gy.ravel(), gx.ravel()
    best = np.full(gy.shape, np.inf, np.float32)
    by, bx = gy.copy(), gx.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            yy = np.clip(gy + dy, 0, h - 1)
            xx = np.clip(gx + dx, 0, w - 1)
            v = grad[yy, xx]
            better = v < best
            best[better], by[better], bx[better] = v[better], yy[better], xx[better]
    markers = np.zeros((h, w), np.int32)
    markers[by, bx] = np.arange(1, len(by) + 1, dtype=np.int32)
    ws = cv2.watershed(np.ascontiguousarray(rgb[..., ::-1]), markers)
    # Watershed lines (-1) join a neighbouring region; ids are then made compact.
    ids = np.where(ws > 0, ws, 0).astype(np.float32)
    grown = cv2.dilate(ids, np.ones((3, 3), np.uint8)).astype(np.int32)
    ids = np.where(ws > 0, ws, grown)
    _, compact = np.unique(ids, return_inverse=True)
    return compact.reshape(h, w).astype(np.int32)


def build_region_graph(rgb: np.ndarray, lab: np.ndarray, regions: int) -> RegionGraph:
    labels = oversegment(rgb, lab, regions)
    h, w = labels.shape
    n = int(labels.max()) + 1
    flat = labels.ravel()
    count = np.bincount(flat, minlength=n).astype(np.float64)
    mean_lab = np.stack([np.bincount(flat, lab[..., c].ravel(), minlength=n) for c in range(3)], 1)
    mean_lab /= count[:, None]
    yy, xx = np.mgrid[0:h, 0:w]
    centroid = np.stack([np.bincount(flat, xx.ravel(), minlength=n),
                         np.bincount(flat, yy.ravel(), minlength=n)], 1) / count[:, None]

    # Edges from 4-neighbour pixel pairs that cross a region boundary.
    pairs, sqdiff = [], []
    for a, b, la, lb in ((labels[:, :-1], labels[:, 1:], lab[:, :-1], lab[:, 1:]),
                         (labels[:-1], labels[1:], lab[:-1], lab[1:])):
        cross = a != b
        pairs.append(np.stack([a[cross], b[cross]], 1))
        sqdiff.append(((la[cross] - lb[cross]) ** 2).sum(-1))
    # beta as in GrabCut: the inverse of twice the mean squared neighbour difference (all pairs).
    all_sq = np.concatenate([((lab[:, 1:] - lab[:, :-1]) ** 2).sum(-1).ravel(),
                             ((lab[1:] - lab[:-1]) ** 2).sum(-1).ravel()])
    beta = 1.0 / (2.0 * float(all_sq.mean()) + 1e-9)
    pair = np.sort(np.concatenate(pairs), axis=1).astype(np.int64)
    diff = np.concatenate(sqdiff)
    key, inverse = np.unique(pair[:, 0] * n + pair[:, 1], return_inverse=True)
    src, dst = key // n, key % n
    boundary = np.bincount(inverse, minlength=len(key)).astype(np.float64)
    contrast = np.bincount(inverse, np.exp(-beta * diff), minlength=len(key))
    colour_dist = np.sqrt(((mean_lab[src] - mean_lab[dst]) ** 2).sum(1))
    step = 0.05 + colour_dist / (float(colour_dist.mean()) + 1e-9)
    neighbours: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for a, b, length in zip(src.tolist(), dst.tolist(), step.tolist()):
        neighbours[a].append((b, length))
        neighbours[b].append((a, length))
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return RegionGraph(labels, count, mean_lab, centroid, src, dst, boundary, contrast, step, border,
                       neighbours)


def colour_bins(lab: np.ndarray) -> np.ndarray:
    """HxW int64 flat index of each pixel's Lab histogram bin."""
    shape = np.array(HIST_SHAPE)
    q = ((lab - _HIST_LO) / (_HIST_HI - _HIST_LO) * shape).astype(np.int64)
    q = np.clip(q, 0, shape - 1)
    return (q[..., 0] * shape[1] + q[..., 1]) * shape[2] + q[..., 2]


def _blur_matrix(n: int, sigma: float) -> np.ndarray:
    idx = np.arange(n)
    m = np.exp(-((idx[:, None] - idx[None, :]) ** 2) / (2.0 * sigma * sigma))
    return (m / m.sum(axis=1, keepdims=True)).astype(np.float32)


_BLUR = tuple(_blur_matrix(n, 0.8) for n in HIST_SHAPE)


def smooth_histogram(hist: np.ndarray) -> np.ndarray:
    """A flat histogram over HIST_SHAPE blurred in 3-D, so nearby colours share evidence."""
    cube = hist.reshape(HIST_SHAPE).astype(np.float32)
    cube = np.einsum("ia,abc->ibc", _BLUR[0], cube)
    cube = np.einsum("jb,abc->ajc", _BLUR[1], cube)
    cube = np.einsum("kc,abc->abk", _BLUR[2], cube)
    return cube.ravel()


def geodesic_distance(graph: RegionGraph, seeds: np.ndarray | list[int]) -> np.ndarray:
    """Shortest colour-path length from any seed region to every region (inf when no seeds)."""
    dist = np.full(graph.size, np.inf)
    heap = []
    for s in np.unique(np.asarray(seeds, np.int64)).tolist():
        dist[s] = 0.0
        heap.append((0.0, s))
    heapq.heapify(heap)
    neighbours = graph.neighbours
    while heap:
        d, i = heapq.heappop(heap)
        if d > dist[i]:
            continue
        for j, length in neighbours[i]:
            nd = d + length
            if nd < dist[j]:
                dist[j] = nd
                heapq.heappush(heap, (nd, j))
    return dist


def tv_min_cut(
    unary: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    fixed: np.ndarray,
    init: np.ndarray | None = None,
    iterations: int = 300,
) -> np.ndarray:
    """Minimise ``sum_i unary_i u_i + sum_e weight_e |u_src - u_dst|`` over u in [0, 1].

    ``fixed`` holds 0 or 1 for hard seeds and -1 elsewhere. Returns the relaxed u; u > 0.5 is
    the foreground. ``init`` warm-starts it (the previous click's answer converges fastest).
    """
    n = len(unary)
    degree = np.bincount(src, minlength=n) + np.bincount(dst, minlength=n)
    tau = 1.0 / np.maximum(degree, 1)
    sigma = 0.5
    hard = np.flatnonzero(fixed >= 0)
    hard_values = fixed[hard]
    u = np.full(n, 0.5) if init is None else np.clip(init.astype(np.float64), 0.0, 1.0)
    u[hard] = hard_values
    u_bar = u.copy()
    p = np.zeros(len(weight))
    low, high = -weight, weight
    # The graphs are small (a few thousand regions), so each step costs more in numpy call
    # overhead than in arithmetic: ufuncs with preallocated outputs instead of np.clip and
    # temporaries (the same operations in the same order, so the same result to the bit).
    grad = np.empty(len(weight))
    step = np.empty(n)
    for _ in range(iterations):
        np.subtract(u_bar.take(src), u_bar.take(dst), out=grad)
        grad *= sigma
        p += grad
        np.maximum(p, low, out=p)
        np.minimum(p, high, out=p)
        np.subtract(np.bincount(src, p, minlength=n), np.bincount(dst, p, minlength=n), out=step)
        step += unary
        step *= tau
        u_new = u - step
        np.maximum(u_new, 0.0, out=u_new)
        np.minimum(u_new, 1.0, out=u_new)
        u_new[hard] = hard_values
        np.multiply(u_new, 2.0, out=u_bar)
        u_bar -= u
        u = u_new
    return u


def reachable(graph: RegionGraph, member: np.ndarray, seeds: list[int]) -> np.ndarray:
    """Regions of ``member`` connected to a seed through member regions (a flood fill)."""
    out = np.zeros(graph.size, bool)
    stack = [s for s in seeds if member[s]]
    out[stack] = True
    neighbours = graph.neighbours
    while stack:
        i = stack.pop()
        for j, _ in neighbours[i]:
            if member[j] and not out[j]:
                out[j] = True
                stack.append(j)
    return out


_NEIGHBOURS = ((0, 1, 1.0), (1, 0, 1.0), (1, 1, 0.7071067811865476), (1, -1, 0.7071067811865476))


def pixel_contrast(lab: np.ndarray) -> tuple[list[np.ndarray], float]:
    """GrabCut's contrast term exp(-beta |dLab|^2) for the right, down, down-right and down-left
    neighbour of every pixel (HxW arrays, 0 where the neighbour is outside), and beta."""
    h, w = lab.shape[:2]
    sq = []
    for dy, dx, _ in _NEIGHBOURS:
        d = np.zeros((h, w), np.float32)
        ys, ye = 0, h - dy
        xs, xe = max(0, -dx), w - max(0, dx)
        diff = lab[ys:ye, xs:xe] - lab[ys + dy:ye + dy, xs + dx:xe + dx]
        d[ys:ye, xs:xe] = (diff * diff).sum(-1)
        sq.append((d, (ys, ye, xs, xe)))
    valid = np.concatenate([d[a:b, c:e].ravel() for d, (a, b, c, e) in sq])
    beta = 1.0 / (2.0 * float(valid.mean()) + 1e-9)
    out = []
    for (d, (a, b, c, e)), (_, _, dist) in zip(sq, _NEIGHBOURS):
        wgt = np.zeros((h, w), np.float32)
        wgt[a:b, c:e] = np.exp(-beta * d[a:b, c:e]) * dist
        out.append(wgt)
    return out, beta


def band_cut(
    unary: np.ndarray,
    contrast: list[np.ndarray],
    gamma: float,
    state: np.ndarray,
    iterations: int = 200,
    init: np.ndarray | None = None,
) -> np.ndarray:
    """Pixel-level min cut where ``state`` is 1 (free), 2 (fixed foreground) or 0 (fixed
    background); ``unary`` (HxW) is cost(fg) - cost(bg). Returns the foreground mask."""
    h, w = state.shape
    free = state == 1
    if not free.any():
        return state == 2
    index = np.full((h, w), -1, np.int64)
    index[free] = np.arange(int(free.sum()))
    lin = unary[free].astype(np.float64).copy()
    src_list, dst_list, wgt_list = [], [], []
    for (dy, dx, _), wmap in zip(_NEIGHBOURS, contrast):
        ys, ye = 0, h - dy
        xs, xe = max(0, -dx), w - max(0, dx)
        a_idx = index[ys:ye, xs:xe]
        b_idx = index[ys + dy:ye + dy, xs + dx:xe + dx]
        a_state = state[ys:ye, xs:xe]
        b_state = state[ys + dy:ye + dy, xs + dx:xe + dx]
        wv = gamma * wmap[ys:ye, xs:xe]
        both = (a_idx >= 0) & (b_idx >= 0)
        src_list.append(a_idx[both])
        dst_list.append(b_idx[both])
        wgt_list.append(wv[both].astype(np.float64))
        # A free pixel next to a fixed one: |u - 1| = 1 - u (fg) or |u - 0| = u (bg), a linear term.
        for free_idx, other in ((a_idx, b_state), (b_idx, a_state)):
            sel = (free_idx >= 0) & (other != 1)
            sign = np.where(other[sel] == 2, -1.0, 1.0)
            np.add.at(lin, free_idx[sel], sign * wv[sel])
    src = np.concatenate(src_list)
    dst = np.concatenate(dst_list)
    weight = np.concatenate(wgt_list)
    u0 = None if init is None else init[free].astype(np.float64)
    u = tv_min_cut(lin, src, dst, weight, np.full(len(lin), -1.0), init=u0, iterations=iterations)
    out = state == 2
    out[free] = u > 0.5
    return out

"""The map's colours measured: CIEDE2000 tables under four visions, and the partner search.

Prints, for normal vision and simulated protanopia, deuteranopia and tritanopia (Machado et
al. 2009, severity 1), the ΔE00 of every partner colour against every status colour
(translucent ones composited over the land fill), the closest pair of partner colours, and
how far the gap line stands from the covered border, the border and the map's background.

With ``--search`` it reruns the search that chose ``PARTNER_PALETTE`` for the current status
colours: candidates on a 15-step sRGB grid that stay >= 20.5 from every status colour in
every vision, >= 15 from the land fill and have chroma >= 35; six of them picked by a
max–min local search (many random starts) on
``min(ΔE00 under any simulation, ΔE00 normal − 15)``, a seventh added, then each moved on a
5-step grid while that improves. Takes a few seconds.

    .venv/bin/python bench/colour_palette.py [--search]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from layers import style  # noqa: E402
from layers.colour import ciede2000, composite, simulate_cvd, srgb_to_lab  # noqa: E402

VISIONS = ("normal", "protan", "deutan", "tritan")
LAND = np.asarray(style.BASEMAP_FILL[:3], dtype=float)
STATUS_MIN, LAND_MIN, CHROMA_MIN, NORMAL_SLACK = 20.5, 15.0, 35.0, 15.0


def lab4(rgb: np.ndarray) -> np.ndarray:
    """CIELAB of opaque sRGB colours under the four visions, shape (4, ..., 3)."""
    rgb = np.asarray(rgb, dtype=float)
    return np.stack([srgb_to_lab(rgb if v == "normal" else simulate_cvd(rgb, v)) for v in VISIONS])


def status_lab() -> tuple[list[str], np.ndarray]:
    names = list(style.STATUS_COLOURS)
    seen = composite(np.asarray([style.STATUS_COLOURS[n] for n in names], dtype=float), LAND)
    return names, lab4(seen)


def audit(palette: np.ndarray) -> None:
    names, slab = status_lab()
    plab = lab4(palette)
    labels = [f"P{i}{tuple(int(c) for c in rgb)}" for i, rgb in enumerate(palette)]
    for v, vision in enumerate(VISIONS):
        d = ciede2000(plab[v][:, None], slab[v][None])
        print(f"\n{vision}: partner x status ΔE00 (min {d.min():.2f})")
        print(" " * 22 + "".join(f"{n[:12]:>13}" for n in names))
        for label, row in zip(labels, d, strict=True):
            print(f"{label:22}" + "".join(f"{x:13.1f}" for x in row))
        for k in (6, len(palette)):
            pp = ciede2000(plab[v][:k, None], plab[v][None, :k])
            pp[np.eye(k, dtype=bool)] = np.inf
            i, j = np.unravel_index(pp.argmin(), pp.shape)
            print(f"  closest partners of the first {k}: {labels[i]} / {labels[j]}: {pp.min():.2f}")
    lines = {
        "covered": style.COVERED,
        "border": style.BORDER,
        "land": style.BASEMAP_FILL,
        "sea": style.BACKGROUND,
    }
    for name, rgba in lines.items():
        d = ciede2000(lab4(np.asarray(style.GAP[:3])), lab4(np.asarray(rgba[:3])))
        print(
            f"gap line vs {name:8}: "
            + ", ".join(f"{v} {x:.1f}" for v, x in zip(VISIONS, d, strict=True))
        )


def pair_scores(lab: np.ndarray) -> np.ndarray:
    """The search's pair score: ΔE00 under the worst simulation, or normal ΔE00 − slack."""
    normal = ciede2000(lab[0][:, None], lab[0][None])
    cvd = np.min([ciede2000(lab[v][:, None], lab[v][None]) for v in (1, 2, 3)], axis=0)
    return np.minimum(cvd, normal - NORMAL_SLACK)


def admissible(rgb: np.ndarray) -> np.ndarray:
    _, slab = status_lab()
    lab = lab4(rgb)
    to_status = ciede2000(lab[:, :, None], slab[:, None]).min(axis=(0, 2))
    to_land = ciede2000(lab, lab4(LAND)[:, None]).min(axis=0)
    chroma = np.hypot(lab[0, :, 1], lab[0, :, 2])
    return (to_status >= STATUS_MIN) & (to_land >= LAND_MIN) & (chroma >= CHROMA_MIN)


def search(k: int = 6, starts: int = 60, seed: int = 0) -> np.ndarray:
    grid = np.arange(0, 256, 15, dtype=float)
    cand = np.array(list(itertools.product(grid, grid, grid)))
    cand = cand[admissible(cand)]
    score = pair_scores(lab4(cand))
    np.fill_diagonal(score, -np.inf)
    rng = np.random.default_rng(seed)
    best, best_v = None, -np.inf
    for _ in range(starts):
        cur = list(rng.choice(len(cand), k, replace=False))
        improved = True
        while improved:
            improved = False
            for i in range(k):
                others = cur[:i] + cur[i + 1 :]
                col = score[:, others].min(axis=1)
                col[others] = -np.inf
                if col.max() > score[cur[i], others].min() + 1e-9:
                    cur[i], improved = int(col.argmax()), True
        sub = score[np.ix_(cur, cur)]
        v = sub[~np.eye(k, dtype=bool)].min()
        if v > best_v:
            best, best_v = list(cur), v
    col = score[:, best].min(axis=1)
    col[best] = -np.inf
    return refine(cand[[*best, int(col.argmax())]], k)


def refine(palette: np.ndarray, k: int, box: int = 25, step: int = 5) -> np.ndarray:
    palette = palette.copy()
    for _ in range(6):
        moved = False
        for i in range(len(palette)):
            axes = [np.arange(max(0, c - box), min(255, c + box) + 1, step) for c in palette[i]]
            near = np.array(list(itertools.product(*axes)), dtype=float)
            near = near[admissible(near)]
            peers = [j for j in range(len(palette)) if j != i and (i >= k or j < k)]
            both = lab4(np.vstack([near, palette[peers]]))
            s = pair_scores(both)[: len(near), len(near) :].min(axis=1)
            now = pair_scores(lab4(palette[[i, *peers]]))[0, 1:].min()
            if s.max() > now + 0.05:
                palette[i], moved = near[s.argmax()], True
        if not moved:
            break
    return palette


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search", action="store_true", help="rerun the partner palette search")
    args = parser.parse_args()
    print("current palette")
    audit(np.asarray(style.PARTNER_PALETTE, dtype=float))
    if args.search:
        found = search()
        print("\nsearched palette: " + ", ".join(str(tuple(int(c) for c in rgb)) for rgb in found))
        audit(found)


if __name__ == "__main__":
    main()

"""One polygon tested by many threads at once (the app's sessions share cached analyses).

shapely prepares a polygon in place on first use and GEOS builds a prepared polygon's
indexes lazily, neither thread-safely (libgeos/geos#825). Before the tests went through
:mod:`geo.core.shared_geometry`, eight threads classifying points against one shared
:class:`~geo.coverage.pointindex.Membership` aborted the process ("unaligned tcache chunk
detected", or a segmentation fault) within a second. Each check runs in a child process, so
a crash fails the test instead of ending the test run; the answers are compared with one
thread's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_SCRIPT = """
import threading
import numpy as np
import shapely
from geo.coverage.pointindex import Membership
from geo.core.shared_geometry import contains_xy

rng = np.random.default_rng(0)
t = np.linspace(0, 2 * np.pi, 20_000)
r = 1 + 0.3 * np.sin(40 * t) + 0.05 * rng.random(t.size)
poly = shapely.Polygon(np.c_[r * np.cos(t), r * np.sin(t)])
x = rng.uniform(-1.5, 1.5, {n})
y = rng.uniform(-1.5, 1.5, {n})
truth = shapely.contains_xy(shapely.Polygon(poly.exterior), x, y)
wrong = 0
for _ in range(100):
    shared = shapely.Polygon(poly.exterior)  # new, unprepared: as a fresh cached analysis
    m = Membership([shared])
    out = [None] * 8

    def run(i):
        out[i] = m.contains(x, y)[:, 0] if i % 2 else contains_xy(shared, x, y)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wrong += sum(not np.array_equal(o, truth) for o in out)
print("wrong", wrong, "inside", int(truth.sum()))
"""


@pytest.mark.parametrize("n", [5_000, 30_000], ids=["geos", "polygon-index"])
def test_eight_threads_share_one_polygon_without_crashing_or_wrong_answers(n: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(n=n)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    wrong, inside = done.stdout.split()[1::2]
    assert wrong == "0"
    assert 0 < int(inside) < n  # the points fall both sides of the outline

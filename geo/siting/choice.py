"""Choosing the sites: lazy greedy with a proven bound, then an exact MILP under a time limit.

Both work on a reduced :class:`~geo.siting.instance.Instance` (maximise the weight of the
elements watched by at most ``n`` candidates).

- :func:`lazy_greedy` (CELF, Leskovec et al. 2007): the coverage is submodular, so a
  candidate's gain only shrinks as sites are added; gains are recomputed only for the
  candidate on top of the heap. Greedy reaches at least ``1 - 1/e`` of the optimum
  (Nemhauser, Wolsey and Fisher 1978). It also gives a data-dependent bound: after any step
  with value ``f(S)``, no ``n`` candidates can reach more than ``f(S)`` plus the sum of the
  ``n`` largest gains with respect to ``S`` (submodularity); the stale gains the heap holds
  are at least the true ones, so the bound uses them and stays valid. The smallest such bound
  over the steps is kept.
- :func:`exact_milp` solves ``max sum w_j y_j`` s.t. ``y_j <= sum_{i watches j} x_i``,
  ``sum x_i <= n``, ``x`` binary, ``0 <= y <= 1`` with HiGHS (:mod:`highspy`), warm-started
  from the greedy plan, under a time limit; its dual bound (at worst the LP relaxation's) is a
  second proven upper bound.
"""

from __future__ import annotations

import heapq
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geo.siting.instance import Instance

#: Weights are divided by this in the MILP (metres become km: better scaled for HiGHS).
_SCALE = 1000.0


@dataclass
class Choice:
    """A choice of rows of an instance.

    Attributes
    ----------
    rows
        The chosen rows, in the order they were chosen.
    value
        The weight they watch together.
    bound
        A proven upper bound on what any ``n`` rows can watch (``inf`` when unknown).
    info
        How it was found (JSON-ready).
    """

    rows: list[int]
    value: float
    bound: float
    info: dict[str, Any] = field(default_factory=dict)


def _top_sum(values: NDArray[np.float64], n: int) -> float:
    if values.size <= n:
        return float(values.sum())
    return float(np.partition(values, values.size - n)[values.size - n :].sum())


def lazy_greedy(inst: Instance, n: int) -> Choice:
    """Up to ``n`` rows by lazy greedy, and the greedy bound (see the module notes).

    Ties go to the lower row. Stops early when no row adds anything.

    Examples
    --------
    >>> from geo.siting.instance import reduce_instance
    >>> inst = reduce_instance(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]),
    ...                        np.array([1.0, 5.0, 2.0]))
    >>> c = lazy_greedy(inst, 2)
    >>> [int(inst.candidate[r]) for r in c.rows], c.value, c.bound
    ([0, 2], 8.0, 8.0)
    """
    t0 = time.perf_counter()
    w, ptr, idx = inst.weight, inst.ptr, inst.idx
    covered = np.zeros(w.size, dtype=bool)
    gain = np.add.reduceat(w[idx], ptr[:-1]) if idx.size else np.zeros(ptr.size - 1)
    gain = np.where(np.diff(ptr) > 0, gain, 0.0)
    heap = [(-float(g), k) for k, g in enumerate(gain)]
    heapq.heapify(heap)
    fresh = np.zeros(gain.size, dtype=np.int64)  # the step at which each gain was computed
    value, bound, evaluations = 0.0, _top_sum(gain, n), gain.size
    bound_step = 0
    rows: list[int] = []
    while heap and len(rows) < n:
        neg, k = heapq.heappop(heap)
        if fresh[k] != len(rows):
            el = idx[ptr[k] : ptr[k + 1]]
            gain[k] = float(w[el][~covered[el]].sum())
            fresh[k] = len(rows)
            evaluations += 1
            heapq.heappush(heap, (-float(gain[k]), k))
            continue
        if -neg <= 0.0:
            break
        rows.append(k)
        value += -neg
        covered[idx[ptr[k] : ptr[k + 1]]] = True
        gain[k] = 0.0
        # gain[] holds, for every row, a gain at least its true one now (submodularity).
        step_bound = value + _top_sum(gain, n)
        if step_bound < bound:
            bound, bound_step = step_bound, len(rows)
    if not heap or len(rows) < n:
        bound = min(bound, value + (0.0 if not heap else _top_sum(gain, n)))
    info = {
        "value": value,
        "bound": bound,
        "bound_step": bound_step,
        "evaluations": evaluations,
        "time_s": round(time.perf_counter() - t0, 4),
    }
    return Choice(rows=rows, value=value, bound=max(bound, value), info=info)


def lagrangian_bound(
    inst: Instance, n: int, rows: list[int], *, lower: float, time_budget_s: float
) -> dict[str, Any]:
    """An upper bound by subgradient descent on the Lagrangian dual of the LP relaxation.

    With a multiplier ``0 <= mu_j <= w_j`` on each constraint ``y_j <= sum_{i watches j} x_i``,
    ``L(mu) = sum_j (w_j - mu_j) + (sum of the n largest sum_{j in S_i} mu_j)`` bounds every
    plan of ``n`` rows (weak duality), whatever ``mu``. Starting from ``mu_j = w_j`` on the
    elements the rows ``rows`` leave open and 0 on the others (there ``L`` is the greedy bound
    of that plan), Polyak steps towards the plan's value ``lower`` tighten it; the smallest
    ``L`` seen is returned, with the iterations and the time spent.
    """
    t0 = time.perf_counter()
    w, ptr, idx = inst.weight, inst.ptr, inst.idx
    if not idx.size:
        return {"bound": 0.0, "iterations": 0, "time_s": 0.0}
    covered = np.zeros(w.size, dtype=bool)
    for k in rows:
        covered[idx[ptr[k] : ptr[k + 1]]] = True
    mu = np.where(covered, 0.0, w)
    best, it, scale = math.inf, 0, 1.0
    k = min(n, ptr.size - 1)
    while time.perf_counter() - t0 < time_budget_s and it < 2000:
        score = np.add.reduceat(mu[idx], ptr[:-1])
        top = np.argpartition(score, score.size - k)[score.size - k :]
        value = float(np.maximum(w - mu, 0.0).sum() + score[top].sum())
        if value < best:
            best = value
        else:  # no progress: shorter steps, until they are too short to matter
            scale *= 0.9
            if scale < 1e-3:
                break
        it += 1
        if best <= lower * (1 + 1e-9):
            break
        grad = -(w > mu).astype(float)
        for t in top:
            grad[idx[ptr[t] : ptr[t + 1]]] += 1.0
        norm = float(grad @ grad)
        if norm == 0.0:
            break
        mu = np.clip(mu - scale * (value - lower) / norm * grad, 0.0, w)
    return {"bound": best, "iterations": it, "time_s": round(time.perf_counter() - t0, 4)}


def exact_milp(inst: Instance, n: int, start: list[int], *, time_limit_s: float) -> Choice:
    """The exact choice by HiGHS under ``time_limit_s``, warm-started from ``start`` rows.

    Returns the best plan HiGHS found (``start`` itself when it found none better) and its
    dual bound (``inf`` when it proved none in time). ``info`` holds ``status``, ``time_s``,
    ``gap`` (relative), ``value`` and ``bound``.
    """
    import highspy

    t0 = time.perf_counter()
    n_x, n_y = inst.n_candidates, inst.weight.size
    h = _quiet_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(max(time_limit_s, 1e-3)))
    h.setOptionValue("mip_rel_gap", 1e-7)
    h.setOptionValue("threads", 1)
    # HiGHS' presolve does not check the time limit (measured: 7.7 s under a 2 s limit on
    # 890,000 non-zeros); the reduction (geo.siting.instance) has done its work already.
    h.setOptionValue("presolve", "off")
    # Nor does the feasibility jump heuristic (2.8 s before the root LP, same instance); the
    # greedy plan is a good first solution anyway.
    h.setOptionValue("mip_heuristic_run_feasibility_jump", False)
    _pass_model(h, inst, n)
    sol = highspy.HighsSolution()
    x0 = np.zeros(n_x + n_y)
    x0[start] = 1.0
    covered = np.zeros(n_y, dtype=bool)
    for k in start:
        covered[inst.idx[inst.ptr[k] : inst.ptr[k + 1]]] = True
    x0[n_x:] = covered
    sol.col_value = x0.tolist()
    h.setSolution(sol)
    h.run()
    info = h.getInfo()
    status = h.modelStatusToString(h.getModelStatus())
    start_value = float(inst.weight[covered].sum())
    value, rows = start_value, list(start)
    if info.primal_solution_status == 2:  # a feasible solution
        x = np.asarray(h.getSolution().col_value[:n_x])
        found = [int(k) for k in np.flatnonzero(x > 0.5)]
        got = _value(inst, found)
        if got > start_value * (1 + 1e-12) and len(found) <= n:
            value, rows = got, found
    # The objective is in thousands of the weight (km for metres): scaled back.
    dual = float(info.mip_dual_bound) * _SCALE
    bound = dual if math.isfinite(dual) and abs(dual) < highs_inf() else math.inf
    gap = (bound - value) / value if value > 0 and math.isfinite(bound) else None
    out = {
        "status": status,
        "time_s": round(time.perf_counter() - t0, 4),
        "gap": None if gap is None else max(gap, 0.0),
        "value": value,
        "bound": bound if math.isfinite(bound) else None,
        "improved_greedy": value > start_value,
    }
    return Choice(rows=rows, value=value, bound=bound, info=out)


def _value(inst: Instance, rows: list[int]) -> float:
    covered = np.zeros(inst.weight.size, dtype=bool)
    for k in rows:
        covered[inst.idx[inst.ptr[k] : inst.ptr[k + 1]]] = True
    return float(inst.weight[covered].sum())


def _pass_model(h: Any, inst: Instance, n: int) -> None:
    """The MILP, column-wise: ``x`` (one per row of the instance), then ``y`` (per element)."""
    n_x, n_y = inst.n_candidates, inst.weight.size
    counts = np.diff(inst.ptr)
    # Column x_k: -1 in the rows of its elements, +1 in the cardinality row (row n_y).
    x_start = inst.ptr[:-1] + np.arange(n_x)
    x_index = np.empty(inst.idx.size + n_x, dtype=np.int32)
    x_value = np.empty(inst.idx.size + n_x)
    last = inst.ptr[1:] + np.arange(n_x)
    mask = np.ones(x_index.size, dtype=bool)
    mask[last] = False
    x_index[mask], x_value[mask] = inst.idx, -1.0
    x_index[last], x_value[last] = n_y, 1.0
    nnz_x = x_index.size
    a_start = np.r_[x_start, nnz_x + np.arange(n_y)].astype(np.int32)
    a_index = np.r_[x_index, np.arange(n_y)].astype(np.int32)
    a_value = np.r_[x_value, np.ones(n_y)]
    inf = highs_inf()
    assert counts.sum() == inst.idx.size
    h.passModel(
        n_x + n_y,
        n_y + 1,
        int(a_index.size),
        1,  # column-wise
        -1,  # maximise
        0.0,
        np.r_[np.zeros(n_x), inst.weight / _SCALE],
        np.zeros(n_x + n_y),
        np.ones(n_x + n_y),
        np.r_[np.full(n_y, -inf), -inf],
        np.r_[np.zeros(n_y), float(n)],
        a_start,
        a_index,
        a_value,
        np.r_[np.ones(n_x), np.zeros(n_y)].astype(np.int32),
    )


_BANNER_LOCK = threading.Lock()
_banner_done = False


def _quiet_highs() -> Any:
    """A :class:`highspy.Highs` with its output off.

    HiGHS writes its banner to the process' standard output (file descriptor 1, from C++) the
    first time a solver is made, before any option can turn it off; on the command line that
    would corrupt the JSON on stdout. The first solver is therefore made with descriptor 1
    pointed at ``/dev/null`` for the moment it takes.
    """
    import highspy

    global _banner_done
    with _BANNER_LOCK:
        if _banner_done:
            h = highspy.Highs()
        else:
            sys.stdout.flush()
            saved = os.dup(1)
            try:
                with open(os.devnull, "w") as null:
                    os.dup2(null.fileno(), 1)
                    h = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
            _banner_done = True
    h.setOptionValue("output_flag", False)
    return h


def highs_inf() -> float:
    """HiGHS' infinity."""
    import highspy

    return float(highspy.kHighsInf)


__all__ = ["Choice", "exact_milp", "lagrangian_bound", "lazy_greedy"]

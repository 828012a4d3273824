"""Where to put the next sensors: a siting planner that closes the border's gaps.

``params`` states what is asked (the new sensors, how many, the objective); ``candidates``
generates the candidate sites and ``files`` reads given ones (and excluded areas); ``reach``
computes what each would watch (with the coverage engines of :mod:`geo.coverage`, viewsheds
with a DEM); ``instance`` reduces the choice to a maximum-coverage problem on elementary
border pieces; ``choice`` solves it (lazy greedy, a Lagrangian bound, then a MILP with HiGHS)
and proves an upper bound; ``plan`` is the recipe (:func:`plan_sites`,
:func:`evaluate_sites`) and the result (:class:`SitingPlan`). See ``docs/siting.md``.
"""

from geo.siting.candidates import candidate_grid
from geo.siting.files import read_areas, read_candidates
from geo.siting.params import SiteParams, check_params, new_sensors
from geo.siting.plan import SitingPlan, evaluate_sites, plan_sites

__all__ = [
    "SiteParams",
    "SitingPlan",
    "candidate_grid",
    "check_params",
    "evaluate_sites",
    "new_sensors",
    "plan_sites",
    "read_areas",
    "read_candidates",
]

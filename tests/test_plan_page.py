"""The Plan page on the sample operation: the sites and numbers it shows are ``geo.siting``'s.

Pia (planner of LTU) and Cora (commander of LTU) sign in to the app, whose store is seeded
with the sample operation on first run. The page's suggested sites and its before/after
numbers must be what :func:`geo.siting.plan_sites` gives for the same parameters, and the
coverage after the plan what :func:`geo.coverage.analyse` gives on the sensors plus the sites
(the outside truth: the engine the siting does not choose with). A moved site's numbers are
:func:`geo.siting.evaluate_sites`'. A commander plans for their own partner only and cannot
save; a planner's "Add to the operation" stores a new sensor version holding the sites, which
the Map page then shows.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from browser_util import near
from PIL import Image
from streamlit.testing.v1 import AppTest

from geo import store
from geo.access import add_user
from geo.coverage.analysis import analyse
from geo.inputs import Scenario
from geo.operations import SAMPLE, load_operation, operation_scenario
from geo.siting import SiteParams, evaluate_sites, plan_sites
from layers.plan import SITE_FILL, plan_snapshot, site_numbers_layer, sites_layer
from layers.snapshot import render_snapshot, snapshot_bytes

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGE = "app_pages/plan.py"
SUGGEST = "FormSubmitter:plan_form-Suggest sites"
PARTNER, COUNT, RANGE_M = "LTU", 4, 6000.0
CORRIDOR_KM, MIN_GAP_M = 5.0, 1.0  # the sample operation's


def _params(count: int = COUNT) -> SiteParams:
    """The page's parameters: its defaults, with this count, range and partner."""
    return SiteParams(
        count=count, range_m=RANGE_M, partner=PARTNER, corridor_km=CORRIDOR_KM, kind="tower"
    )


def _signed_in(name: str, roles: str) -> AppTest:
    """``name`` (of LTU, with ``roles``) signs in and opens the Plan page."""
    users = Path(os.environ["LIMES_USERS_FILE"])
    add_user(users, name, partner=PARTNER, roles=roles, password="a long passphrase 7")
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    at.text_input(key="signin_name").input(name)
    at.text_input(key="signin_password").input("a long passphrase 7")
    at.button(key="signin_submit").click().run()
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def _suggest(at: AppTest, count: int = COUNT) -> None:
    at.selectbox(key="plan_partner").select(PARTNER)
    at.number_input(key="plan_count").set_value(count)
    at.number_input(key="plan_range").set_value(RANGE_M)
    at.button(key=SUGGEST).click().run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]


def _scenario() -> tuple[Path, Scenario]:
    path = Path(os.environ["LIMES_STORE"])
    return path, operation_scenario(path, SAMPLE)


def _with_sites(sc: Scenario, sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    both = pd.concat([sc.sensors, sites.to_crs(4326)], ignore_index=True)
    return gpd.GeoDataFrame(both, geometry="geometry", crs=4326)


def _metrics(at: AppTest) -> dict[str, Any]:
    return {m.label: m for m in at.metric}


def _shown_sites(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value.reset_index(drop=True)


def test_the_page_shows_plan_sites_and_the_coverage_analyse_gives() -> None:
    at = _signed_in("pia", "planner")
    assert [i.value for i in at.info] == ["Set the parameters and click **Suggest sites**."]
    _suggest(at)
    _, sc = _scenario()
    plan = plan_sites(sc.border, sc.sensors, _params(), sectors=sc.sectors, min_gap_m=MIN_GAP_M)
    assert len(plan.sites) == COUNT
    # the table: the sites geo.siting chose, in rank order, at its positions, with its gains
    shown = _shown_sites(at)
    assert shown["rank"].tolist() == list(range(1, COUNT + 1))
    assert shown["sensor_id"].tolist() == plan.sites["sensor_id"].astype(str).tolist()
    assert shown["lon"].tolist() == pytest.approx(plan.sites.geometry.x.tolist(), abs=1e-6)
    assert shown["lat"].tolist() == pytest.approx(plan.sites.geometry.y.tolist(), abs=1e-6)
    assert shown["gain_km"].tolist() == pytest.approx(plan.sites["gain_km"].tolist(), abs=1e-3)
    assert (shown["gain_km"] > 0).all()
    # the numbers: plan_sites' after, which is analyse's on the sensors plus the sites
    metrics = _metrics(at)
    assert metrics["Coverage"].value == f"{plan.after['coverage_pct']:,.2f} %"
    assert metrics["Covered"].value == f"{plan.after['covered_km']:,.2f} km"
    assert metrics["Gaps"].value == f"{plan.after['gap_km']:,.2f} km"
    assert metrics["Longest gap"].value == f"{plan.after['longest_gap_km']:,.2f} km"
    gain = plan.after["covered_km"] - plan.before["covered_km"]
    assert metrics["Covered"].delta == f"{gain:+,.2f} km"
    truth = analyse(
        sc.border, _with_sites(sc, plan.sensors()), sectors=sc.sectors,
        corridor_km=CORRIDOR_KM, min_gap_m=MIN_GAP_M,
    ).report["partners"][PARTNER]  # fmt: skip
    assert float(metrics["Covered"].value.split()[0].replace(",", "")) == pytest.approx(
        truth["sector_covered_km"], rel=1e-3, abs=0.01
    )
    assert float(metrics["Coverage"].value.split()[0]) == pytest.approx(
        truth["sector_coverage_pct"], abs=0.1
    )
    captions = " ".join(c.value for c in at.caption)
    assert f"No plan of {COUNT} of these {plan.candidates:,} candidates can exceed" in captions
    assert f"**{plan.upper_bound_km:,.2f} km**" in captions
    # the gaps left: those of analyse in LTU's sectors, longest first
    gaps = at.dataframe[1].value
    assert gaps["length_km"].tolist() == sorted(gaps["length_km"], reverse=True)


def test_a_moved_site_shows_what_evaluate_sites_gives() -> None:
    at = _signed_in("pia", "planner")
    _suggest(at)
    _, sc = _scenario()
    plan = plan_sites(sc.border, sc.sensors, _params(), sectors=sc.sectors, min_gap_m=MIN_GAP_M)
    # site 2, typed 3 km north-east of where it was
    at.selectbox(key="plan_move_rank").select(2).run()
    site = plan.sites[plan.sites["rank"] == 2].iloc[0]
    assert at.number_input(key="plan_move_lat").value == pytest.approx(site.geometry.y)
    lon, lat = round(site.geometry.x + 0.03, 6), round(site.geometry.y + 0.02, 6)
    at.number_input(key="plan_move_lat").set_value(lat)
    at.number_input(key="plan_move_lon").set_value(lon)
    at.button(key="plan_move").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [f"Site 2 moved to {lat:.5f}, {lon:.5f}."]
    moved = plan.sites.copy()
    moved.loc[moved["rank"] == 2, "geometry"] = gpd.points_from_xy([lon], [lat], crs=4326)
    want = evaluate_sites(
        sc.border, sc.sensors, moved, _params(), sectors=sc.sectors, min_gap_m=MIN_GAP_M
    )
    assert _metrics(at)["Covered"].value == f"{want.after['covered_km']:,.2f} km"
    assert _shown_sites(at)["gain_km"].tolist() == pytest.approx(
        want.sites["gain_km"].tolist(), abs=1e-3
    )
    # then a click on a grid cell (what st.pydeck_chart reports) moves site 1 to its centre
    cell = {"cell": 11, "lon": float(site.geometry.x), "lat": float(site.geometry.y)}
    at.selectbox(key="plan_move_rank").select(1).run()
    at.session_state["plan_map_0"] = {
        "selection": {"indices": {"placement_grid": [11]}, "objects": {"placement_grid": [cell]}}
    }
    at.run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Site 1 moved to the centre of grid cell 11."]
    shown = _shown_sites(at)
    first = shown[shown["rank"] == 1].iloc[0]
    assert (first["lon"], first["lat"]) == pytest.approx((cell["lon"], cell["lat"]), abs=1e-6)
    # a click on site 3 on the map selects it for moving; the map is drawn afresh, unselected
    at.session_state["plan_map_1"] = {
        "selection": {"indices": {"plan_sites": [2]}, "objects": {"plan_sites": [{"rank": 3}]}}
    }
    at.run()
    assert at.selectbox(key="plan_move_rank").value == 3
    assert "plan_map_2" in at.session_state


def test_a_commander_plans_for_their_partner_and_cannot_save() -> None:
    at = _signed_in("cora", "commander")
    assert at.selectbox(key="plan_partner").options == [PARTNER]
    _suggest(at)
    add = at.button(key="plan_add")
    assert add.disabled
    reason = "Only planners may add sensors to an operation: your account has the commander role."
    assert reason in [c.value for c in at.caption]
    path, _ = _scenario()
    assert store.layer_versions(path, SAMPLE, "sensors")["version"].tolist() == [1]


def test_a_planner_adds_the_sites_and_the_map_shows_the_new_version() -> None:
    at = _signed_in("pia", "planner")
    _suggest(at)
    path, sc = _scenario()
    plan = plan_sites(sc.border, sc.sensors, _params(), sectors=sc.sectors, min_gap_m=MIN_GAP_M)
    at.button(key="plan_add").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [
        f"Version 2 saved with {COUNT} new sites: the Map now shows it."
    ]
    versions = store.layer_versions(path, SAMPLE, "sensors")
    assert versions["version"].tolist() == [1, 2]
    assert versions.iloc[-1]["created_by"] == "pia"
    stored = load_operation(path, SAMPLE).sensors
    assert len(stored) == len(sc.sensors) + COUNT
    new = stored[stored["sensor_id"].isin(plan.sites["sensor_id"].astype(str))]
    new = new.set_index("sensor_id").loc[plan.sites["sensor_id"].astype(str)]
    assert new.geometry.x.tolist() == pytest.approx(plan.sites.geometry.x.tolist(), abs=1e-6)
    assert new.geometry.y.tolist() == pytest.approx(plan.sites.geometry.y.tolist(), abs=1e-6)
    assert set(new["partner"]) == {PARTNER}
    assert new["range_m"].tolist() == [RANGE_M] * COUNT
    # the Map page: the new version's coverage, as analyse gives it on sensors plus sites
    truth = analyse(
        sc.border, _with_sites(sc, plan.sensors()), sectors=sc.sectors,
        corridor_km=CORRIDOR_KM, min_gap_m=MIN_GAP_M,
    ).report["border"]  # fmt: skip
    at.switch_page("app_pages/map.py").run()
    at.toggle(key="terrain").set_value(False).run()  # flat footprints, as plan_sites used
    assert not at.exception
    assert _metrics(at)["Coverage"].value == f"{truth['coverage_pct']:.1f} %"


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("plan_min_range", 7000.0, "min_range_m"),
        ("plan_fov", 90.0, "azimuth_deg"),
        ("plan_range", -5.0, "range_m"),
        ("plan_spacing", 10.0, "spacing_m"),
    ],
)
def test_bad_parameters_give_a_clear_message(key: str, value: float, field: str) -> None:
    at = _signed_in("pia", "planner")
    at.number_input(key="plan_range").set_value(RANGE_M)
    at.number_input(key=key).set_value(value)
    at.button(key=SUGGEST).click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1
    assert errors[0].startswith(f"No plan with these parameters: Plan parameters, field '{field}'")
    assert not at.metric  # no plan shown


def test_the_snapshot_draws_the_sites_where_they_are() -> None:
    at = _signed_in("pia", "planner")
    _suggest(at, count=2)
    at.button(key="plan_export").click().run()
    assert not at.exception
    button = at.get("download_button")[0]
    assert button.label == "Download the snapshot (PNG)"
    _, sc = _scenario()
    plan = plan_sites(sc.border, sc.sensors, _params(2), sectors=sc.sectors, min_gap_m=MIN_GAP_M)
    after = analyse(
        sc.border, _with_sites(sc, plan.sensors()), sectors=sc.sectors,
        corridor_km=CORRIDOR_KM, min_gap_m=MIN_GAP_M,
    )  # fmt: skip
    png = plan_snapshot(after, plan.sites, fmt="png", partner=PARTNER)
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert image.shape[1] == 2600
    # where the map puts each site (its frame and extent from the same render's summary)
    summary = render_snapshot(
        after, out=io.BytesIO(), fmt="png", partner=PARTNER,
        extra_layers=[sites_layer(plan.sites), site_numbers_layer(plan.sites)],
    )  # fmt: skip
    assert summary["layers"][-2:] == ["plan_sites", "plan_site_numbers"]
    assert "Suggested site (number: its rank)" in summary["legend"]
    (xmin, ymin, xmax, ymax), (left, top, right, bottom) = summary["map_extent"], summary["map_box"]
    xs, ys = after.acrs.to_proj.transform(plan.sites.geometry.x, plan.sites.geometry.y)
    for x, y in zip(xs, ys, strict=True):
        px = left + (x - xmin) / (xmax - xmin) * (right - left)
        py = top + (ymax - y) / (ymax - ymin) * (bottom - top)
        around = image[int(py) - 12 : int(py) + 13, int(px) - 12 : int(px) + 13]
        assert near(around, SITE_FILL[:3], tol=20) > 20  # the dark dot is there
    plain = np.asarray(
        Image.open(io.BytesIO(snapshot_bytes(after, fmt="png", partner=PARTNER))).convert("RGB")
    )
    assert near(plain, SITE_FILL[:3], tol=20) < near(image, SITE_FILL[:3], tol=20)

"""Views of the report: each partner's own headline figures, joint ones named, gaps ranked per view.

Expected lengths come from outside the code under test: a border along the equator (a
geodesic, so chainage is the distance :class:`pyproj.Geod` walks along it), sectors cut at
known chainages, and sensors whose disks cover known chords of it.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from geo.coverage.analysis import analyse
from geo.coverage.views import JOINT, Headline, gap_ranks, gap_rows_in_view, gaps_in_view, headline
from geo.inputs.scenario import load_scenario

GEOD = Geod(ellps="WGS84")
ROOT = Path(__file__).resolve().parents[1]
LON0 = 20.0
BORDER_KM = 100.0
#: Chainages agree with the analytic ones to a metre (disk chords are scaled to the
#: ellipsoid at the sensor, sector edges follow meridians).
TOL_KM = 1e-3


def on_border(d_km: float) -> tuple[float, float]:
    """``(lon, lat)`` of the border point at chainage ``d_km``: walked along the equator by Geod."""
    lon, lat, _ = GEOD.fwd(LON0, 0.0, 90.0, d_km * 1000.0)
    return lon, lat


def sector(d0_km: float, d1_km: float) -> shapely.Polygon:
    """A box 0.2° either side of the equator between two chainages, its sides along meridians."""
    lon0, lon1 = on_border(d0_km)[0], on_border(d1_km)[0]
    lats = np.linspace(-0.2, 0.2, 41)
    ring = [(lon0, y) for y in lats] + [(lon1, y) for y in lats[::-1]]
    return shapely.Polygon(ring)


def disk_sensor(sid: str, partner: str, centre_km: float, range_km: float) -> dict:
    lon, lat = on_border(centre_km)
    return {
        "sensor_id": sid,
        "partner": partner,
        "kind": "tower",
        "range_m": range_km * 1000.0,
        "min_range_m": 0.0,
        "azimuth_deg": np.nan,
        "fov_deg": 360.0,
        "status": "active",
        "height_m": 20.0,
        "lon": lon,
        "lat": lat,
    }


@pytest.fixture(scope="module")
def two_partners() -> dict:
    """A 100 km equatorial border; A's sectors hold 0-50 km, B's 40-80 km, 80-100 km is unassigned.

    Sensors (disks centred on the border, so each covers ``centre ± range``):
    A 5-11 and B 10-18 overlap over 10-11 (in A's sectors only); A 25-45 and B 42-62 over
    42-45 (in both partners' sectors); A 80-90 and B 87-97 over 87-90 (unassigned border).
    Covered: 5-18, 25-62, 80-97; gaps 0-5, 18-25 (A's), 62-80 (B's), 97-100 (no one's).
    """
    end = on_border(BORDER_KM)
    border = gpd.GeoDataFrame(
        {"name": ["equator"]}, geometry=[shapely.LineString([(LON0, 0.0), end])], crs=4326
    )
    sectors = gpd.GeoDataFrame(
        {"sector_id": ["A1", "A2", "B1"], "partner": ["A", "A", "B"], "name": ["a1", "a2", "b1"]},
        geometry=[sector(0, 30), sector(30, 50), sector(40, 80)],
        crs=4326,
    )
    rows = [
        disk_sensor("a1", "A", 8, 3),
        disk_sensor("b1", "B", 14, 4),
        disk_sensor("a2", "A", 35, 10),
        disk_sensor("b2", "B", 52, 10),
        disk_sensor("a3", "A", 85, 5),
        disk_sensor("b3", "B", 92, 5),
    ]
    df = pd.DataFrame(rows)
    sensors = gpd.GeoDataFrame(
        df.drop(columns=["lon", "lat"]), geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=4326
    )
    result = analyse(border, sensors, sectors=sectors)
    return {
        "result": result,
        "report": result.report,
        "border_m": GEOD.geometry_length(border.geometry.iloc[0]),
    }


@pytest.fixture(scope="module")
def sample():
    sc = load_scenario(ROOT / "sample_data")
    return analyse(sc.border, sc.sensors, sectors=sc.sectors, detections=sc.detections)


def test_partner_figures_equal_the_analytic_lengths(two_partners):
    rep = two_partners["report"]
    assert two_partners["border_m"] / 1000 == pytest.approx(BORDER_KM, abs=1e-9)
    assert rep["border"]["length_km"] == pytest.approx(BORDER_KM, abs=TOL_KM)
    assert rep["border"]["overlap_km"] == pytest.approx(1 + 3 + 3, abs=TOL_KM)
    assert rep["contested_border_km"] == pytest.approx(10, abs=TOL_KM)
    assert rep["unassigned_border_km"] == pytest.approx(20, abs=TOL_KM)
    a, b = rep["partners"]["A"], rep["partners"]["B"]
    assert a["sector_border_km"] == pytest.approx(50, abs=TOL_KM)
    assert b["sector_border_km"] == pytest.approx(40, abs=TOL_KM)
    # Overlap in A's sectors: 10-11 and 42-45; in B's: 42-45. 87-90 is in no one's sectors.
    assert a["sector_overlap_km"] == pytest.approx(4, abs=TOL_KM)
    assert b["sector_overlap_km"] == pytest.approx(3, abs=TOL_KM)
    # A's sectors A1 and A2 touch at 30 km: that is not contested; B's 40-50 km is.
    assert a["contested_km"] == pytest.approx(10, abs=TOL_KM)
    assert b["contested_km"] == pytest.approx(10, abs=TOL_KM)


def test_partner_figures_add_up_against_the_joint_ones(two_partners, sample):
    for rep in (two_partners["report"], sample.report):
        joint_overlap, joint_contested = rep["border"]["overlap_km"], rep["contested_border_km"]
        for p in rep["partners"].values():
            assert 0 <= p["sector_overlap_km"] <= joint_overlap + 1e-6
            assert p["sector_overlap_km"] <= p["sector_border_km"] + 1e-6
            assert 0 <= p["contested_km"] <= min(joint_contested, p["sector_border_km"]) + 1e-6
        # Contested border lies in the sectors of two or more partners: counted at least twice.
        assert (
            sum(p["contested_km"] for p in rep["partners"].values()) >= 2 * joint_contested - 1e-5
        )
    # With two partners, each one's contested border is all of it.
    rep = two_partners["report"]
    assert {p: v["contested_km"] for p, v in rep["partners"].items()} == {
        "A": rep["contested_border_km"],
        "B": rep["contested_border_km"],
    }


def old_joint_headline(report: dict) -> dict:
    """The joint headline as the function computed it before partner figures (the contract)."""
    b = report["border"]
    return {
        "scope": "border",
        "coverage_pct": b["coverage_pct"],
        "covered_km": b["covered_km"],
        "length_km": b["length_km"],
        "gap_km": round(b["length_km"] - b["covered_km"], 6),
        "gaps": sorted(report["gaps"], key=lambda g: -g["length_km"]),
        "overlap_km": b["overlap_km"],
        "unassigned_km": report["unassigned_border_km"],
        "contested_km": report["contested_border_km"],
        "detections": report["detections"]["total"],
        "detections_in_gaps": report["detections"]["in_gaps"],
    }


@pytest.mark.parametrize("view", [None, JOINT])
def test_joint_headline_is_unchanged(sample, two_partners, view):
    for rep in (sample.report, two_partners["report"]):
        before = copy.deepcopy(rep)
        h = headline(rep, view)
        old = old_joint_headline(rep)
        for name, value in old.items():
            assert getattr(h, name) == value, name
        assert [id(g) for g in h.gaps] == [id(g) for g in old["gaps"]]
        assert (h.partner, h.joint) == (None, frozenset())
        assert rep == before


@pytest.mark.parametrize("partner", ["A", "B"])
def test_partner_headline_is_its_own(two_partners, partner):
    rep = two_partners["report"]
    h = headline(rep, partner)
    p = rep["partners"][partner]
    assert (h.partner, h.scope) == (partner, f"sectors of {partner}")
    assert h.overlap_km == p["sector_overlap_km"]
    assert h.contested_km == p["contested_km"]
    assert h.length_km == p["sector_border_km"]
    # Border in no sector is no partner's: the border's figure, named joint.
    assert h.joint == frozenset({"unassigned_km"})
    assert h.unassigned_km == rep["unassigned_border_km"]
    assert h.scope_of("unassigned_km") == "border"
    assert h.scope_of("overlap_km") == f"sectors of {partner}"
    with pytest.raises(ValueError, match="unknown headline field 'nope'"):
        h.scope_of("nope")


def test_partner_headline_names_every_border_wide_figure(sample):
    """A figure not named joint is the partner's; an old report without the keys shows joint ones, named."""
    rep = sample.report
    joint = headline(rep)
    report_key = {"overlap_km": "sector_overlap_km", "contested_km": "contested_km"}
    for partner, p in rep["partners"].items():
        h = headline(rep, partner)
        for name in ("overlap_km", "contested_km", "unassigned_km"):
            if name in h.joint:
                assert getattr(h, name) == getattr(joint, name)
            else:
                assert getattr(h, name) == p[report_key[name]], (partner, name)
        assert "unassigned_km" in h.joint
    old = copy.deepcopy(rep)
    for p in old["partners"].values():
        del p["sector_overlap_km"], p["contested_km"]
    for partner in old["partners"]:
        h = headline(old, partner)
        assert h.joint == frozenset({"overlap_km", "contested_km", "unassigned_km"})
        assert (h.overlap_km, h.contested_km) == (joint.overlap_km, joint.contested_km)


def test_gaps_of_each_view_are_ranked_longest_first(two_partners):
    rep = two_partners["report"]
    spans = {
        None: [(62, 80), (18, 25), (0, 5), (97, 100)],
        "A": [(18, 25), (0, 5)],
        "B": [(62, 80)],
    }
    for view, expected in spans.items():
        gaps = gaps_in_view(rep, view)
        assert [(g["start_km"], g["end_km"]) for g in gaps] == [
            pytest.approx(s, abs=TOL_KM) for s in expected
        ]
        assert gaps == headline(rep, view).gaps
        assert gap_ranks(gaps).tolist() == list(range(1, len(gaps) + 1))


@pytest.mark.parametrize("partner", [None, "EU", "LTU", "LVA", "POL"])
def test_gap_layer_rows_and_ranks_match_the_table(sample, partner):
    frame = sample.layers["gaps"]
    table = headline(sample.report, partner).gaps
    mask = gap_rows_in_view(frame, partner)
    assert (mask.dtype, mask.shape) == (np.dtype(bool), (len(frame),))
    rows = frame[mask]
    ranks = gap_ranks(rows)
    assert sorted(ranks.tolist()) == list(range(1, len(table) + 1))
    # The row ranked i on the map is the table's i-th gap.
    for (_, row), rank in zip(rows.iterrows(), ranks, strict=True):
        g = table[rank - 1]
        assert (row["segment"], row["start_km"], row["length_km"]) == (
            g["segment"],
            g["start_km"],
            g["length_km"],
        )
    if partner is not None:
        assert all(partner in ps for ps in rows["partners"])
        assert not any(partner in ps for ps in frame[~mask]["partners"])


def test_gap_ranks_break_ties_by_segment_then_start_and_ignore_input_order():
    gaps = [
        {"segment": 1, "start_km": 0.0, "length_km": 5.0},
        {"segment": 0, "start_km": 9.0, "length_km": 5.0},
        {"segment": 0, "start_km": 2.0, "length_km": 5.0},
        {"segment": 0, "start_km": 20.0, "length_km": 7.5},
        {"segment": 2, "start_km": 1.0, "length_km": 0.25},
    ]
    expected = [4, 3, 2, 1, 5]
    assert gap_ranks(gaps).tolist() == expected
    assert gap_ranks(pd.DataFrame(gaps)).tolist() == expected
    rng = random.Random(13)
    for _ in range(5):
        order = list(range(len(gaps)))
        rng.shuffle(order)
        assert gap_ranks([gaps[i] for i in order]).tolist() == [expected[i] for i in order]
    assert gap_ranks([]).tolist() == []


def test_gap_rows_in_view_reads_lists_and_joined_ids_whole():
    frame = pd.DataFrame({"partners": [["EU"], "EU,LTU", "EUR", [], ["LTU", "EU"]]})
    assert gap_rows_in_view(frame, "EU").tolist() == [True, True, False, False, True]
    assert gap_rows_in_view(frame, JOINT).tolist() == [True] * 5
    assert gap_rows_in_view(frame.iloc[0:0], "EU").tolist() == []


def test_headline_new_fields_default_for_old_callers():
    h = Headline("border", 0.0, 0.0, 1.0, 1.0, [], 0.0, 0.0, 0.0, 0, 0)
    assert (h.partner, h.joint, h.longest) == (None, frozenset(), None)

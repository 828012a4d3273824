"""The sample scenario's synthetic DEM: covers the scenario, is reproducible, and matters."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pyogrio
import rasterio

from geo.terrain.viewshed_file import viewshed_geotiff

ROOT = Path(__file__).resolve().parents[1]
DEM = ROOT / "sample_data" / "dem.tif"


def test_dem_covers_every_sector_and_has_no_holes():
    sectors = pyogrio.read_dataframe(ROOT / "sample_data" / "sectors.geojson")
    with rasterio.open(DEM) as src:
        assert src.crs.to_epsg() == 4326
        b = src.bounds
        z = src.read(1, masked=True)
    xmin, ymin, xmax, ymax = sectors.total_bounds
    assert b.left < xmin
    assert b.right > xmax
    assert b.bottom < ymin
    assert b.top > ymax
    assert not np.ma.getmaskarray(z).any()
    assert z.min() >= 60
    assert z.max() <= 400
    assert z.max() - z.min() > 150


def test_dem_is_rebuilt_identically_by_its_script():
    spec = importlib.util.spec_from_file_location("make_dem", ROOT / "sample_data" / "make_dem.py")
    make_dem = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_dem)
    border = pyogrio.read_dataframe(ROOT / "sample_data" / "border.geojson").geometry.iloc[0]
    z, transform = make_dem.build(border)
    with rasterio.open(DEM) as src:
        np.testing.assert_array_equal(src.read(1), z)
        assert src.transform == transform


def test_terrain_hides_part_of_every_tower_range(tmp_path):
    sensors = pyogrio.read_dataframe(ROOT / "sample_data" / "sensors.csv")
    towers = sensors[sensors["kind"] == "tower"].head(5)
    for _, t in towers.iterrows():
        summary = viewshed_geotiff(
            DEM,
            float(t["lon"]),
            float(t["lat"]),
            observer_height_m=20.0,
            range_m=float(t["range_m"]),
            out_path=tmp_path / f"{t['sensor_id']}.tif",
        )
        cells = summary["cells"]
        share = cells["visible"] / (cells["visible"] + cells["hidden"])
        assert 0.3 < share < 0.99, (t["sensor_id"], share)

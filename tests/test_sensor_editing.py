"""The sensor editor's logic: the table and its checks, the placement grid, the changed stretches.

Synthetic and sample inputs with an explicit CRS; lengths and sizes are checked against
geodesics (pyproj ``Geod``), the checks against what ``read_sensors`` says of a file.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from geo.core.errors import ValidationError
from geo.core.settings import SAMPLE_DIR
from geo.coverage import analyse
from geo.inputs import read_border, read_sensors
from geo.operations import (
    changed_stretches,
    checked_sensors,
    coverage_change,
    new_sensor,
    placement_grid,
    sensor_changes,
    sensor_edit,
    sensor_table,
)
from geo.operations.editing import TABLE_COLUMNS
from layers.changes import GAINED, LOST, change_deck, placement_grid_layer, stretches_layer

GEOD = Geod(ellps="WGS84")
PARTNERS = ["EU", "LTU", "LVA", "POL"]


@pytest.fixture(scope="module")
def sample() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    return (
        read_border(SAMPLE_DIR / "border.geojson")[0],
        read_sensors(SAMPLE_DIR / "sensors.csv")[0],
    )


# ---- the table -----------------------------------------------------------------------------


def test_an_unedited_table_checks_back_to_the_same_sensors(sample: tuple) -> None:
    _, sensors = sample
    before = sensors.copy()
    table = sensor_table(sensors)
    assert list(table.columns) == [*TABLE_COLUMNS, "schedule", "outages"]  # the sample has them
    checked = checked_sensors(table, partners=PARTNERS)
    assert not sensor_changes(sensors, checked)  # positions and values exactly as stored
    pd.testing.assert_frame_equal(sensors, before)  # inputs unchanged
    pd.testing.assert_frame_equal(table, sensor_table(sensors))


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("range_m", -5.0, "field 'range_m': the range must be positive"),
        ("range_m", float("nan"), "field 'range_m': the value is missing"),
        ("fov_deg", 400.0, "field 'fov_deg': field of view out of range"),
        ("status", "broken", "field 'status': unknown status"),
        ("height_m", -1.0, "field 'height_m': the height must be >= 0"),
        ("kind", "submarine", "field 'kind': unknown sensor kind"),
    ],
)
def test_a_bad_value_is_refused_naming_sensor_and_field(
    sample: tuple, column: str, value: object, message: str
) -> None:
    table = sensor_table(sample[1])
    sid = table.loc[7, "sensor_id"]
    table.loc[7, column] = value
    with pytest.raises(ValidationError, match=rf"^the sensor table, sensor {sid}, {message}"):
        checked_sensors(table, partners=PARTNERS)


def test_the_checks_are_those_of_read_sensors_on_a_file(sample: tuple, tmp_path) -> None:
    """The same bad value in a sensors file: read_sensors gives the same reason."""
    table = sensor_table(sample[1])
    table.loc[2, "fov_deg"] = 90.0  # a narrow view needs an azimuth; this one has none
    table.loc[2, "azimuth_deg"] = np.nan
    table.to_csv(tmp_path / "s.csv", index=False)
    rejected = read_sensors(tmp_path / "s.csv")[1].rejected
    assert [(r.row, r.field) for r in rejected] == [(3, "azimuth_deg")]
    with pytest.raises(ValidationError) as caught:
        checked_sensors(table, partners=PARTNERS)
    assert str(caught.value).endswith(rejected[0].reason)


def test_a_one_sensor_table_with_a_bad_value_names_the_sensor(sample: tuple) -> None:
    table = sensor_table(sample[1]).iloc[[0]].copy()
    table.loc[0, "range_m"] = 0.0
    with pytest.raises(ValidationError, match="sensor LTU-CAM-001, field 'range_m'"):
        checked_sensors(table, partners=PARTNERS)


def test_duplicates_foreign_partners_and_an_empty_table_are_refused(sample: tuple) -> None:
    table = sensor_table(sample[1])
    twice = table.copy()
    twice.loc[5, "sensor_id"] = twice.loc[4, "sensor_id"]
    with pytest.raises(ValidationError, match="field 'sensor_id': duplicate sensor_id"):
        checked_sensors(twice, partners=PARTNERS)
    with pytest.raises(ValidationError, match=r"does not take part in the operation.*got 'POL'"):
        checked_sensors(table, partners=["EU", "LTU", "LVA"])
    with pytest.raises(ValidationError, match="no sensors left"):
        checked_sensors(table.iloc[0:0], partners=PARTNERS)


def test_a_new_sensor_row_gets_its_kind_s_height_and_checks(sample: tuple) -> None:
    row = new_sensor(
        sensor_id=" NEW-1 ", partner="LTU", kind="tower", lon=25.8, lat=54.4, range_m=5000
    )
    assert row["sensor_id"] == "NEW-1"
    assert row["height_m"] == 20.0  # settings.DEFAULT_HEIGHT_M["tower"]
    table = pd.concat([sensor_table(sample[1]), pd.DataFrame([row])], ignore_index=True)
    checked = checked_sensors(table, partners=PARTNERS)
    assert sensor_changes(sample[1], checked).added == ["NEW-1"]
    point = checked.geometry.iloc[-1]
    assert (point.x, point.y) == (25.8, 54.4)


# ---- the placement grid --------------------------------------------------------------------


def _square_border() -> gpd.GeoDataFrame:
    line = shapely.LineString([(21.0, 54.0), (21.6, 54.0), (21.6, 54.3)])
    return gpd.GeoDataFrame({"name": ["L"]}, geometry=[line], crs="EPSG:4326")


def test_grid_cells_are_2_km_squares_covering_the_corridor() -> None:
    border = _square_border()
    before = border.copy()
    cells = placement_grid(border, corridor_km=3.0, cell_km=2.0)
    assert str(cells.crs) == "EPSG:4326"
    assert cells["cell"].tolist() == list(range(len(cells)))
    # each side is 2 km on the ground (UTM: within a few parts per thousand)
    ring = np.asarray(cells.geometry.iloc[len(cells) // 2].exterior.coords)
    sides = GEOD.inv(ring[:-1, 0], ring[:-1, 1], ring[1:, 0], ring[1:, 1])[2]
    assert np.allclose(sides, 2000.0, rtol=5e-3)
    # the centre given is the square's centre
    centres = shapely.points(cells["lon"], cells["lat"])
    assert shapely.contains(cells.geometry.to_numpy(), centres).all()
    # every point of the corridor is in a cell: points 2.9 km either side of the border
    for along in np.linspace(0.05, 0.95, 10):
        point = shapely.line_interpolate_point(border.geometry.iloc[0], along, normalized=True)
        lon, lat = point.coords[0]
        for azimuth in (0.0, 90.0, 180.0, 270.0):
            x, y, _ = GEOD.fwd(lon, lat, azimuth, 2900.0)
            assert shapely.contains(cells.geometry.to_numpy(), shapely.Point(x, y)).any()
    # and every cell touches the corridor: within 3 km of the border (in UTM 34N)
    utm_cells, utm_border = cells.to_crs(32634), border.to_crs(32634).geometry.iloc[0]
    assert (utm_cells.distance(utm_border) <= 3000.0 + 1.0).all()
    pd.testing.assert_frame_equal(border, before)


def test_a_long_border_gets_larger_cells() -> None:
    cells = placement_grid(_square_border(), corridor_km=3.0, cell_km=2.0, max_cells=100)
    assert len(cells) <= 100
    assert cells["cell_km"].iloc[0] in (4.0, 8.0, 16.0)
    with pytest.raises(ValueError, match="cell_km must be a positive number"):
        placement_grid(_square_border(), corridor_km=3.0, cell_km=0.0)


def test_the_grid_layer_reports_a_cell_s_centre() -> None:
    cells = placement_grid(_square_border(), corridor_km=3.0)
    layer = placement_grid_layer(cells)
    assert layer.id == "placement_grid"
    assert layer.pickable is True
    first = layer.data[0]
    assert (first["cell"], first["lon"], first["lat"]) == (
        0,
        cells["lon"].iloc[0],
        cells["lat"].iloc[0],
    )
    with pytest.raises(ValueError, match="EPSG:4326"):
        placement_grid_layer(cells.to_crs(3857))


# ---- the changed stretches ------------------------------------------------------------------


def _one_sensor(lon: float, range_m: float) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"sensor_id": ["S1"], "partner": ["A"], "kind": ["radar"], "range_m": [range_m]},
        geometry=[shapely.Point(lon, 54.0)],
        crs="EPSG:4326",
    )


def test_a_wider_range_gains_the_stretch_geodesics_give() -> None:
    """One all-round sensor on a straight border: its watched stretch is 2 × range long."""
    border = gpd.GeoDataFrame(
        geometry=[shapely.LineString([(21.0, 54.0), (21.8, 54.0)])], crs="EPSG:4326"
    )
    a = analyse(border, _one_sensor(21.4, 4000.0), corridor_km=5.0)
    b = analyse(border, _one_sensor(21.4, 6000.0), corridor_km=5.0)
    lines = changed_stretches(a, b)
    assert lines["change"].tolist() == ["gained", "gained"]
    assert lines["length_km"].sum() == pytest.approx(4.0, abs=0.02)  # 2 × (6 - 4) km
    geodesic = [GEOD.geometry_length(g) / 1000 for g in lines.geometry]
    assert geodesic == pytest.approx(lines["length_km"].tolist(), rel=1e-3)
    back = changed_stretches(b, a)
    assert back["change"].tolist() == ["lost", "lost"]
    edit = sensor_edit(a, b)
    assert edit.sensors.changed == {"S1": {"range_m": [4000.0, 6000.0]}}
    assert edit.coverage.gained_km == pytest.approx(lines["length_km"].sum())
    assert edit.coverage_pct_after > edit.coverage_pct_before
    assert len(changed_stretches(a, a)) == 0


def test_the_stretches_add_up_to_the_coverage_change(sample: tuple) -> None:
    border, sensors = sample
    edited = sensors.drop(index=[18, 40])
    edited.loc[3, "range_m"] = 17_200.0
    a, b = analyse(border, sensors), analyse(border, edited)
    lines = changed_stretches(a, b)
    change = coverage_change(a.report, b.report)
    by = lines.groupby("change")["length_km"].sum()
    assert by["gained"] == pytest.approx(change.gained_km, abs=1e-9)
    assert by["lost"] == pytest.approx(change.lost_km, abs=1e-9)
    geodesic = np.array([GEOD.geometry_length(g) / 1000 for g in lines.geometry])
    assert geodesic == pytest.approx(lines["length_km"].to_numpy(), rel=2e-3, abs=2e-3)


def test_the_change_map_draws_stretches_in_their_colours(sample: tuple) -> None:
    border, sensors = sample
    edited = sensors.drop(index=18)
    edited.loc[3, "range_m"] = 17_200.0
    a, b = analyse(border, sensors), analyse(border, edited)
    edit = sensor_edit(a, b)
    layer = stretches_layer(edit.stretches)
    colours = {d["change"]: d["c"] for d in layer.data}
    assert colours == {"gained": GAINED, "lost": LOST}
    assert len(layer.data) == len(edit.stretches)
    deck = change_deck(b, edit.stretches, grid=placement_grid(border, corridor_km=5.0))
    ids = [layer.id for layer in deck.layers]
    # the grid under the border, the stretches and the sensors (they keep their tooltips)
    assert ids.index("placement_grid") < ids.index("border_line") < ids.index("changes_casing")
    assert ids.index("changes_casing") < ids.index("changes") < ids.index("sensors")
    casing = deck.layers[ids.index("changes_casing")]
    assert casing.pickable is False  # a click on a stretch names the stretch, not its casing
    assert math.isfinite(deck.initial_view_state.zoom)

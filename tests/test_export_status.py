"""geo.export.export_layers of sensors given without a ``status`` column (all active)."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pytest

from geo.core.settings import SAMPLE_DIR
from geo.coverage import analyse
from geo.export import export_layers
from geo.inputs import read_border, read_detections, read_sectors, read_sensors


@pytest.fixture(scope="module")
def inputs() -> dict[str, Any]:
    sensors = read_sensors(SAMPLE_DIR / "sensors.csv")[0]
    sensors = sensors.assign(status="active")  # the same sensors, all active
    return {
        "border": read_border(SAMPLE_DIR / "border.geojson")[0],
        "sensors": sensors,
        "sectors": read_sectors(SAMPLE_DIR / "sectors.geojson")[0],
        "detections": read_detections(SAMPLE_DIR / "detections.csv")[0].head(2_000),
    }


def _ids(gdf: gpd.GeoDataFrame) -> list[str]:
    return sorted(gdf["sensor_id"].astype(str))


@pytest.mark.parametrize("partner", [None, "first"], ids=["everyone", "one-partner"])
def test_sensors_without_status_export_as_all_active(
    inputs: dict[str, Any], partner: str | None
) -> None:
    with_status = analyse(
        inputs["border"],
        inputs["sensors"],
        sectors=inputs["sectors"],
        detections=inputs["detections"],
    )
    without = analyse(
        inputs["border"],
        inputs["sensors"].drop(columns="status"),
        sectors=inputs["sectors"],
        detections=inputs["detections"],
    )
    assert "status" not in without.layers["footprints"]
    name = None if partner is None else str(inputs["sectors"]["partner"].iloc[0])
    got = export_layers(without, partner=name)
    want = export_layers(with_status, partner=name)
    assert _ids(got["coverage"]) == _ids(want["coverage"])
    assert len(got["coverage"]) > 0
    assert set(got) == set(want)
    for layer in set(got) - {"coverage"}:
        assert len(got[layer]) == len(want[layer]), layer

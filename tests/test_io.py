"""Tests for :mod:`geo.inputs.loader`: every loader on every format, every validation rule, real files."""

from __future__ import annotations

import json
import re
import shutil
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from shapely.geometry import LineString, MultiLineString, Point, Polygon

from geo.core import settings
from geo.core.errors import ValidationError
from geo.inputs.checks import to_text
from geo.inputs.loader import (
    LoadReport,
    RowError,
    read_border,
    read_detection_columns,
    read_detections,
    read_sectors,
    read_sensors,
)

# --------------------------------------------------------------------------------------
# Reference layers (EPSG:4326) and writers for every format
# --------------------------------------------------------------------------------------

BORDER = gpd.GeoDataFrame(
    {"name": ["north", "south"]},
    geometry=[
        LineString([(14.0, 45.5), (14.2, 45.6), (14.4, 45.55)]),
        LineString([(14.4, 45.55), (14.6, 45.4), (14.9, 45.45)]),
    ],
    crs="EPSG:4326",
)
SECTORS = gpd.GeoDataFrame(
    {"sector_id": ["A-1", "B-2"], "partner": ["SI", "HR"], "name": ["Karst", "Istria"]},
    geometry=[
        Polygon([(14.0, 45.5), (14.4, 45.5), (14.4, 45.7), (14.0, 45.7), (14.0, 45.5)]),
        Polygon([(14.4, 45.3), (14.9, 45.3), (14.9, 45.55), (14.4, 45.55), (14.4, 45.3)]),
    ],
    crs="EPSG:4326",
)
SENSORS = gpd.GeoDataFrame(
    {
        "sensor_id": ["R-01", "C-02", "T-03"],
        "partner": ["SI", "HR", "SI"],
        "kind": ["radar", "camera", "tower"],
        "range_m": [12000.0, 3000.5, 8000.0],
        "min_range_m": [100.0, 0.0, 50.0],
        "azimuth_deg": [0.0, 45.5, 300.0],
        "fov_deg": [360.0, 90.0, 120.0],
        "height_m": [10.0, 6.5, 20.0],
        "status": ["active", "inactive", "active"],
    },
    geometry=[Point(14.123456, 45.5), Point(14.3, 45.61), Point(14.7, 45.42)],
    crs="EPSG:4326",
)
DETECTIONS = gpd.GeoDataFrame(
    {
        "detection_id": ["d1", "d2", "d3"],
        "time": pd.to_datetime(
            ["2024-05-01T12:00:00Z", "2024-05-01T13:30:15Z", "2024-05-02T00:00:00Z"]
        ).as_unit("us"),
        "source": ["R-01", "C-02", "patrol"],
        "partner": ["SI", "HR", "SI"],
        "class": ["person", "vehicle", "animal"],
        "confidence": [0.5, 0.95, 1.0],
    },
    geometry=[Point(14.2, 45.52), Point(14.31, 45.6), Point(14.65, 45.43)],
    crs="EPSG:4326",
)
LAYERS: dict[str, tuple[gpd.GeoDataFrame, Callable[..., tuple[gpd.GeoDataFrame, LoadReport]]]] = {
    "border": (BORDER, read_border),
    "sectors": (SECTORS, read_sectors),
    "sensors": (SENSORS, read_sensors),
    "detections": (DETECTIONS, read_detections),
}
FORMATS = [
    "geojson",
    "gpkg",
    "shpzip",
    "kml",
    "kmz",
    "gpx",
    "fgb",
    "parquet",
    "csv_wkt",
    "csv_latlon",
]
POINT_ONLY = {"csv_latlon"}


def _iso_times(frame: pd.DataFrame) -> pd.DataFrame:
    """Times as ISO 8601 text with Z (what CSV, Shapefile and GPX users have)."""
    out = frame.copy()
    if "time" in out:
        out["time"] = out["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def write_layer(gdf: gpd.GeoDataFrame, directory: Path, fmt: str, stem: str) -> Path:
    """Write ``gdf`` as ``fmt`` into ``directory``; return the file to load."""
    directory.mkdir(parents=True, exist_ok=True)
    if fmt == "geojson":
        path = directory / f"{stem}.geojson"
        gdf.to_file(path, driver="GeoJSON")
    elif fmt == "gpkg":
        path = directory / f"{stem}.gpkg"
        gdf.to_file(path, driver="GPKG", layer=stem)
    elif fmt == "shpzip":
        parts = directory / f"{stem}_shp"
        parts.mkdir()
        write_shapefile(_iso_times(gdf), parts / f"{stem}.shp")
        path = directory / f"{stem}.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for f in sorted(parts.iterdir()):
                zf.write(f, f.name)
    elif fmt in ("kml", "kmz"):
        path = directory / f"{stem}.{fmt}"
        _iso_times(gdf).to_file(path, driver="LIBKML")
    elif fmt == "gpx":
        path = directory / f"{stem}.gpx"
        frame = gdf.copy()
        family = frame.geom_type.iloc[0]
        if family == "Point":
            layer = "waypoints"
        else:
            layer = "tracks"
            rings = [p.exterior if isinstance(p, Polygon) else p for p in frame.geometry]
            frame = frame.set_geometry([MultiLineString([list(r.coords)]) for r in rings])
        pyogrio.write_dataframe(
            frame, path, driver="GPX", layer=layer, dataset_options={"GPX_USE_EXTENSIONS": "YES"}
        )
    elif fmt == "fgb":
        path = directory / f"{stem}.fgb"
        gdf.to_file(path, driver="FlatGeobuf", SPATIAL_INDEX="NO")
    elif fmt == "parquet":
        path = directory / f"{stem}.parquet"
        gdf.to_parquet(path)
    elif fmt == "csv_wkt":
        path = directory / f"{stem}.csv"
        frame = pd.DataFrame(_iso_times(gdf.drop(columns="geometry")))
        frame.insert(0, "WKT", shapely.to_wkt(gdf.geometry.values, rounding_precision=-1))
        frame.to_csv(path, index=False)
    elif fmt == "csv_latlon":
        path = directory / f"{stem}.csv"
        frame = pd.DataFrame(_iso_times(gdf.drop(columns="geometry")))
        frame["Latitude"] = gdf.geometry.y
        frame["Lon"] = gdf.geometry.x
        frame.to_csv(path, index=False)
    else:  # pragma: no cover
        raise AssertionError(fmt)
    return path


def write_shapefile(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """Write a shapefile; dBASE cuts names to 10 characters (the loader copes with that)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Column names longer than 10 characters", UserWarning)
        warnings.filterwarnings("ignore", "Normalized/laundered field name", RuntimeWarning)
        gdf.to_file(path)


def assert_coords(
    got: gpd.GeoDataFrame, expected: gpd.GeoSeries | list, *, normalize: bool = False
) -> None:
    """Same coordinates, feature by feature, within 1e-7 degrees."""
    assert len(got) == len(expected)
    for g, e in zip(got.geometry, expected, strict=True):
        if normalize:
            g, e = shapely.normalize(g), shapely.normalize(e)
        np.testing.assert_allclose(
            shapely.get_coordinates(g), shapely.get_coordinates(e), rtol=0, atol=1e-7
        )


def assert_attrs(got: pd.DataFrame, expected: pd.DataFrame, columns: list[str]) -> None:
    for col in columns:
        g, e = got[col], expected[col]
        if pd.api.types.is_float_dtype(e):
            np.testing.assert_allclose(g.to_numpy(dtype=float), e.to_numpy(dtype=float))
        else:
            assert g.tolist() == e.tolist(), col


def write_text(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------
# Every loader on every format
# --------------------------------------------------------------------------------------

CASES = [
    (layer, fmt)
    for layer in LAYERS
    for fmt in FORMATS
    if not (fmt in POINT_ONLY and layer in ("border", "sectors"))
]


def assert_frame_unchanged(frame: pd.DataFrame, before: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize(("layer", "fmt"), CASES, ids=[f"{a}-{b}" for a, b in CASES])
def test_round_trip_every_format(tmp_path: Path, layer: str, fmt: str) -> None:
    expected, reader = LAYERS[layer]
    before = expected.copy()
    path = write_layer(expected, tmp_path, fmt, layer)
    got, report = reader(path)

    assert_frame_unchanged(expected, before)
    assert report.source == path.name
    assert report.layer == layer
    assert report.rows_read == report.rows_accepted == len(expected)
    assert report.rejected == []
    assert got.crs == "EPSG:4326"
    assert isinstance(got.index, pd.RangeIndex)
    assert got.index.start == 0
    assert got["src_row"].tolist() == list(range(1, len(expected) + 1))
    assert_coords(got, expected.geometry, normalize=layer == "sectors")
    assert not shapely.has_z(got.geometry.values).any()
    columns = [c for c in expected.columns if c != "geometry"]
    assert_attrs(got, expected, columns)
    if layer == "detections":
        assert str(got["time"].dtype) == "datetime64[us, UTC]"
        assert report.naive_times == 0


def test_format_labels_and_crs_notes(tmp_path: Path) -> None:
    labels = {}
    for fmt in FORMATS:
        _, report = read_sensors(write_layer(SENSORS, tmp_path / fmt, fmt, "sensors"))
        labels[fmt] = (report.format, report.source_crs)
    assert labels["geojson"] == ("GeoJSON", "EPSG:4326 (assumed: GeoJSON is WGS84 by standard)")
    assert labels["gpkg"] == ("GPKG", "EPSG:4326")
    assert labels["shpzip"][0] == "ESRI Shapefile (zip)"
    assert labels["kml"][0] == "KML"
    assert "KML is WGS84 by standard" in labels["kml"][1]
    assert labels["kmz"][0] == "KMZ"
    assert labels["gpx"][0] == "GPX"
    assert "GPX is WGS84 by standard" in labels["gpx"][1]
    assert labels["fgb"] == ("FlatGeobuf", "EPSG:4326")
    assert labels["parquet"][0] == "GeoParquet"
    assert labels["csv_latlon"][0] == "CSV"
    assert "assumed" in labels["csv_latlon"][1]


def test_output_dtypes(tmp_path: Path) -> None:
    sensors, _ = read_sensors(write_layer(SENSORS, tmp_path, "csv_latlon", "sensors"))
    assert list(sensors.columns) == [
        "sensor_id",
        "partner",
        "kind",
        "range_m",
        "min_range_m",
        "azimuth_deg",
        "fov_deg",
        "height_m",
        "status",
        "src_row",
        "geometry",
    ]
    for col in ("sensor_id", "partner", "kind", "status"):
        assert sensors[col].dtype == "str"
    for col in ("range_m", "min_range_m", "azimuth_deg", "fov_deg", "height_m"):
        assert sensors[col].dtype == np.float64
    assert sensors["src_row"].dtype == np.int64
    det, _ = read_detections(write_layer(DETECTIONS, tmp_path, "geojson", "det"))
    assert list(det.columns) == [
        "time",
        "detection_id",
        "source",
        "partner",
        "class",
        "confidence",
        "access",
        "caveat",
        "releasable_to",
        "hae_m",
        "ce_m",
        "le_m",
        "src_row",
        "geometry",
    ]
    for col in ("access", "caveat", "releasable_to"):
        assert det[col].dtype == "str"
        assert det[col].isna().all()
    for col in ("hae_m", "ce_m", "le_m"):
        assert det[col].dtype == np.float64
        assert det[col].isna().all()
    sectors, _ = read_sectors(write_layer(SECTORS, tmp_path, "gpkg", "sectors"))
    assert list(sectors.columns) == ["sector_id", "partner", "name", "src_row", "geometry"]
    border, _ = read_border(write_layer(BORDER, tmp_path, "fgb", "border"))
    assert list(border.columns) == ["name", "src_row", "geometry"]
    assert set(border.geom_type) == {"LineString"}


# --------------------------------------------------------------------------------------
# Projected input is reprojected (compared with pyproj)
# --------------------------------------------------------------------------------------

UTM = "EPSG:32634"
TO_WGS84 = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)


def _expected_wgs84(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda x, y: TO_WGS84.transform(x, y), interleaved=False)


@pytest.mark.parametrize("fmt", ["gpkg", "shpzip", "fgb", "parquet", "geojson"])
def test_projected_input_is_reprojected(tmp_path: Path, fmt: str) -> None:
    sensors = gpd.GeoDataFrame(
        SENSORS.drop(columns="geometry"),
        geometry=[
            Point(523000.0, 5710000.0),
            Point(530500.5, 5702000.25),
            Point(480000.0, 5650000.0),
        ],
        crs=UTM,
    )
    border = gpd.GeoDataFrame(
        {"name": ["utm"]},
        geometry=[LineString([(400000, 5000000), (450000, 5010000), (500000, 4990000)])],
        crs=UTM,
    )
    sectors = gpd.GeoDataFrame(
        {"sector_id": ["S"], "partner": ["RS"]},
        geometry=[
            Polygon([(400000, 5000000), (410000, 5000000), (410000, 5010000), (400000, 5000000)])
        ],
        crs=UTM,
    )
    detections = gpd.GeoDataFrame(
        DETECTIONS.drop(columns="geometry"), geometry=sensors.geometry.values, crs=UTM
    )
    for frame, reader, name in (
        (sensors, read_sensors, "s"),
        (border, read_border, "b"),
        (sectors, read_sectors, "c"),
        (detections, read_detections, "d"),
    ):
        got, report = reader(write_layer(frame, tmp_path, fmt, name))
        assert report.source_crs == "EPSG:32634"
        assert any("reprojected from EPSG:32634" in n for n in report.notes)
        expected = [_expected_wgs84(g) for g in frame.geometry]
        assert_coords(got, expected, normalize=reader is read_sectors)


# --------------------------------------------------------------------------------------
# Formats: details
# --------------------------------------------------------------------------------------


def test_plain_shp_with_sidecars(tmp_path: Path) -> None:
    write_shapefile(SENSORS, tmp_path / "sensors.shp")
    got, report = read_sensors(tmp_path / "sensors.shp")
    assert report.format == "ESRI Shapefile"
    assert_attrs(got, SENSORS, ["sensor_id", "min_range_m", "azimuth_deg"])
    assert any("'min_range_'" in n for n in report.notes)  # dBASE cut the name to 10 chars


def test_gpkg_with_several_layers_takes_the_fitting_ones(tmp_path: Path) -> None:
    path = tmp_path / "all.gpkg"
    SECTORS.to_file(path, layer="zones", driver="GPKG")
    SENSORS.to_file(path, layer="sensors_a", driver="GPKG")
    SENSORS.assign(sensor_id=["X1", "X2", "X3"]).to_file(path, layer="sensors_b", driver="GPKG")
    got, report = read_sensors(path)
    assert got["sensor_id"].tolist() == ["R-01", "C-02", "T-03", "X1", "X2", "X3"]
    assert got["src_row"].tolist() == [1, 2, 3, 4, 5, 6]
    assert any(
        "'sensors_a', 'sensors_b'" in n and "skipped 'zones' (Polygon)" in n for n in report.notes
    )
    sectors, _ = read_sectors(path)
    assert sectors["sector_id"].tolist() == ["A-1", "B-2"]
    with pytest.raises(
        ValidationError,
        match=r"all\.gpkg: has no layer with line geometries.*"
        r"'zones' \(Polygon\).*boundary",
    ):
        read_border(path)


def test_zip_with_shapefile_in_subfolder_and_macos_junk(tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    BORDER.to_file(parts / "border.shp")
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for f in parts.iterdir():
            zf.write(f, f"data/{f.name}")
            zf.writestr(f"__MACOSX/data/._{f.name}", b"junk")
    got, _ = read_border(path)
    assert_coords(got, BORDER.geometry)


def test_source_name_names_the_file_and_picks_the_format(tmp_path: Path) -> None:
    path = write_layer(SENSORS, tmp_path, "geojson", "upload")
    tmp_upload = tmp_path / "tmpab12cd"
    shutil.copy(path, tmp_upload)
    got, report = read_sensors(tmp_upload, source_name="/home/u/My Sensors.geojson")
    assert report.source == "My Sensors.geojson"
    assert len(got) == 3


def test_csv_semicolon_decimal_comma_and_aliases(tmp_path: Path) -> None:
    path = write_text(
        tmp_path,
        "sensors.csv",
        "Sensor ID;Partner;KIND;Range_m;Latitude;Longitude;Azimuth;FOV\n"
        "R-01;SI;Radar;12000,5;45,5;14,1;10;90\n"
        "C-02;HR;Ground Sensor;300;45,6;14,2;;\n",
    )
    got, report = read_sensors(path)
    assert got["sensor_id"].tolist() == ["R-01", "C-02"]
    assert got["kind"].tolist() == ["radar", "ground_sensor"]
    assert got["range_m"].tolist() == [12000.5, 300.0]
    assert got["azimuth_deg"].tolist()[0] == 10.0
    assert np.isnan(got["azimuth_deg"].iloc[1])
    assert_coords(got, [Point(14.1, 45.5), Point(14.2, 45.6)])
    assert "columns are separated by ';'" in report.notes
    assert "azimuth_deg read from column 'Azimuth'" in report.notes
    assert any("'Latitude' (latitude) and 'Longitude' (longitude)" in n for n in report.notes)


def test_sensor_defaults_are_applied_and_reported(tmp_path: Path) -> None:
    path = write_text(
        tmp_path,
        "sensors.csv",
        "sensor_id,partner,kind,range_m,lat,lon\n"
        "a,SI,camera,1000,45.5,14.1\n"
        "b,SI,GROUND_SENSOR,200,45.5,14.2\n",
    )
    got, report = read_sensors(path)
    assert got["height_m"].tolist() == [
        settings.DEFAULT_HEIGHT_M["camera"],
        settings.DEFAULT_HEIGHT_M["ground_sensor"],
    ]
    assert got["min_range_m"].tolist() == [0.0, 0.0]
    assert got["fov_deg"].tolist() == [360.0, 360.0]
    assert got["azimuth_deg"].isna().all()
    assert got["status"].tolist() == ["active", "active"]
    assert any(
        n.startswith("height_m not given for 2 sensor(s)") and "camera 6 m" in n
        for n in report.notes
    )
    assert "fov_deg not given for 2 sensor(s): 360° (all-round) used" in report.notes


def test_azimuth_is_normalised(tmp_path: Path) -> None:
    path = write_text(
        tmp_path,
        "sensors.csv",
        "sensor_id,partner,kind,range_m,azimuth_deg,fov_deg,lat,lon\n"
        "a,SI,camera,1000,370,90,45.5,14.1\n"
        "b,SI,camera,1000,-90,90,45.5,14.2\n"
        "c,SI,camera,1000,360,90,45.5,14.3\n",
    )
    got, _ = read_sensors(path)
    assert got["azimuth_deg"].tolist() == [10.0, 270.0, 0.0]


def test_kml_and_gpx_feature_name_is_the_id(tmp_path: Path) -> None:
    frame = SENSORS.rename(columns={"sensor_id": "name"})
    for fmt in ("kml", "gpx"):
        got, report = read_sensors(write_layer(frame, tmp_path / fmt, fmt, "sensors"))
        assert got["sensor_id"].tolist() == ["R-01", "C-02", "T-03"]
        assert any("sensor_id taken from the" in n for n in report.notes)


def test_kml_folders_are_concatenated(tmp_path: Path) -> None:
    path = tmp_path / "two.kml"
    SENSORS.iloc[:2].to_file(path, driver="LIBKML", layer="north")
    SENSORS.iloc[2:].to_file(path, driver="LIBKML", layer="south", mode="a")
    got, report = read_sensors(path)
    assert got["sensor_id"].tolist() == ["R-01", "C-02", "T-03"]
    assert any("'north' (features 1-2), 'south' (features 3-3)" in n for n in report.notes)


def test_kmz_with_one_document_per_layer_reads_them_all(tmp_path: Path) -> None:
    """GDAL/QGIS write a KMZ as doc.kml linking to layers/<name>.kml: every one is read."""
    one = tmp_path / "north.kmz"
    SENSORS.iloc[:2].to_file(one, driver="LIBKML", layer="north")
    with zipfile.ZipFile(one) as zf:
        assert set(zf.namelist()) == {"doc.kml", "layers/", "layers/north.kml"}
        doc, north = zf.read("doc.kml"), zf.read("layers/north.kml")
    SENSORS.iloc[2:].to_file(tmp_path / "south.kml", driver="LIBKML", layer="south")
    path = tmp_path / "two.kmz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(
            "doc.kml",
            doc.replace(
                b"</Document>",
                b"<NetworkLink><Link><href>layers/south.kml</href></Link></NetworkLink></Document>",
            ),
        )
        zf.writestr("layers/north.kml", north)
        zf.writestr("layers/south.kml", (tmp_path / "south.kml").read_bytes())
    got, report = read_sensors(path)
    assert got["sensor_id"].tolist() == ["R-01", "C-02", "T-03"]
    assert any(
        "read KML documents 'layers/north.kml' (features 1-2), 'layers/south.kml' "
        "(features 3-3)" in n
        for n in report.notes
    )


def test_gpx_sectors_from_closed_tracks_and_open_track_error(tmp_path: Path) -> None:
    got, _ = read_sectors(write_layer(SECTORS, tmp_path, "gpx", "sectors"))
    assert set(got.geom_type) == {"Polygon"}
    open_line = MultiLineString([[(14, 45), (14.1, 45), (14.1, 45.1)]])
    open_track = gpd.GeoDataFrame(
        {"sector_id": ["x"], "partner": ["SI"]}, geometry=[open_line], crs=4326
    )
    path = tmp_path / "open.gpx"
    pyogrio.write_dataframe(
        open_track,
        path,
        driver="GPX",
        layer="tracks",
        dataset_options={"GPX_USE_EXTENSIONS": "YES"},
    )
    with pytest.raises(
        ValidationError,
        match=r"open\.gpx feature 1, field 'geometry': a GPX "
        r"file cannot hold polygons.*closed track",
    ):
        read_sectors(path)


def test_gpx_border_from_routes(tmp_path: Path) -> None:
    path = tmp_path / "route.gpx"
    pyogrio.write_dataframe(BORDER.iloc[:1], path, driver="GPX", layer="routes")
    got, _report = read_border(path)
    assert_coords(got, BORDER.geometry.iloc[:1])
    assert got["name"].tolist() == ["north"]


def test_geometry_collections_and_multipoint_of_one(tmp_path: Path) -> None:
    path = write_text(
        tmp_path,
        "sensors.csv",
        "wkt,sensor_id,partner,kind,range_m\n"
        '"MULTIPOINT ((14.1 45.1))",a,SI,radar,100\n'
        '"MULTIPOINT ((14.1 45.1), (14.2 45.2))",b,SI,radar,100\n'
        '"POINT Z (14.3 45.3 120)",c,SI,radar,100\n',
    )
    got, report = read_sensors(path)
    assert got["sensor_id"].tolist() == ["a", "c"]
    assert set(got.geom_type) == {"Point"}
    assert not shapely.has_z(got.geometry.values).any()
    assert report.rejected[0].row == 2
    assert "MultiPoint of 2 points" in report.rejected[0].reason
    border_path = write_text(
        tmp_path,
        "border.csv",
        "wkt\n"
        '"GEOMETRYCOLLECTION (LINESTRING (14 45, 14.1 45.1), '
        'LINESTRING (14.1 45.1, 14.2 45))"\n'
        '"LINEARRING (14 45, 14.1 45, 14.1 45.1, 14 45)"\n',
    )
    border, _ = read_border(border_path)
    assert border.geom_type.tolist() == ["MultiLineString", "LineString"]


def test_csv_ewkt_srid_prefix_sets_the_crs(tmp_path: Path) -> None:
    path = write_text(
        tmp_path,
        "border.csv",
        'wkt,name\n"SRID=32634;LINESTRING (400000 5000000, 450000 5010000)",x\n',
    )
    got, report = read_border(path)
    assert report.source_crs == "EPSG:32634"
    assert_coords(got, [_expected_wgs84(LineString([(400000, 5000000), (450000, 5010000)]))])


def test_geoparquet_without_crs_key_is_crs84_and_with_null_crs_is_an_error(tmp_path: Path) -> None:
    path = write_layer(SENSORS, tmp_path, "parquet", "sensors")
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"geo"])
    for variant, crs_value in (("absent", None), ("null", "null")):
        col = dict(meta["columns"]["geometry"])
        col.pop("crs", None)
        if crs_value == "null":
            col["crs"] = None
        new = dict(meta, columns={"geometry": col})
        out = tmp_path / f"{variant}.parquet"
        pq.write_table(
            table.replace_schema_metadata(
                {**table.schema.metadata, b"geo": json.dumps(new).encode()}
            ),
            out,
        )
        if variant == "absent":
            got, report = read_sensors(out)
            assert "OGC:CRS84" in report.source_crs
            assert "assumed" in report.source_crs
            assert_coords(got, SENSORS.geometry)
        else:
            with pytest.raises(ValidationError, match=r"null\.parquet: the file has no CRS"):
                read_sensors(out)


def test_plain_parquet_with_lat_lon_columns(tmp_path: Path) -> None:
    frame = pd.DataFrame(_iso_times(DETECTIONS.drop(columns="geometry")))
    frame["lat"], frame["lon"] = DETECTIONS.geometry.y, DETECTIONS.geometry.x
    path = tmp_path / "det.parquet"
    frame.to_parquet(path)
    got, report = read_detections(path)
    assert report.format == "Parquet"
    assert_coords(got, DETECTIONS.geometry)
    assert_attrs(got, DETECTIONS, ["time", "confidence", "class"])


# --------------------------------------------------------------------------------------
# Detections: times
# --------------------------------------------------------------------------------------


def test_naive_and_offset_times(tmp_path: Path) -> None:
    path = write_text(
        tmp_path,
        "det.csv",
        "timestamp,lat,lon\n"
        "2024-05-01T12:00:00,45.5,14.1\n"
        "2024-05-01T14:00:00+02:00,45.5,14.1\n"
        "2024-05-01 12:00:00Z,45.5,14.1\n"
        "2024-05-01,45.5,14.1\n",
    )
    got, report = read_detections(path)
    assert report.naive_times == 2
    assert got["time"].tolist() == [pd.Timestamp("2024-05-01T12:00:00Z")] * 3 + [
        pd.Timestamp("2024-05-01T00:00:00Z")
    ]
    assert "time read from column 'timestamp'" in report.notes
    assert "2 time(s) without a time zone were taken as UTC" in report.summary()


def test_all_naive_times_fast_path(tmp_path: Path) -> None:
    path = write_text(
        tmp_path,
        "det.csv",
        "time,lat,lon\n2024-05-01T12:00:00,45.5,14.1\n2024-05-01T12:00:01,45.5,14.1\n",
    )
    got, report = read_detections(path)
    assert report.naive_times == 2
    assert got["time"].iloc[1] == pd.Timestamp("2024-05-01T12:00:01Z")


@pytest.mark.parametrize(
    ("column", "values", "expected"),
    [
        ("dtg", ["011200ZMAY24", "011400B MAY 2024"], ["2024-05-01T12:00:00Z"] * 2),
        ("when", ["1714564800", "1714564801"], ["2024-05-01T12:00:00Z", "2024-05-01T12:00:01Z"]),
        (
            "date_time",
            ["1714564800000", "1714564800500"],
            ["2024-05-01T12:00:00Z", "2024-05-01T12:00:00.5Z"],
        ),
        (
            "DateTime",
            ["2024/05/01 12:00:00+00", "2024/05/01 14:00:00+02"],
            ["2024-05-01T12:00:00Z"] * 2,
        ),
    ],
)
def test_other_time_forms(
    tmp_path: Path, column: str, values: list[str], expected: list[str]
) -> None:
    rows = "".join(f"{v},45.5,14.1\n" for v in values)
    got, report = read_detections(write_text(tmp_path, "det.csv", f"{column},lat,lon\n{rows}"))
    assert got["time"].tolist() == [pd.Timestamp(e) for e in expected]
    assert report.naive_times == 0


def test_bad_and_missing_and_implausibly_early_times_are_rejected(tmp_path: Path) -> None:
    path = write_text(
        tmp_path,
        "det.csv",
        "time,lat,lon\n"
        "2024-05-01T12:00:00Z,45.5,14.1\n"
        "yesterday,45.5,14.1\n"
        ",45.5,14.1\n"
        "1901-12-13T20:45:52Z,45.5,14.1\n",
    )
    got, report = read_detections(path)
    assert len(got) == 1
    assert [(e.row, e.field) for e in report.rejected] == [(2, "time"), (3, "time"), (4, "time")]
    assert "not a time" in report.rejected[0].reason
    assert "'yesterday'" in report.rejected[0].reason
    assert "missing" in report.rejected[1].reason
    assert "unset device clock" in report.rejected[2].reason


def test_mixed_time_forms_with_bad_values(tmp_path: Path) -> None:
    path = write_text(
        tmp_path,
        "det.csv",
        "time,lat,lon\n"
        "2024-05-01T12:00:00Z,45.5,14.1\n"
        "2024-05-01T12:00:00,45.5,14.1\n"
        "2024/05/01 14:00:00+02,45.5,14.1\n"
        "2024-13-01T00:00:00Z,45.5,14.1\n"
        "garbage,45.5,14.1\n"
        "2024-05-01 12:00:00 UTC,45.5,14.1\n",
    )
    got, report = read_detections(path)
    assert got["time"].tolist() == [pd.Timestamp("2024-05-01T12:00:00Z")] * 4
    assert got["src_row"].tolist() == [1, 2, 3, 6]
    assert report.naive_times == 1
    assert [(e.row, e.field) for e in report.rejected] == [(4, "time"), (5, "time")]


def test_bad_time_file_error(tmp_path: Path) -> None:
    path = write_text(tmp_path, "det.csv", "time,lat,lon\nnot a time,45.5,14.1\n")
    with pytest.raises(
        ValidationError,
        match=r"det\.csv row 1, field 'time': not a time: "
        r"expected ISO 8601.*got 'not a time'",
    ):
        read_detections(path)


def test_missing_time_column(tmp_path: Path) -> None:
    path = write_text(tmp_path, "det.csv", "when_seen,lat,lon\n2024-05-01,45.5,14.1\n")
    with pytest.raises(
        ValidationError,
        match=r"det\.csv, field 'time': no time column: "
        r"expected a column named one of time, timestamp, datetime, date_time, "
        r"when, dtg.*when_seen",
    ):
        read_detections(path)


def test_confidence_out_of_range(tmp_path: Path) -> None:
    path = write_text(
        tmp_path,
        "det.csv",
        "time,lat,lon,confidence\n"
        "2024-05-01T12:00:00Z,45.5,14.1,0.3\n"
        "2024-05-01T12:00:00Z,45.5,14.1,87\n"
        "2024-05-01T12:00:00Z,45.5,14.1,-0.1\n"
        "2024-05-01T12:00:00Z,45.5,14.1,high\n"
        "2024-05-01T12:00:00Z,45.5,14.1,\n",
    )
    got, report = read_detections(path)
    assert got["confidence"].tolist()[0] == 0.3
    assert np.isnan(got["confidence"].iloc[1])
    assert [(e.row, e.field) for e in report.rejected] == [
        (2, "confidence"),
        (3, "confidence"),
        (4, "confidence"),
    ]
    assert "percentage" in report.rejected[0].reason
    assert "not a number" in report.rejected[2].reason
    bad = write_text(
        tmp_path, "bad.csv", "time,lat,lon,confidence\n2024-05-01T12:00:00Z,45.5,14.1,1.5\n"
    )
    with pytest.raises(
        ValidationError,
        match=r"bad\.csv row 1, field 'confidence': confidence "
        r"out of range: expected a number from 0 to 1, got 1\.5",
    ):
        read_detections(bad)


# --------------------------------------------------------------------------------------
# Sensors: value rules
# --------------------------------------------------------------------------------------

SENSOR_HEAD = (
    "sensor_id,partner,kind,range_m,min_range_m,azimuth_deg,fov_deg,height_m,status,lat,lon\n"
)
GOOD_SENSOR = "ok,SI,radar,1000,0,0,360,10,active,45.5,14.1\n"


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        (
            "s,SI,laser,1000,0,0,360,10,active,45.5,14.1",
            "kind",
            r"unknown sensor kind: expected one of camera, radar, tower, ground_sensor, drone, other, "
            r"got 'laser'",
        ),
        ("s,SI,,1000,0,0,360,10,active,45.5,14.1", "kind", r"the value is missing"),
        (
            "s,SI,radar,0,0,0,360,10,active,45.5,14.1",
            "range_m",
            r"the range must be positive: expected a number of metres > 0, got 0\.0",
        ),
        ("s,SI,radar,-5,0,0,360,10,active,45.5,14.1", "range_m", r"got -5\.0"),
        ("s,SI,radar,far,0,0,360,10,active,45.5,14.1", "range_m", r"not a number.*got 'far'"),
        ("s,SI,radar,,0,0,360,10,active,45.5,14.1", "range_m", r"the value is missing"),
        (
            "s,SI,radar,1000,1000,0,360,10,active,45.5,14.1",
            "min_range_m",
            r"the minimum range must be smaller than range_m: expected less than range_m 1000\.0, "
            r"got 1000\.0",
        ),
        ("s,SI,radar,1000,-1,0,360,10,active,45.5,14.1", "min_range_m", r"must be >= 0"),
        (
            "s,SI,radar,1000,0,0,400,10,active,45.5,14.1",
            "fov_deg",
            r"field of view out of range: expected degrees in \(0, 360\], got 400\.0",
        ),
        ("s,SI,radar,1000,0,0,0,10,active,45.5,14.1", "fov_deg", r"got 0\.0"),
        (
            "s,SI,radar,1000,0,,90,10,active,45.5,14.1",
            "azimuth_deg",
            r"an azimuth is required when fov_deg < 360",
        ),
        ("s,SI,radar,1000,0,0,360,-2,active,45.5,14.1", "height_m", r"the height must be >= 0"),
        (
            "s,SI,radar,1000,0,0,360,10,broken,45.5,14.1",
            "status",
            r"unknown status: expected one of active, inactive, got 'broken'",
        ),
        ("s,,radar,1000,0,0,360,10,active,45.5,14.1", "partner", r"the value is missing"),
        (",SI,radar,1000,0,0,360,10,active,45.5,14.1", "sensor_id", r"the value is missing"),
    ],
)
def test_sensor_value_rules(tmp_path: Path, line: str, field: str, message: str) -> None:
    # mixed with a good row: the bad row is rejected with its row number and field
    path = write_text(tmp_path, "sensors.csv", SENSOR_HEAD + GOOD_SENSOR + line + "\n")
    got, report = read_sensors(path)
    assert got["sensor_id"].tolist() == ["ok"]
    assert len(report.rejected) == 1
    err = report.rejected[0]
    assert (err.row, err.field) == (2, field)
    assert re.search(message, err.reason), err.reason
    # alone: the file is unusable, and the message names file, row and field
    alone = write_text(tmp_path, "alone.csv", SENSOR_HEAD + line + "\n")
    with pytest.raises(
        ValidationError,
        match=rf"alone\.csv: none of the 1 rows can be used\. alone\.csv row 1, "
        rf"field '{field}': .*{message}",
    ):
        read_sensors(alone)


def test_duplicate_sensor_id_later_rows_rejected(tmp_path: Path) -> None:
    path = write_text(
        tmp_path,
        "sensors.csv",
        SENSOR_HEAD + GOOD_SENSOR + GOOD_SENSOR.replace("radar", "camera") + GOOD_SENSOR,
    )
    got, report = read_sensors(path)
    assert got["kind"].tolist() == ["radar"]
    assert [(e.row, e.field) for e in report.rejected] == [(2, "sensor_id"), (3, "sensor_id")]
    assert (
        "duplicate sensor_id: expected each sensor_id once, got 'ok'. It is already used in row 1"
    ) in report.rejected[0].reason
    assert "sensors.csv (CSV" in report.summary()
    assert "row 2, field 'sensor_id'" in report.summary()


def test_missing_required_column(tmp_path: Path) -> None:
    path = write_text(
        tmp_path, "sensors.csv", "sensor_id,partner,kind,lat,lon\na,SI,radar,45.5,14.1\n"
    )
    with pytest.raises(
        ValidationError,
        match=r"sensors\.csv, field 'range_m': required column "
        r"'range_m' missing: expected a column named 'range_m'.*got \"columns "
        r"'sensor_id'.*Add the range_m column",
    ):
        read_sensors(path)


def test_missing_sector_columns(tmp_path: Path) -> None:
    path = write_layer(SECTORS.drop(columns=["partner", "sector_id"]), tmp_path, "geojson", "s")
    with pytest.raises(
        ValidationError,
        match=r"s\.geojson, field 'sector_id': required columns "
        r"'sector_id', 'partner' missing",
    ):
        read_sectors(path)


def test_duplicate_sector_id(tmp_path: Path) -> None:
    frame = SECTORS.assign(sector_id=["A-1", "A-1"])
    got, report = read_sectors(write_layer(frame, tmp_path, "gpkg", "sectors"))
    assert len(got) == 1
    assert (report.rejected[0].row, report.rejected[0].field) == (2, "sector_id")


# --------------------------------------------------------------------------------------
# Geometry rules
# --------------------------------------------------------------------------------------


def test_polygon_border_is_an_error(tmp_path: Path) -> None:
    path = write_layer(SECTORS, tmp_path, "geojson", "border")
    with pytest.raises(
        ValidationError,
        match=r"border\.geojson: none of the 2 features can be "
        r"used\. border\.geojson feature 1, field 'geometry': the border must be "
        r"given as lines: expected LineString or MultiLineString, got 'a Polygon'"
        r"\. Give the border as lines: use the polygon's boundary",
    ):
        read_border(path)


def test_point_border_is_an_error(tmp_path: Path) -> None:
    path = write_layer(SENSORS, tmp_path, "fgb", "border")
    with pytest.raises(
        ValidationError,
        match=r"border\.fgb: none of the 3 features.*feature 1, "
        r"field 'geometry': the border must be lines.*got 'a Point'",
    ):
        read_border(path)


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = write_layer(BORDER.iloc[:0], tmp_path, "gpkg", "border")
    with pytest.raises(ValidationError, match=r"border\.gpkg: the file contains no features"):
        read_border(path)
    csv = write_text(tmp_path, "empty.csv", "wkt,name\n")
    with pytest.raises(ValidationError, match=r"empty\.csv: the file contains no rows"):
        read_border(csv)


def test_nan_inf_empty_and_null_geometries_are_rejected(tmp_path: Path) -> None:
    path = write_text(
        tmp_path,
        "sensors.csv",
        "wkt,sensor_id,partner,kind,range_m\n"
        '"POINT (14.1 45.1)",ok,SI,radar,100\n'
        '"POINT (nan 45.1)",a,SI,radar,100\n'
        '"POINT (inf 45.1)",b,SI,radar,100\n'
        '"POINT EMPTY",c,SI,radar,100\n'
        ",d,SI,radar,100\n"
        '"POINT (14.1",e,SI,radar,100\n',
    )
    got, report = read_sensors(path)
    assert got["sensor_id"].tolist() == ["ok"]
    reasons = {e.row: (e.field, e.reason) for e in report.rejected}
    assert reasons[2][0] == "wkt"
    assert "not finite" in reasons[2][1]
    assert "not finite" in reasons[3][1]
    assert "empty" in reasons[4][1]
    assert "missing" in reasons[5][1]
    assert "could not parse the WKT" in reasons[6][1]
    latlon = write_text(
        tmp_path,
        "latlon.csv",
        "sensor_id,partner,kind,range_m,lat,lon\n"
        "a,SI,radar,100,nan,14\nb,SI,radar,100,45,inf\nc,SI,radar,100,,14\n",
    )
    with pytest.raises(
        ValidationError,
        match=r"latlon\.csv: none of the 3 rows.*latlon\.csv "
        r"row 1, field 'lat': the value is missing.*row 2, field 'lon': not a "
        r"finite number",
    ):
        read_sensors(latlon)


def test_null_geometry_in_geojson_is_rejected(tmp_path: Path) -> None:
    frame = SENSORS.copy()
    frame.loc[1, "geometry"] = None
    got, report = read_sensors(write_layer(frame, tmp_path, "geojson", "sensors"))
    assert got["sensor_id"].tolist() == ["R-01", "T-03"]
    assert (report.rejected[0].row, report.rejected[0].field) == (2, "geometry")
    assert "the geometry is missing" in report.rejected[0].reason


def test_out_of_range_rows_are_rejected_with_swap_hint(tmp_path: Path) -> None:
    lines = ["time,lat,lon"] + [f"2024-05-01T12:00:00Z,45.{i},14.{i}" for i in range(8)]
    lines += ["2024-05-01T12:00:00Z,120.5,14.5", "2024-05-01T12:00:00Z,95,200"]
    got, report = read_detections(write_text(tmp_path, "det.csv", "\n".join(lines) + "\n"))
    assert len(got) == 8
    (swap, far) = report.rejected
    assert (swap.row, swap.field) == (9, "lat")
    assert "look swapped" in swap.reason
    assert "Swap the 'lat' and 'lon' values" in swap.reason
    assert (far.row, far.field) == (10, "lat")
    assert "swapped" not in far.reason


def test_out_of_range_features_are_rejected(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["ok", "bad"]},
        geometry=[LineString([(14, 45), (14.1, 45.1)]), LineString([(14, 45), (190, 45.1)])],
        crs=4326,
    )
    got, report = read_border(write_layer(frame, tmp_path, "gpkg", "border"))
    assert got["name"].tolist() == ["ok"]
    assert (report.rejected[0].row, report.rejected[0].field) == (2, "geometry")
    assert "coordinates out of range" in report.rejected[0].reason


def test_swapped_lat_lon_file(tmp_path: Path) -> None:
    lines = ["sensor_id,partner,kind,range_m,lat,lon"] + [
        f"s{i},SI,radar,100,{100 + i}.5,4{i}.1" for i in range(5)
    ]
    path = write_text(tmp_path, "sensors.csv", "\n".join(lines) + "\n")
    with pytest.raises(
        ValidationError,
        match=r"sensors\.csv: looks like latitude and longitude "
        r"are swapped \(the 'lat' column holds values up to 104\.5, but latitude "
        r"must be within ±90\).*Swap the columns",
    ):
        read_sensors(path)


def test_swapped_geometry_file(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["x"]}, geometry=[LineString([(45.5, 120.1), (45.6, 120.2)])], crs=4326
    )
    with pytest.raises(
        ValidationError,
        match=r"border\.geojson: looks like latitude and "
        r"longitude are swapped \(y \(latitude\) holds values up to 120\.2",
    ):
        read_border(write_layer(frame, tmp_path, "geojson", "border"))


def test_metres_as_degrees_file(tmp_path: Path) -> None:
    path = write_text(
        tmp_path,
        "det.csv",
        "time,lat,lon\n2024-05-01T12:00:00Z,5710000,523000\n2024-05-01T12:00:00Z,5710100,523100\n",
    )
    with pytest.raises(
        ValidationError,
        match=r"det\.csv: coordinates look like metres \(e\.g\. "
        r"523000, 5710000\) but the file is assumed to be in degrees \(CSV has "
        r"no CRS.*Give the file's real CRS",
    ):
        read_detections(path)
    gpkg = gpd.GeoDataFrame(
        {"name": ["m"]}, geometry=[LineString([(523000, 5710000), (524000, 5711000)])], crs=4326
    )
    with pytest.raises(
        ValidationError,
        match=r"border\.gpkg: coordinates look like metres "
        r"\(e\.g\. 523000, 5710000\) but the file says degrees \(EPSG:4326\)",
    ):
        read_border(write_layer(gpkg, tmp_path, "gpkg", "border"))


def test_degrees_in_projected_file(tmp_path: Path) -> None:
    frame = SENSORS.set_crs(UTM, allow_override=True)
    with pytest.raises(
        ValidationError,
        match=r"sensors\.gpkg: coordinates look like degrees "
        r"\(e\.g\. 14\.1235, 45\.5\) but the file says EPSG:32634",
    ):
        read_sensors(write_layer(frame, tmp_path, "gpkg", "sensors"))


def test_null_island_is_rejected(tmp_path: Path) -> None:
    path = write_text(
        tmp_path, "det.csv", "time,lat,lon\n2024-05-01T12:00:00Z,45,14\n2024-05-01T12:00:00Z,0,0\n"
    )
    got, report = read_detections(path)
    assert len(got) == 1
    assert "(0, 0)" in report.rejected[0].reason


def test_bow_tie_sector_is_repaired_and_counted(tmp_path: Path) -> None:
    bow = Polygon([(14.0, 45.0), (14.2, 45.2), (14.2, 45.0), (14.0, 45.2), (14.0, 45.0)])
    assert not bow.is_valid
    frame = gpd.GeoDataFrame(
        {"sector_id": ["bow", "ok"], "partner": ["SI", "HR"]},
        geometry=[bow, SECTORS.geometry.iloc[0]],
        crs=4326,
    )
    before = frame.copy()
    got, report = read_sectors(write_layer(frame, tmp_path, "gpkg", "sectors"))
    pd.testing.assert_frame_equal(frame, before)
    assert report.repaired == 1
    assert got.geom_type.tolist() == ["MultiPolygon", "Polygon"]
    assert got.is_valid.all()
    assert got.geometry.iloc[0].area == pytest.approx(0.02)  # both triangles kept
    assert shapely.equals(got.geometry.iloc[0], shapely.make_valid(bow))
    assert "1 invalid polygon(s) repaired" in report.summary()


def test_degenerate_sector_is_rejected(tmp_path: Path) -> None:
    path = write_text(
        tmp_path,
        "sectors.csv",
        "wkt,sector_id,partner\n"
        '"POLYGON ((14 45, 14.1 45.1, 14.2 45.2, 14 45))",flat,SI\n'
        '"POLYGON ((14 45, 14.1 45, 14.1 45.1, 14 45))",ok,SI\n',
    )
    got, report = read_sectors(path)
    assert got["sector_id"].tolist() == ["ok"]
    assert "no area" in report.rejected[0].reason


def test_zero_length_border_is_rejected(tmp_path: Path) -> None:
    path = write_text(
        tmp_path, "border.csv", 'wkt\n"LINESTRING (14 45, 14 45)"\n"LINESTRING (14 45, 14.1 45)"\n'
    )
    got, report = read_border(path)
    assert len(got) == 1
    assert "no length" in report.rejected[0].reason


# --------------------------------------------------------------------------------------
# Whole-file errors: formats, shapefile parts, CRS
# --------------------------------------------------------------------------------------


def _shapefile_zip(tmp_path: Path, leave_out: str) -> Path:
    parts = tmp_path / "parts"
    parts.mkdir()
    BORDER.to_file(parts / "border.shp")
    path = tmp_path / "border.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for f in parts.iterdir():
            if f.suffix != leave_out:
                zf.write(f, f.name)
    return path


@pytest.mark.parametrize(
    ("leave_out", "message"),
    [
        (
            ".shx",
            r"border\.zip: the shapefile 'border\.shp' has no 'border\.shx' \(the shape "
            r"index\).*include all of them",
        ),
        (
            ".dbf",
            r"border\.zip: the shapefile 'border\.shp' has no 'border\.dbf' \(the attribute "
            r"table\)",
        ),
        (
            ".prj",
            r"border\.zip: CRS unknown, add the \.prj: the shapefile 'border\.shp' has no "
            r"'border\.prj'.*never guesses",
        ),
    ],
)
def test_shapefile_zip_missing_part(tmp_path: Path, leave_out: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        read_border(_shapefile_zip(tmp_path, leave_out))


def test_plain_shp_without_prj(tmp_path: Path) -> None:
    BORDER.to_file(tmp_path / "b.shp")
    (tmp_path / "b.prj").unlink()
    with pytest.raises(ValidationError, match=r"b\.shp: CRS unknown, add the \.prj"):
        read_border(tmp_path / "b.shp")


def test_zip_without_shapefile(tmp_path: Path) -> None:
    path = tmp_path / "docs.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(ValidationError, match=r"docs\.zip: the zip holds no shapefile.*readme"):
        read_border(path)


@pytest.mark.parametrize("fmt", ["fgb", "gpkg", "parquet"])
def test_file_without_crs(tmp_path: Path, fmt: str) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'crs' was not provided", UserWarning)
        path = write_layer(SENSORS.set_crs(None, allow_override=True), tmp_path, fmt, "sensors")
    with pytest.raises(
        ValidationError,
        match=rf"sensors\.{fmt}: the file has no CRS.*never "
        r"guesses",
    ):
        read_sensors(path)


def test_untransformable_crs(tmp_path: Path) -> None:
    wag7 = pyproj.CRS.from_proj4("+proj=wag7 +lon_0=10 +datum=WGS84 +units=m +no_defs")
    frame = gpd.GeoDataFrame(
        {"name": ["w"]}, geometry=[LineString([(1e6, 1e6), (1.1e6, 1e6)])], crs=wag7
    )
    with pytest.raises(
        ValidationError,
        match=r"border\.gpkg: the file's CRS .* cannot be "
        r"transformed to WGS84 \(EPSG:4326\).*Reproject the file",
    ):
        read_border(write_layer(frame, tmp_path, "gpkg", "border"))


def test_unknown_extension(tmp_path: Path) -> None:
    path = write_text(tmp_path, "sensors.xlsx", "x")
    with pytest.raises(
        ValidationError,
        match=r"sensors\.xlsx: unsupported file type: expected "
        r"one of \.cot, \.csv, \.fgb, \.geojson.*got '\.xlsx'",
    ):
        read_sensors(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "sensors.gpkg",
            "sensor_id,lat\n",
            r"sensors\.gpkg: the file content does not look like "
            r"GPKG: expected an SQLite database",
        ),
        ("sensors.zip", "not a zip", r"sensors\.zip: .*does not look like ESRI Shapefile \(zip\)"),
        ("sensors.fgb", "{}", r"sensors\.fgb: .*FlatGeobuf"),
        ("sensors.parquet", "x", r"sensors\.parquet: .*Parquet"),
        ("sensors.geojson", "<kml/>", r"sensors\.geojson: .*GeoJSON: expected JSON text"),
        (
            "sensors.kml",
            "<gpx></gpx>",
            r"sensors\.kml: is not a KML document: expected an XML "
            r"document with a <kml> root element, got '<gpx> as root",
        ),
        ("sensors.gpx", "just text", r"sensors\.gpx: the file content does not look like GPX"),
        ("sensors.kmz", "PK\x03\x04garbage", r"sensors\.kmz: is not a readable zip archive"),
    ],
)
def test_wrong_signature(tmp_path: Path, name: str, content: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        read_sensors(write_text(tmp_path, name, content))


def test_empty_bytes_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"x\.geojson: the file is empty"):
        read_border(write_text(tmp_path, "x.geojson", ""))


def test_truncated_geojson(tmp_path: Path) -> None:
    text = write_layer(BORDER, tmp_path, "geojson", "b").read_text()
    path = write_text(tmp_path, "cut.geojson", text[: len(text) // 2])
    with pytest.raises(ValidationError, match=r"cut\.geojson: could not be read as GeoJSON"):
        read_border(path)
    assert str(tmp_path) not in _message(read_border, path)


def _message(reader: Callable[..., object], path: Path) -> str:
    with pytest.raises(ValidationError) as info:
        reader(path)
    return str(info.value)


def test_csv_without_geometry_columns(tmp_path: Path) -> None:
    path = write_text(tmp_path, "s.csv", "sensor_id,partner\na,SI\n")
    with pytest.raises(
        ValidationError,
        match=r"s\.csv, field 'geometry': no geometry columns: "
        r"expected a WKT column.*lat/latitude/y and lon/lng/long/longitude/x",
    ):
        read_sensors(path)
    only_lat = write_text(tmp_path, "t.csv", "sensor_id,lat\na,45\n")
    with pytest.raises(
        ValidationError,
        match=r"t\.csv, field 'longitude': found a latitude "
        r"column but no longitude column",
    ):
        read_sensors(only_lat)


def test_csv_malformed_line_is_rejected_with_its_row(tmp_path: Path) -> None:
    path = write_text(
        tmp_path,
        "det.csv",
        "time,lat,lon\n2024-05-01T12:00:00Z,45,14\n"
        "2024-05-01T12:00:00Z,45\n\n2024-05-01T12:00:00Z,45.1,14.1\n",
    )
    got, report = read_detections(path)
    assert got["src_row"].tolist() == [1, 4]
    assert report.rows_read == 3
    assert report.rejected[0].row == 2
    assert "expected 3 fields, got 2" in report.rejected[0].reason
    assert "skipped 1 blank line(s)" in report.notes


def test_csv_latin1_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "border.csv"
    path.write_bytes('wkt,name\n"LINESTRING (14 45, 14.1 45)",Mura–Drava\n'.encode("utf-8-sig"))
    got, _ = read_border(path)
    assert got["name"].tolist() == ["Mura–Drava"]
    latin = tmp_path / "latin.csv"
    latin.write_bytes('wkt,name\n"LINESTRING (14 45, 14.1 45)",Körös\n'.encode("cp1252"))
    got, report = read_border(latin)
    assert got["name"].tolist() == ["Körös"]
    assert any("Windows-1252" in n for n in report.notes)


def test_report_summary_and_to_dict(tmp_path: Path) -> None:
    lines = (
        [SENSOR_HEAD.strip()]
        + [f"s{i},SI,laser,1000,0,0,360,10,active,45.5,14.{i}" for i in range(7)]
        + [GOOD_SENSOR.strip()]
    )
    _, report = read_sensors(write_text(tmp_path, "sensors.csv", "\n".join(lines) + "\n"))
    assert len(report.rejected) == 7
    text = report.summary()
    assert "8 rows read, 1 accepted, 7 rejected" in text
    assert text.count("unknown sensor kind") == 5
    assert "and 2 more" in text
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["rejected"][0] == {"row": 1, "field": "kind", "reason": report.rejected[0].reason}
    assert isinstance(report.rejected[0], RowError)


# --------------------------------------------------------------------------------------
# Real files written by others
# --------------------------------------------------------------------------------------

NE110 = "borders/ne_110m_boundary_lines_land/ne_110m_admin_0_boundary_lines_land.shp"
NE10 = "borders/ne_10m_boundary_lines_land/ne_10m_admin_0_boundary_lines_land.shp"


def test_real_natural_earth_shapefile_as_border(realdata: Path, tmp_path: Path) -> None:
    got, report = read_border(realdata / NE110)
    assert report.rows_accepted == 185
    assert report.rejected == []
    assert report.source_crs == "EPSG:4326"
    assert got["name"].isna().all()  # this NE version leaves 'name' empty
    assert pyogrio.read_info(realdata / NE110)["features"] == 185
    # the same, zipped (as a user would upload it)
    src = (realdata / NE110).parent
    path = tmp_path / "ne110.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for f in src.iterdir():
            zf.write(f, f.name)
    zipped, zreport = read_border(path)
    assert zreport.format == "ESRI Shapefile (zip)"
    assert_coords(zipped, got.geometry)


def test_real_natural_earth_10m(realdata: Path) -> None:
    got, report = read_border(realdata / NE10)
    assert report.rows_read == 461
    assert report.rows_accepted == 461
    assert set(got.geom_type) == {"LineString", "MultiLineString"}
    ref = gpd.read_file(realdata / NE10)
    assert_coords(got.iloc[:20], ref.geometry.iloc[:20])


@pytest.mark.parametrize(
    "name", ["ne_110m_admin_0_boundary_lines_land.shp", "ne_50m_admin_0_boundary_lines_land.shp"]
)
def test_real_wagner_vii_fails_clearly(realdata: Path, name: str) -> None:
    path = realdata / "borders/ne_boundary_lines_wagnerVII" / name
    with pytest.raises(
        ValidationError,
        match=rf"{name}: the file's CRS \(a custom Wagner VII "
        r"CRS\) cannot be transformed to WGS84.*Inverse operation for wag7",
    ):
        read_border(path)


def test_real_gpx_tracks_as_border_and_detections(realdata: Path) -> None:
    path = realdata / "tracks/gpx/gpxpy_korita-zbevnica.gpx"
    border, report = read_border(path)
    assert report.rows_read == 4
    assert report.rows_accepted == 3
    assert "empty" in report.rejected[0].reason
    ref = gpd.read_file(path, layer="tracks")
    assert_coords(border, ref.geometry[~ref.geometry.is_empty])
    det, dreport = read_detections(path)
    # 2 waypoints + 871 track points; 358 track points and both waypoints carry no time
    assert dreport.rows_read == 873
    assert dreport.rows_accepted == 513
    assert {e.field for e in dreport.rejected} == {"time"}
    assert det["time"].min() == pd.Timestamp("2010-10-03T09:36:30Z")
    assert det["time"].max() == pd.Timestamp("2010-10-03T13:19:31Z")
    assert dreport.naive_times == 0


def test_real_gpx_with_1901_times_is_rejected(realdata: Path) -> None:
    path = realdata / "tracks/gpx/gpxpy_Mojstrovka.gpx"
    with pytest.raises(
        ValidationError,
        match=r"gpxpy_Mojstrovka\.gpx: none of the 184 features "
        r"can be used\. gpxpy_Mojstrovka\.gpx feature 1, field 'time': implausible "
        r"time: before 1980-01-07, most likely an unset device clock.*"
        r"got '1901-12-13T20:45:52\.207000\+00:00'",
    ):
        read_detections(path)
    border, _ = read_border(path)  # the track itself is fine as lines
    assert len(border) == 1


def test_real_gpx_route_and_bom(realdata: Path) -> None:
    route, _ = read_border(realdata / "tracks/gpx/togeojson_opencpn.gpx")
    assert len(route) == 1
    assert len(shapely.get_coordinates(route.geometry.iloc[0])) == 16
    det, report = read_detections(realdata / "malformed/gpxpy_unicode_with_bom.gpx")
    assert len(det) == 1
    assert det["time"].iloc[0] == pd.Timestamp("2016-05-27T10:08:47.800Z")
    assert any("GPX schema version is unknown" in n for n in report.notes)
    seg, _ = read_border(realdata / "malformed/gpxpy_track-with-empty-segment.gpx")
    assert len(seg) == 1


def test_real_kml_samples(realdata: Path) -> None:
    path = realdata / "tracks/kml/fastkml_KML_Samples.kml"
    border, report = read_border(path)
    assert len(border) == 6  # the 'Paths' folder; points and polygons are rejected, with reasons
    assert report.rows_read == 21  # 'Screen Overlays' and 'Polygons' are empty folders
    assert any("got 'a Point'" in e.reason for e in report.rejected)
    assert any("use the polygon's boundary" in e.reason for e in report.rejected)
    with pytest.raises(
        ValidationError,
        match=r"fastkml_KML_Samples\.kml, field 'partner': "
        r"required columns 'partner', 'kind', 'range_m' missing",
    ):
        read_sensors(path)
    with pytest.raises(
        ValidationError,
        match=r"fastkml_KML_Samples\.kml: none of the 21 "
        r"features can be used\..*field 'timestamp': the time is missing",
    ):
        read_detections(path)


def test_real_kml_gx_tracks(realdata: Path) -> None:
    one, _ = read_border(realdata / "tracks/kml/togeojson_gxtrack.kml")
    assert one.geom_type.tolist() == ["LineString"]
    assert len(shapely.get_coordinates(one.geometry.iloc[0])) == 7
    multi, report = read_border(realdata / "tracks/kml/togeojson_gxmultitrack.kml")
    assert multi.geom_type.tolist() == ["MultiLineString"]
    assert report.rows_read == 3
    assert len(report.rejected) == 2


def test_real_kml_gx_tracks_as_detections_keep_their_times(realdata: Path) -> None:
    det, report = read_detections(realdata / "tracks/kml/togeojson_gxtrack.kml")
    assert len(det) == 7
    assert report.rejected == []
    assert det["time"].iloc[0] == pd.Timestamp("2010-05-28T02:02:09Z")
    assert det["time"].iloc[-1] == pd.Timestamp("2010-05-28T02:02:56Z")
    assert_coords(det.iloc[[0]], [Point(-122.207881, 37.371915)])
    assert any("expanded 1 gx:Track into 7 timestamped points" in n for n in report.notes)
    multi, _mreport = read_detections(realdata / "tracks/kml/togeojson_gxmultitrack.kml")
    assert len(multi) == 28  # 2 time-stamped Points + 26 positions of 2 gx:Tracks
    assert multi["time"].notna().all()


GX_KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2">
<Document>
  <Placemark><name>drone-7</name>
    <gx:Track>
      <when>2024-05-01T12:00:00Z</when><when>2024-05-01T12:00:10+02:00</when>
      <gx:coord>14.1 45.5 300</gx:coord><gx:coord>14.2 45.6 310</gx:coord>
    </gx:Track>
  </Placemark>
  <Placemark><name>seen</name><TimeSpan><begin>2024-05-01T13:00:00Z</begin></TimeSpan>
    <Point><coordinates>14.3,45.7</coordinates></Point>
  </Placemark>
</Document>
</kml>
"""


def test_gx_track_in_kmz_and_timespan_begin(tmp_path: Path) -> None:
    path = tmp_path / "tracks.kmz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("doc.kml", GX_KML)
    det, report = read_detections(path)
    assert det["time"].tolist() == [
        pd.Timestamp("2024-05-01T13:00:00Z"),
        pd.Timestamp("2024-05-01T12:00:00Z"),
        pd.Timestamp("2024-05-01T10:00:10Z"),
    ]
    assert_coords(det, [Point(14.3, 45.7), Point(14.1, 45.5), Point(14.2, 45.6)])
    assert report.format == "KMZ"
    border, _ = read_border(write_text(tmp_path, "track.kml", GX_KML))
    assert len(border) == 1  # as a border the track is a line; the point is rejected


def test_real_kmz(realdata: Path) -> None:
    path = realdata / "tracks/kml/fastkml_ogc_small_world.kmz"
    with pytest.raises(
        ValidationError,
        match=r"fastkml_ogc_small_world\.kmz: none of the 1 "
        r"features.*the border must be given as lines",
    ):
        read_border(path)
    with pytest.raises(
        ValidationError,
        match=r"fastkml_ogc_small_world\.kmz, field 'partner': "
        r"required column 'partner' missing",
    ):
        read_sectors(path)


def test_real_garmin_kml_with_nested_folders(realdata: Path) -> None:
    border, report = read_border(realdata / "tracks/kml/gpxpy_cerknicko-jezero.kml")
    assert len(border) >= 1
    assert report.format == "KML"


@pytest.mark.parametrize(
    ("name", "reader", "message"),
    [
        (
            "ogc_LinearRingWith1DTuple.kml",
            read_border,
            r"is not a KML document: expected an XML document with a <kml> root element, got "
            r"'<LinearRing> as root element'",
        ),
        ("ogc_LinearRingWithInvalidLat.kml", read_border, r"is not a KML document"),
        ("ogc_Placemark-TruncatedLineString.kml", read_border, r"got '<Placemark> as root"),
        ("ogc_invalidPolygonBoundary.kml", read_sectors, r"got '<kml:Placemark> as root"),
        (
            "togeojson_bad.kml",
            read_border,
            r"feature 1, field 'geometry': the border must be given "
            r"as lines",
        ),
        ("togeojson_bad.kml", read_sectors, r"required column 'partner' missing"),
        (
            "togeojson_selfclosing.kml",
            read_border,
            r"feature 1, field 'geometry': the geometry is "
            r"empty",
        ),
        ("togeojson_null_geometry.kml", read_border, r"the geometry is missing"),
        ("togeojson_point_extra_coordinates.kml", read_border, r"the border must be lines"),
        (
            "togeojson_bad.gpx",
            read_detections,
            r"none of the 5 features.*\(0, 0\) is almost always",
        ),
        ("togeojson_bad.gpx", read_border, r"none of the 2 features.*could not be decoded"),
        ("fiona_test_tin.shp", read_border, r"CRS unknown, add the \.prj"),
        ("pyais_mixed.txt", read_detections, r"unsupported file type"),
    ],
)
def test_real_malformed_files_fail_clearly(
    realdata: Path, name: str, reader: Callable[..., object], message: str
) -> None:
    with pytest.raises(ValidationError, match=rf"{name.replace('.', chr(92) + '.')}.*{message}"):
        reader(realdata / "malformed" / name)


def test_real_csv_with_curves_keeps_the_straight_rows(realdata: Path) -> None:
    _got, report = read_border(realdata / "malformed/fiona_curves_line.csv")
    assert report.rows_read == 9
    assert report.rows_accepted == 5
    assert {e.row for e in report.rejected} == {2, 3, 6, 8}
    assert all("curved geometry" in e.reason and "Segmentize" in e.reason for e in report.rejected)


def test_real_bad_gpx_zero_positions_are_rejected(realdata: Path) -> None:
    msg = _message(read_detections, realdata / "malformed/togeojson_bad.gpx")
    assert "(0, 0) is almost always a missing" in msg


def test_real_tiny_lines_geojson(realdata: Path) -> None:
    got, report = read_border(realdata / "malformed/rasterio_issue1446.geojson")
    assert len(got) == 7
    assert report.source_crs.startswith("EPSG:4326")


def test_real_bus_positions_csv(realdata: Path) -> None:
    path = realdata / "tracks/gps/movingpandas_liverpool_bus_route14_outbound.csv"
    got, report = read_detections(path)
    assert report.rows_accepted == 1533
    assert report.naive_times == 1533
    assert "time read from column 'timestamp'" in report.notes
    assert any("'latitude' (latitude) and 'longitude' (longitude)" in n for n in report.notes)
    assert got.total_bounds[1] > 53
    assert got.total_bounds[0] < -2.8


def test_real_atak_data_package_zip_is_not_a_shapefile(realdata: Path) -> None:
    with pytest.raises(
        ValidationError,
        match=r"atak_CoT_Types_Data_Package\.zip: the zip holds "
        r"no shapefile.*MANIFEST",
    ):
        read_detections(realdata / "tracks/cot/atak_CoT_Types_Data_Package.zip")


def test_csv_not_utf8_after_the_first_64_kb(tmp_path: Path) -> None:
    rows = "".join(f"2024-05-01T12:00:00Z,45.5,14.1,d{i}\n" for i in range(3000))
    path = tmp_path / "det.csv"
    path.write_bytes(
        ("time,lat,lon,detection_id\n" + rows + "2024-05-01T12:00:00Z,45.5,14.1,Körös\n").encode(
            "cp1252"
        )
    )
    got, report = read_detections(path)
    assert got["detection_id"].iloc[-1] == "Körös"
    assert any("Windows-1252" in n for n in report.notes)


def test_zip_with_two_shapefiles(tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    write_shapefile(SENSORS.iloc[:2], parts / "a.shp")
    write_shapefile(SECTORS, parts / "zones.shp")
    write_shapefile(SENSORS.iloc[2:], parts / "b.shp")
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted(parts.iterdir()):
            zf.write(f, f.name)
    got, report = read_sensors(path)
    assert got["sensor_id"].tolist() == ["R-01", "C-02", "T-03"]
    assert any("skipped 'zones' (Polygon)" in n for n in report.notes)
    assert any(n.startswith("read shapefiles 'a' (features 1-2)") for n in report.notes)


@pytest.mark.parametrize(
    "fmt", ["geojson", "gpkg", "shpzip", "kml", "kmz", "gpx", "fgb", "parquet", "csv_latlon"]
)
def test_upload_saved_under_a_temporary_name(tmp_path: Path, fmt: str) -> None:
    path = write_layer(SENSORS, tmp_path, fmt, "sensors")
    upload = tmp_path / "upload_7f3a"
    shutil.copy(path, upload)
    got, report = read_sensors(upload, source_name=path.name)
    assert report.source == path.name
    assert got["sensor_id"].tolist() == ["R-01", "C-02", "T-03"]
    assert_coords(got, SENSORS.geometry)


# --------------------------------------------------------------------------------------
# Detections as columns (bulk loading)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["detections.csv", "detections.geojson"])
def test_detection_columns_are_the_frame_without_points(tmp_path: Path, name: str) -> None:
    rows = pd.DataFrame(
        {
            "detection_id": ["a", " b ", "c", "d", "e\u00a0", "f"],
            "time": [
                "2024-05-01T10:00:00Z",
                "2024-05-01T11:00:00Z",
                "bad",
                "2024-05-01T12:00Z",
                "2024-05-02T00:00:00+02:00",
                "2024-05-03T00:00:00Z",
            ],
            "lat": [45.5, 45.6, 45.7, 95.0, 45.8, 45.9],
            "lon": [14.5, 14.6, 14.7, 14.8, -0.0, 15.0],
            "source": ["cam 1", "\tcam-2", None, "x", "y", "é"],
            "confidence": [0.5, 1, 0.2, 0.1, None, "0.7"],
        }
    )
    path = tmp_path / name
    if name.endswith(".csv"):
        rows.to_csv(path, index=False)
    else:
        gpd.GeoDataFrame(
            rows.drop(columns=["lat", "lon"]),
            crs="EPSG:4326",
            geometry=gpd.points_from_xy(rows["lon"], rows["lat"]),
        ).to_file(path)
    frame, report = read_detections(path)
    columns, col_report = read_detection_columns(path)
    assert col_report.to_dict() == report.to_dict()
    assert report.rows_accepted == 4
    assert set(columns) == (set(frame.columns) - {"geometry"}) | {"lon", "lat"}
    for name_ in set(frame.columns) - {"geometry"}:
        pd.testing.assert_series_equal(
            pd.Series(columns[name_], name=name_), frame[name_], check_names=False
        )
    np.testing.assert_array_equal(columns["lon"], shapely.get_x(frame.geometry.array))
    np.testing.assert_array_equal(columns["lat"], shapely.get_y(frame.geometry.array))
    assert frame["detection_id"].tolist() == ["a", "b", "e", "f"]  # stripped, also U+00A0
    assert frame["source"].tolist()[:2] == ["cam 1", "cam-2"]
    assert frame["source"].tolist()[3] == "é"


@pytest.mark.parametrize(
    "name",
    [
        "tracks/gps/movingpandas_liverpool_bus_route14_outbound.csv",
        "tracks/gpx/gpxpy_korita-zbevnica.gpx",
        "tracks/kml/togeojson_gxmultitrack.kml",
        "tracks/cot/atak_Marker_-_2525.cot",
        "malformed/gpxpy_unicode_with_bom.gpx",
    ],
)
def test_real_files_give_the_same_detections_as_columns(realdata: Path, name: str) -> None:
    frame, report = read_detections(realdata / name)
    columns, col_report = read_detection_columns(realdata / name)
    assert col_report.to_dict() == report.to_dict()
    for column in set(frame.columns) - {"geometry"}:
        pd.testing.assert_series_equal(
            pd.Series(columns[column], name=column), frame[column], check_names=False
        )
    np.testing.assert_array_equal(columns["lon"], shapely.get_x(frame.geometry.array))
    np.testing.assert_array_equal(columns["lat"], shapely.get_y(frame.geometry.array))


def test_text_without_surrounding_spaces_is_left_as_it_is() -> None:
    # The fast check looks at each value's first and last byte only
    values = pd.Series(["a b", "é", "x\u00a0y", None, "", "\u3000z", "q\n"], dtype="str")
    assert to_text(values).tolist()[:3] == ["a b", "é", "x\u00a0y"]
    assert to_text(values).isna().tolist() == [False, False, False, True, True, False, False]
    assert to_text(values).tolist()[5:] == ["z", "q"]
    assert to_text(pd.Series(["a", "b"], dtype="str")).tolist() == ["a", "b"]

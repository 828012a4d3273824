"""Counting groups of points of a known class (geo.coverage.streamed.add_groups).

The map counts a window's stored rows per fine cell and hexagon where a whole cell is of one
class; :func:`add_groups` with those groups must give exactly the figures of classifying
every point (:func:`add_points`, :func:`count_batches`): the truth here.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest

from geo.core.cells import NO_HEX, HexLayout
from geo.core.settings import SAMPLE_DIR
from geo.coverage.streamed import (
    add_groups,
    add_points,
    count_batches,
    new_counts,
    point_classifier,
)
from geo.inputs.scenario import load_scenario
from layers.map import MAP_HEXAGON_M


@pytest.fixture(scope="module")
def classifier():  # type: ignore[no-untyped-def]
    sc = load_scenario(SAMPLE_DIR)
    return point_classifier(sc.border, sc.sensors, sectors=sc.sectors)


def _points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(21.0, 28.0, n), rng.uniform(53.9, 56.4, n)
    lon[:3], lat[:3] = np.nan, np.nan  # positions that cannot be read: counted, in no hexagon
    return lon, lat


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    da, db = asdict(a), asdict(b)
    for key in da:
        if isinstance(da[key], np.ndarray):
            np.testing.assert_array_equal(da[key], db[key], err_msg=key)
        else:
            assert da[key] == db[key], key


@pytest.mark.parametrize("seed", [1, 2])
def test_groups_equal_points(classifier, seed: int) -> None:  # type: ignore[no-untyped-def]
    lon, lat = _points(20_000, seed)
    truth = count_batches(
        [type("P", (), {"lon": lon[:9_000], "lat": lat[:9_000]}),
         type("P", (), {"lon": lon[9_000:], "lat": lat[9_000:]})],
        classifier, hex_size_m=MAP_HEXAGON_M,
    )  # fmt: skip
    assert min(truth.in_coverage, truth.in_gaps, truth.outside_corridor) > 0
    assert (truth.sectors > 0).sum() >= 2
    assert len(truth.hex_keys) > 100
    # The same points as groups: one per (status, sectors, hexagon), with its size.
    codes, in_sector = classifier.classify(lon, lat)
    hexes = HexLayout(classifier.acrs, MAP_HEXAGON_M).keys(lon, lat)
    assert (hexes == NO_HEX).sum() == 3
    sectors = np.packbits(in_sector, axis=1)
    frame = pd.DataFrame({"code": codes, "hex": hexes, "sec": [r.tobytes() for r in sectors]})
    first = frame.groupby(["code", "hex", "sec"], sort=False).indices
    at = np.array([ix[0] for ix in first.values()])
    n = np.array([len(ix) for ix in first.values()], dtype=np.int64)
    assert n.max() > 1
    got = new_counts(classifier)
    order = np.random.default_rng(seed).permutation(len(at))
    half = len(order) // 2
    for part in (order[:half], order[half:]):  # in two calls, in any order
        add_groups(
            got, classifier, (codes[at[part]], in_sector[at[part]]), hexes[at[part]], n[part]
        )
    _same(got, truth)
    # And mixed with points classified one by one.
    mixed = new_counts(classifier)
    add_groups(
        mixed, classifier, (codes[at[:half]], in_sector[at[:half]]), hexes[at[:half]], n[:half]
    )
    rest = np.concatenate([first[k] for k in list(first)[half:]])
    add_points(mixed, classifier, lon[rest], lat[rest], hex_size_m=MAP_HEXAGON_M)
    _same(mixed, truth)


def test_groups_without_hexagons(classifier) -> None:  # type: ignore[no-untyped-def]
    lon, lat = _points(3_000, 3)
    truth = count_batches([type("P", (), {"lon": lon, "lat": lat})], classifier)
    codes, in_sector = classifier.classify(lon, lat)
    got = new_counts(classifier)
    add_groups(got, classifier, (codes, in_sector), None, np.ones(len(lon), dtype=np.int64))
    _same(got, truth)
    assert len(got.hex_keys) == 0

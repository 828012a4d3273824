"""The map's layer cache: a toggle or a partner switch rebuilds only the layers that change."""

from __future__ import annotations

import json

import pytest

from geo.core import settings
from layers.map import DEFAULT_OFF, LAYERS, build_map
from ui import shared as ui

DIR = str(settings.SAMPLE_DIR)
SHOWN = tuple(k for k in LAYERS if k not in DEFAULT_OFF)


@pytest.fixture(autouse=True)
def _cold():
    ui.map_layers.clear()
    ui.map_deck.clear()


def _deck(shown=SHOWN, partner=None, window=(None, None), viewers=None):
    return ui.map_deck(DIR, 5.0, 1.0, *window, partner, shown, False, 0, viewers)


def _by_id(deck):
    return {layer.id: layer for layer in deck.layers}


def test_a_toggle_reuses_every_other_layer():
    before = _by_id(_deck())
    after = _by_id(_deck(shown=tuple(k for k in SHOWN if k != "footprints")))
    assert "footprints" in before and "footprints" not in after
    assert set(after) == set(before) - {"footprints"}
    # the same built objects, not rebuilt (labels that gave way to others are per-deck copies)
    moved = {"places", "place_labels", "country_labels"}
    assert all(after[i] is before[i] for i in after if i not in moved)
    assert all(json.dumps(after[i].data) == json.dumps(before[i].data) for i in moved & set(after))


def test_a_partner_switch_rebuilds_only_what_the_partner_changes():
    joint = _by_id(_deck())
    pol = _by_id(_deck(partner="POL"))
    reused = {i for i in pol if i in joint and pol[i] is joint[i]}
    assert reused >= {"basemap", "corridor", "gap_areas", "border", "detections", "country_labels"}
    assert not reused & {"sectors", "footprints", "gaps", "sensors"}


def test_the_cached_deck_equals_a_fresh_build():
    # Whatever the cache reuses, the deck is what build_map makes from scratch, in every view.
    sc = ui.scenario(DIR)
    for partner, viewers in ((None, None), ("LTU", ("LTU",))):
        result = ui.map_window(DIR, 5.0, 1.0, False, 0, None, None, viewers).result
        fresh = json.loads(build_map(result, partner=partner, shown=SHOWN, dem=sc.dem).to_json())
        cached = json.loads(_deck(partner=partner, viewers=viewers).to_json())
        assert cached == fresh

"""The offline basemap: country outlines and the gazetteer of towns drawn as map labels."""

from geo.basemap.gazetteer import COUNTRIES_FILE, PLACES_FILE, country_labels, places

__all__ = ["COUNTRIES_FILE", "PLACES_FILE", "country_labels", "places"]

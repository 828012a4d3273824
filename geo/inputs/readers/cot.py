"""Cursor-on-Target (CoT) XML events as detections.

A CoT file holds one ``<event>`` (what ATAK, WinTAK and most CoT tools write), a root element
holding many (``<events>``, a TAK server export, ...), or several ``<event>`` documents one
after the other (a saved CoT stream). Each event becomes one row:

- ``uid`` -> ``detection_id``; ``type`` (e.g. ``a-h-G``) -> ``class``;
- time from the ``time`` attribute, else ``start``;
- position from ``<point lat lon hae ce le>``; ``hae``/``ce``/``le`` (metres) as
  ``hae_m``/``ce_m``/``le_m`` (CoT writes ``9999999`` for "unknown": :mod:`geo.inputs.loader` makes
  that NaN);
- ``source``: who produced the event, from ``<detail><link relation="p-p">`` (its
  ``parent_callsign``, else its ``uid``), as ATAK writes it;
- markings ``access``, ``caveat`` and ``releasableTo`` (also spelled ``releaseableTo``, as in
  ATAK's own schema) from the event's attributes, else from the first element in
  ``<detail>`` that carries them.

The XML is parsed with :mod:`defusedxml` (no DTD, no entities, no external references) as a
stream: processed events are freed, so memory stays proportional to one event, not the file.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element, ParseError

import numpy as np
import pandas as pd
import pyproj

from geo.core.errors import ValidationError, describe
from geo.inputs.readers.raw import WGS84_BY_STANDARD, RawLayer
from geo.inputs.readers.xmlsafe import DefusedXmlException, iter_elements, local_name, xml_refused

__all__ = ["COLUMNS", "read_cot"]

#: Columns of the raw table, in order.
COLUMNS: tuple[str, ...] = (
    "time",
    "detection_id",
    "class",
    "source",
    "lat",
    "lon",
    "hae_m",
    "ce_m",
    "le_m",
    "access",
    "caveat",
    "releasable_to",
)

#: Marking attributes -> column (both spellings of releasableTo).
_MARKINGS: dict[str, str] = {
    "access": "access",
    "caveat": "caveat",
    "releasableTo": "releasable_to",
    "releaseableTo": "releasable_to",
}

_XML_DECLARATION = re.compile(rb"<\?xml[^>]*\?>")


def read_cot(data: bytes, source: str) -> RawLayer:
    """Read every ``<event>`` of a CoT document into a :class:`RawLayer` of points.

    Parameters
    ----------
    data
        The file's bytes.
    source
        File name for messages.

    Raises
    ------
    ValidationError
        XML with a DTD or entities, XML that is not well-formed, or no ``<event>``.
    """
    notes: list[str] = []
    reader = _Reader(source)
    try:
        rows = reader.events(data)
    except _NotOneDocument:
        # several <event> documents one after the other (a saved stream): read them as one
        reader = _Reader(source)
        rows = reader.events(b"<events>" + _XML_DECLARATION.sub(b"", data) + b"</events>")
        notes.append(f"the file holds {len(rows)} CoT documents one after the other")
    if not rows:
        raise ValidationError(
            describe(
                source,
                "the file holds no CoT <event>",
                expected="one or more <event> elements",
                got="none",
                fix="Export the events as Cursor-on-Target XML",
            )
        )
    attrs = pd.DataFrame(rows, columns=list(COLUMNS), dtype=object)
    if reader.from_start:
        notes.append(f"{reader.from_start} event time(s) taken from 'start' (no 'time' attribute)")
    if attrs["source"].notna().any():
        notes.append("source read from each event's producer (<link relation='p-p'>)")
    return RawLayer(
        source=source,
        format="CoT",
        attrs=attrs,
        geometry=None,
        src_row=np.arange(1, len(attrs) + 1, dtype=np.int64),
        row_label="feature",
        crs=pyproj.CRS.from_epsg(4326),
        crs_assumed=WGS84_BY_STANDARD["cot"],
        kind="cot",
        lonlat_cols=("lon", "lat"),
        geometry_field="point",
        notes=notes,
    )


class _NotOneDocument(Exception):
    """More than one root element: a stream of CoT documents."""


Row = tuple[str | None, ...]


class _Reader:
    """Streams the events of one XML document, freeing each after reading it."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.from_start = 0

    def events(self, data: bytes) -> list[Row]:
        rows: list[Row] = []
        stack: list[Element] = []
        try:
            for what, elem in iter_elements(data):
                if what == "start":
                    stack.append(elem)
                    continue
                stack.pop()
                if local_name(elem.tag) != "event":
                    continue
                rows.append(self._row(elem))
                elem.clear()
                if stack:
                    stack[-1].remove(elem)
        except DefusedXmlException as exc:
            raise xml_refused(self.source, "CoT", exc) from exc
        except ParseError as exc:
            if "junk after document element" in str(exc) and rows:
                raise _NotOneDocument from exc
            raise ValidationError(
                describe(
                    self.source,
                    "is not well-formed XML",
                    expected="a CoT document",
                    got=" ".join(str(exc).split())[:160],
                    fix="Check the file is complete Cursor-on-Target XML",
                )
            ) from exc
        return rows

    def _row(self, ev: Element) -> Row:
        a = ev.attrib
        time = a.get("time") or None
        if time is None and a.get("start"):
            time = a.get("start")
            self.from_start += 1
        point = next((c for c in ev if local_name(c.tag) == "point"), None)
        p = point.attrib if point is not None else {}
        marks = {col: a[attr] for attr, col in _MARKINGS.items() if a.get(attr)}
        producer: str | None = None
        detail = next((c for c in ev if local_name(c.tag) == "detail"), None)
        if detail is not None:
            for el in detail.iter():
                da = el.attrib
                if (
                    producer is None
                    and local_name(el.tag) == "link"
                    and da.get("relation") == "p-p"
                ):
                    producer = da.get("parent_callsign") or da.get("uid") or None
                for attr, col in _MARKINGS.items():
                    if col not in marks and da.get(attr):
                        marks[col] = da[attr]
        return (
            time,
            a.get("uid") or None,
            a.get("type") or None,
            producer,
            p.get("lat"),
            p.get("lon"),
            p.get("hae"),
            p.get("ce"),
            p.get("le"),
            marks.get("access"),
            marks.get("caveat"),
            marks.get("releasable_to"),
        )

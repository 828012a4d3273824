"""XML from users (KML, GPX, Cursor-on-Target): parsed only without DTDs or entities.

:func:`check_xml` parses a document's prolog with :mod:`defusedxml` and refuses a DOCTYPE,
an entity declaration or an external reference before any reader sees the file;
:func:`parse_document` and :func:`iter_elements` are the only ways the readers parse XML
themselves (never :mod:`xml.etree` directly on user data). :func:`local_name` takes the
namespace off a tag, :func:`xml_root` names a document's root element from its first bytes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from xml.etree.ElementTree import Element, ParseError

# defusedxml 0.7 ships no type information (and types-defusedxml is not a dependency): its
# imports stand here only, and every use below is typed through the standard library's types.
import defusedxml.ElementTree as SafeET
from defusedxml import (
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)

from geo.core.errors import ValidationError, describe

__all__ = [
    "DefusedXmlException",
    "check_xml",
    "iter_elements",
    "local_name",
    "parse_document",
    "xml_refused",
    "xml_root",
]


def local_name(tag: object) -> str:
    """A tag without its namespace or prefix (``{uri}Track``, ``gx:Track`` -> ``Track``).

    Examples
    --------
    >>> [local_name(t) for t in ("{http://www.opengis.net/kml/2.2}Track", "gx:Track", "event")]
    ['Track', 'Track', 'event']
    """
    return str(tag).split(":")[-1].rsplit("}", 1)[-1]


def parse_document(data: bytes) -> Element:
    """The root element of a whole XML document, parsed without DTDs.

    Raises :class:`xml.etree.ElementTree.ParseError` or :class:`DefusedXmlException`.
    """
    root: Element = SafeET.fromstring(data, forbid_dtd=True)
    return root


def iter_elements(data: bytes) -> Iterator[tuple[str, Element]]:
    """``("start" | "end", element)`` through a document as it is parsed, for streaming.

    DTDs, entities and external references are refused
    (:class:`DefusedXmlException`); malformed XML raises
    :class:`xml.etree.ElementTree.ParseError` when reached.
    """
    events: Iterator[tuple[str, Element]] = SafeET.iterparse(
        io.BytesIO(data),
        events=("start", "end"),
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    return events


def xml_root(text: bytes) -> str | None:
    """Name of the first element in an XML head (declarations/comments/doctype skipped)."""
    pos = 0
    while True:
        m = re.compile(rb"<([!?]?)([A-Za-z_][\w:.-]*)?").search(text, pos)
        if m is None:
            return None
        if m.group(1):
            if text.startswith(b"<!--", m.start()):
                end = text.find(b"-->", m.end())
            else:
                end = text.find(b">", m.end())
            if end < 0:
                return None
            pos = end + 1
            continue
        return m.group(2).decode("utf-8", "replace") if m.group(2) else None


class _RootReached(Exception):
    """The XML prolog has been read: the root element starts."""


class _RootTarget:
    """Parser target that stops at the root element."""

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        raise _RootReached(tag)

    def end(self, tag: str) -> None:  # pragma: no cover - never reached
        pass

    def data(self, data: str) -> None:
        pass

    def close(self) -> None:
        return None


def check_xml(data: bytes, source: str, label: str) -> None:
    """Refuse XML with a DOCTYPE, entity declarations or external references.

    The prolog (everything before the root element) is parsed with :mod:`defusedxml`; a DTD,
    and so any entity declaration ("billion laughs", an external entity reading a local file
    or a URL), can only stand there, so this is complete and costs microseconds whatever the
    file's size. A file refused here never reaches GDAL.
    """
    parser = SafeET.DefusedXMLParser(
        target=_RootTarget(), forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        for start in range(0, len(data), 4096):
            parser.feed(data[start : start + 4096])
        parser.close()
    except _RootReached:
        return
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden) as exc:
        raise xml_refused(source, label, exc) from exc
    except ParseError as exc:
        raise ValidationError(
            describe(
                source,
                "is not well-formed XML",
                expected=f"a {label} document",
                got=" ".join(str(exc).split())[:160],
                fix=f"Check the file is complete {label} (open it in a text editor)",
            )
        ) from exc
    raise ValidationError(
        describe(
            source, "holds no XML element", expected=f"a {label} document", got="no root element"
        )
    )


def xml_refused(source: str, label: str, exc: Exception) -> ValidationError:
    """The message for XML with a DOCTYPE/entities (shared with the CoT reader)."""
    what = {
        "DTDForbidden": "a DOCTYPE declaration",
        "EntitiesForbidden": "an entity declaration",
        "ExternalReferenceForbidden": "an external reference",
    }.get(type(exc).__name__, "a DOCTYPE")
    return ValidationError(
        describe(
            source,
            f"the {label} file contains {what} (DTD), which Limes refuses: entities can "
            "expand to gigabytes ('billion laughs') or pull in local files and URLs",
            expected=f"{label} without <!DOCTYPE ...> or <!ENTITY ...>",
            got=what,
            fix=f"Export the file again from the GIS or device; standard {label} has no DOCTYPE",
        )
    )

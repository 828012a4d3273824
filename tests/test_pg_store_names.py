"""Store names: a PostgreSQL URL selects PostgreSQL, a path a GeoPackage, and any other URL-like
name is refused wherever a store is named (``--store``, ``$LIMES_STORE``, the app, the API).

Before this, ``--store postgresql://user@host:5432/db`` was taken as a file path: the upload
"succeeded" into a new GeoPackage under a folder named ``postgresql:``. These tests run from a
scratch working directory and check that no such folder (nor any file) appears.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from geo import store
from geo.core.errors import ValidationError
from geo.core.settings import is_postgres, store_name, store_path

ROOT = Path(__file__).resolve().parents[1]
DETECTIONS = ROOT / "sample_data" / "detections.csv"

#: Names that look like URLs Limes cannot use, and what the message says of each.
REFUSED = {
    "mysql://limes@db:3306/limes": "URL scheme 'mysql'",
    "postgresql:limes@db/limes": "needs '//'",
    "postgresql:/limes@db/limes": "needs '//'",  # what Path() makes of a URL
    "postgres:": "needs '//'",
    "http://example.org/limes.gpkg": "URL scheme 'http'",
    "sqlite:///data/limes.gpkg": "URL scheme 'sqlite'",
}


def _everything(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize(
    "name",
    [
        "postgresql://limes@db.example:5432/limes",
        "postgres://limes@localhost/limes",
        "POSTGRESQL://limes@[::1]:6543/limes?sslmode=require",
    ],
)
def test_a_postgresql_url_selects_postgresql(name: str) -> None:
    assert store_name(name) == name
    assert is_postgres(name)


@pytest.mark.parametrize(
    "name", ["data/limes.gpkg", "/srv/limes/store.gpkg", "notes:v2.gpkg", "C:/limes.gpkg"]
)
def test_a_path_keeps_the_geopackage(name: str) -> None:
    assert store_name(name) == Path(name)
    assert store_name(Path(name)) == Path(name)
    assert not is_postgres(name)


@pytest.mark.parametrize(("name", "why"), REFUSED.items())
def test_other_url_like_names_are_refused_with_what_is_accepted(name: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why) as caught:
        store_name(name)
    text = str(caught.value)
    assert text.startswith(name)
    assert "postgresql://user@host:port/database" in text
    assert "GeoPackage file path" in text


@pytest.mark.parametrize("name", list(REFUSED))
def test_limes_store_is_checked(name: str) -> None:
    with pytest.raises(ValidationError, match="not a store Limes can use"):
        store_path({"LIMES_STORE": name})


def _geo(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "geo", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("name", ["mysql://limes@db/limes", "postgresql:limes@db/limes"])
def test_cli_store_option_refuses_and_creates_nothing(name: str, tmp_path: Path) -> None:
    done = _geo("ingest", str(DETECTIONS), "--partner", "LTU", "--store", name, cwd=tmp_path)
    assert done.returncode == 2
    assert "argument --store" in done.stderr
    assert "not a store Limes can use" in done.stderr
    assert "Traceback" not in done.stderr
    assert _everything(tmp_path) == []


def test_cli_limes_store_refuses_and_creates_nothing(tmp_path: Path) -> None:
    done = _geo(
        "ingest",
        str(DETECTIONS),
        "--partner",
        "LTU",
        cwd=tmp_path,
        env={"LIMES_STORE": "http://example.org/store"},
    )
    assert done.returncode == 2
    assert "http://example.org/store: not a store Limes can use" in done.stderr
    assert "Traceback" not in done.stderr
    assert _everything(tmp_path) == []


def test_api_never_creates_a_geopackage_under_a_url_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API refuses a URL-like name whatever form it comes in (text, or a Path of one)."""
    monkeypatch.chdir(tmp_path)
    for name in ("mysql://limes@db/limes", Path("postgresql://limes@db:5432/limes")):
        with pytest.raises(ValidationError, match="not a store Limes can use"):
            store.ingest_file(name, DETECTIONS, partner="LTU")
        with pytest.raises(ValidationError, match="not a store Limes can use"):
            store.visible_detections(name, ["LTU"])
        with pytest.raises(ValidationError, match="not a store Limes can use"):
            store.operation_records(name)
        with pytest.raises(ValidationError, match="not a store Limes can use"):
            store.record_event(name, "signin", user="ana", partner="LTU")
    assert _everything(tmp_path) == []


def test_app_shows_the_message_for_a_bad_limes_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIMES_STORE", "mysql://limes@db/limes")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception
    assert any("mysql://limes@db/limes: not a store Limes can use" in e.value for e in at.error)
    assert _everything(tmp_path) == []


def test_no_command_shows_the_password_of_a_store_url(
    pg_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A URL's password never reaches stdout, stderr or a JSON ``store`` (shown as ``***``)."""
    from urllib.parse import urlsplit, urlunsplit

    from cli import main

    parts = urlsplit(pg_store)  # the test cluster trusts the role: the password is not checked
    url = urlunsplit(parts._replace(netloc=parts.netloc.replace("@", ":s3cret@", 1)))
    create = ["operation", "create", "twice", "--border", str(ROOT / "sample_data" / "border.geojson"),
              "--sensors", str(ROOT / "sample_data" / "sensors.csv"), "--store", url]  # fmt: skip
    commands = [
        create,
        ["ingest", str(DETECTIONS), "--store", url, "--partner", "LTU"],
        ["uploads", "list", "--store", url, "--as-partner", "LTU"],
        ["audit", "--store", url],
        ["operation", "list", "--store", url],
        ["reindex", "--store", url],
        ["backup", "--store", url, "--out", str(tmp_path / "copy.dump")],
        ["detections", "--store", url, "--as-partner", "LTU", "--out", str(tmp_path / "d.json")],
    ]
    for command in commands:
        assert main(command) == 0, command
        captured = capsys.readouterr()
        assert "s3cret" not in captured.out + captured.err, command
        shown = store.shown_store(url)
        assert ":***@" in shown
        if captured.out.startswith("{"):
            import json

            assert json.loads(captured.out).get("store", shown) == shown, command
    for command in [  # refused: the message names the store, without its password
        ["operation", "show", "nope", "--store", url],
        ["analyse", "--operation", "nope", "--store", url],
        ["ingest", str(DETECTIONS), "--store", url, "--partner", "LTU", "--operation", "nope"],
        create,  # a second time
    ]:  # fmt: skip
        assert main(command) == 2, command
        captured = capsys.readouterr()
        assert "error:" in captured.err, command
        assert "s3cret" not in captured.out + captured.err, (command, captured.err)

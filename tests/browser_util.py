"""Helpers for the browser test: a Streamlit server in a subprocess, Chromium flags, pixels.

Kept apart from ``test_browser.py`` so the pixel helpers can be checked without a browser
(their doctests run with the rest of the suite).
"""

from __future__ import annotations

import contextlib
import math
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import numpy as np

#: Debian's Chromium (``apt-get install chromium``); Playwright's own browser downloads are
#: not used.
CHROMIUM = Path("/usr/bin/chromium")

#: Headless Chromium that stays offline and renders WebGL in software.
#:
#: - ``--no-sandbox``: CI runs as root, where Chromium's sandbox refuses to start.
#: - ``--disable-background-networking`` ... ``--no-first-run``: without them Chromium calls
#:   Google hosts (component updates, sync, field trials, QUIC probes) on start.
#: - ``--use-angle=swiftshader --enable-unsafe-swiftshader``: WebGL 2 through ANGLE on
#:   SwiftShader (a CPU Vulkan driver shipped inside the chromium package), whatever GPU or
#:   Mesa the machine has, so pixels are the same on every CI host. Recent Chromium only
#:   falls back to SwiftShader for WebGL when told it may. ``--disable-gpu`` would leave
#:   deck.gl without a WebGL context and the map blank.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--headless",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
)


class Server(NamedTuple):
    """A running ``streamlit run app.py``: its base URL and its log file."""

    url: str
    log: Path


LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def free_port() -> int:
    """A TCP port on localhost that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("localhost", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def streamlit_server(app: Path, *, log: Path, startup_timeout_s: float = 60.0) -> Iterator[str]:
    """Run ``streamlit run app`` on a free localhost port; yield its base URL; always stop it.

    Raises ``RuntimeError`` with the end of the server log when it does not answer
    ``/_stcore/health`` within ``startup_timeout_s``.
    """
    port = free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", app.name,
        "--server.port", str(port),
        "--server.address", "localhost",
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    url = f"http://localhost:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=app.parent, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + startup_timeout_s
            while not _healthy(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    state = (
                        f"exited with {proc.returncode}"
                        if proc.poll() is not None
                        else (f"did not answer {url}/_stcore/health within {startup_timeout_s:g} s")
                    )
                    raise RuntimeError(f"streamlit {state}; log:\n{tail(log)}")
                time.sleep(0.25)
            yield url
        finally:
            stop_process(proc, timeout_s=15)


def stop_process(proc: subprocess.Popen[Any], *, timeout_s: float) -> None:
    """Ask ``proc`` to end (SIGTERM); kill it when it has not within ``timeout_s``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def tail(path: Path, n: int = 40) -> str:
    """The last ``n`` lines of a text file ("" when it does not exist)."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


def is_local(url: str) -> bool:
    """Whether loading ``url`` stays on this machine (localhost, ``data:``, ``blob:``).

    Examples
    --------
    >>> is_local("http://localhost:8501/static/js/main.js"), is_local("data:image/png;base64,AA")
    (True, True)
    >>> is_local("https://basemaps.cartocdn.com/gl/positron-gl-style/style.json")
    False
    """
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.scheme in ("http", "https", "ws", "wss") and (parts.hostname or "") in LOCAL_HOSTS


def colour_shares(rgb: np.ndarray) -> dict[tuple[int, int, int], float]:
    """Share of the pixels (0-1) of each exact RGB colour of an ``(h, w, 3)`` uint8 image.

    Examples
    --------
    >>> img = np.zeros((2, 2, 3), dtype=np.uint8); img[0, 0] = (255, 0, 110)
    >>> colour_shares(img)
    {(0, 0, 0): 0.75, (255, 0, 110): 0.25}
    """
    flat = rgb.reshape(-1, 3).astype(np.uint32)
    packed = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return {
        (int(v >> 16), int((v >> 8) & 255), int(v & 255)): float(c) / len(packed)
        for v, c in zip(values[order], counts[order], strict=True)
    }


def near(rgb: np.ndarray, colour: tuple[int, int, int] | list[int], *, tol: int = 16) -> int:
    """Number of pixels whose every channel is within ``tol`` of ``colour`` (RGB, alpha ignored).

    The tolerance absorbs antialiased edges and a little alpha blending.

    Examples
    --------
    >>> img = np.array([[[250, 5, 100], [0, 0, 0]]], dtype=np.uint8)
    >>> near(img, (255, 0, 110), tol=10), near(img, (255, 0, 110), tol=5)
    (1, 0)
    """
    diff = np.abs(rgb.astype(np.int16) - np.asarray(colour[:3], dtype=np.int16))
    return int((diff.max(axis=-1) <= tol).sum())


def page_xy(view: Any, box: dict[str, float], lon: float, lat: float) -> tuple[float, float]:
    """Page pixel of a lon/lat in a deck's initial view (Web Mercator, 512-px world).

    ``view``: the deck's view state (``longitude``, ``latitude``, ``zoom``); ``box``: the
    map canvas's bounding box on the page.

    >>> from types import SimpleNamespace
    >>> page_xy(SimpleNamespace(longitude=0, latitude=0, zoom=0),
    ...         {"x": 0, "y": 0, "width": 512, "height": 512}, 90, 0)
    (384.0, 256.0)
    """
    scale = 512 * 2**view.zoom

    def merc(phi: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(phi) / 2))

    x = box["x"] + box["width"] / 2 + (lon - view.longitude) / 360 * scale
    y = box["y"] + box["height"] / 2 + (merc(view.latitude) - merc(lat)) / (2 * math.pi) * scale
    return x, y

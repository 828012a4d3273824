"""The map page in a real browser: deck.gl draws the layers, and nothing leaves the machine.

``streamlit run app.py`` is started on a free port and opened in Debian's Chromium, driven by
Playwright for Python. The test waits for the map canvas, screenshots the page, crops the map
and checks that it shows the layers (several colours, the gap colour, partner colours), and
that the page requested no URL outside localhost (the offline promise: no basemap tiles,
no fonts, no telemetry).

``.ci/run`` installs Chromium with apt-get; the test skips, saying why, only where no browser
could be installed or the ``playwright`` package is missing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from browser_util import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Server,
    colour_shares,
    is_local,
    near,
    streamlit_server,
    tail,
)
from PIL import Image

from geo import access
from geo.inputs.scenario import load_scenario
from layers.style import GAP, PARTNER_PALETTE, partner_colors
from ui.signin import DEMO_HOST_REFUSED

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (pip install playwright)"
)

ROOT = Path(__file__).resolve().parents[1]
MAP = '[data-testid="stDeckGlJsonChart"] canvas#deckgl-overlay'
VIEWPORT = {"width": 1600, "height": 1000}

#: Waits (ms). On a 2-core runner the metrics show after 7-12 s and the canvas after 10-35 s
#: (the first load computes the sample analysis and the deck).
PAGE_TIMEOUT_MS = 120_000
#: From the canvas appearing to the first finished frame, software WebGL takes 12-25 s here
#: (the page mostly waits on the GPU process setting up the layers' shaders; about the same
#: without the detections); later screenshots take 0.3 s. A map that takes minutes is drawing
#: something absurd (e.g. pixel sizes read as map units).
RENDER_TIMEOUT_S = 60.0

#: "Not blank": at least this many colours, each on at least this share of the map.
MIN_COLOURS, MIN_SHARE = 5, 0.001


@pytest.fixture(scope="module")
def sample_colours() -> dict[str, tuple[int, int, int]]:
    sc = load_scenario(ROOT / "sample_data")
    partners = set(sc.sensors["partner"].astype(str))
    if sc.sectors is not None:
        partners |= set(sc.sectors["partner"].astype(str))
    return partner_colors(partners)


def _ms_left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 1.0) * 1000


def _map_crop(page: sync_api.Page, shot: Path, *, deadline: float) -> np.ndarray:
    """Screenshot the viewport to ``shot`` and return the deck canvas's box of it (RGB)."""
    page.screenshot(path=shot, timeout=_ms_left(deadline))
    box = page.locator(MAP).bounding_box()
    assert box is not None, "the map canvas has no layout box"
    img = Image.open(shot).convert("RGB")
    left, top = round(box["x"]), round(box["y"])
    right, bottom = round(box["x"] + box["width"]), round(box["y"] + box["height"])
    where = f"map canvas {box} is not inside the {img.width}x{img.height} screenshot"
    assert 0 <= left < right <= img.width, where
    assert 0 <= top < bottom <= img.height, where
    return np.asarray(img.crop((left, top, right, bottom)))


def _wait_for_drawn_map(
    page: sync_api.Page, shot: Path, *, deadline: float
) -> tuple[np.ndarray, int]:
    """Screenshot until the map shows several colours and two shots in a row agree."""
    previous, shots = None, 0
    while True:
        crop = _map_crop(page, shot, deadline=deadline)
        shots += 1
        varied = sum(s >= MIN_SHARE for s in colour_shares(crop).values()) >= MIN_COLOURS
        if (
            varied and previous is not None and np.array_equal(crop, previous)
        ) or time.monotonic() > deadline:
            return crop, shots
        previous = crop
        page.wait_for_timeout(500)


def test_map_draws_layers_offline(
    server: Server,
    browser: sync_api.Browser,
    sample_colours: dict[str, tuple[int, int, int]],
    tmp_path: Path,
) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("websocket", lambda ws: requests.append(ws.url))
    console: list[str] = []

    def note(msg: sync_api.ConsoleMessage) -> None:
        if msg.type in ("error", "warning"):
            console.append(f"{msg.type}: {msg.text[:300]}")

    page.on("console", note)
    try:
        t0 = time.monotonic()
        page.goto(server.url, timeout=PAGE_TIMEOUT_MS)
        # The headline metrics appear once the analysis has run.
        page.get_by_test_id("stMetric").first.wait_for(timeout=PAGE_TIMEOUT_MS)
        t_page = time.monotonic() - t0
        canvas = page.locator(MAP)
        canvas.wait_for(timeout=PAGE_TIMEOUT_MS)
        t_canvas = time.monotonic() - t0
        shot = tmp_path / "map_page.png"
        deadline = time.monotonic() + RENDER_TIMEOUT_S
        try:
            canvas.scroll_into_view_if_needed(timeout=_ms_left(deadline))
            crop, shots = _wait_for_drawn_map(page, shot, deadline=deadline)
        except sync_api.TimeoutError as exc:
            pytest.fail(
                f"the map did not finish drawing within {RENDER_TIMEOUT_S:g} s of its canvas appearing: "
                "the page stopped responding. Software WebGL stalls on layers that cover the canvas "
                "many times over, e.g. pixel sizes read as map units (pydeck turns an unquoted "
                'string such as radius_units="pixels" into an accessor; quote it: "\'pixels\'"). '
                f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            )
        t_drawn = time.monotonic() - t0
        Image.fromarray(crop).save(tmp_path / "map.png")
        exceptions = page.get_by_test_id("stException").count()
        print(
            f"\nmap page: metrics after {t_page:.1f} s, canvas after {t_canvas:.1f} s, drawn after "
            f"{t_drawn:.1f} s ({shots} screenshots); screenshot {shot}"
        )
    finally:
        page.close()
    notes = "\n".join(console[:10])
    assert not exceptions, (
        f"the page shows {exceptions} exception(s); server log:\n{tail(server.log)}"
    )

    shares = colour_shares(crop)
    common = {c: round(s * 100, 2) for c, s in shares.items() if s >= MIN_SHARE}
    assert len(common) >= MIN_COLOURS, (
        f"the map looks blank: {len(common)} colours on >= {MIN_SHARE:.1%} of it ({common}); "
        f"screenshot {shot}; console:\n{notes}"
    )
    assert max(shares.values()) < 0.97, (
        f"one colour fills the map: {next(iter(common))}; screenshot {shot}"
    )

    gap_px = near(crop, GAP)
    assert gap_px >= MIN_SHARE * crop.shape[0] * crop.shape[1], (
        f"the gap colour {GAP[:3]} is (nearly) absent from the map: {gap_px} px; screenshot {shot}"
    )
    found = {
        p: n
        for p, rgb in sample_colours.items()
        if rgb != PARTNER_PALETTE[-1] and (n := near(crop, rgb)) >= 50
    }
    assert found, f"no partner colour of {sample_colours} on the map; screenshot {shot}"

    outside = sorted({u for u in requests if not is_local(u)})
    assert not outside, f"the page requested {len(outside)} URL(s) off this machine: {outside[:10]}"
    assert any(u.startswith(server.url) for u in requests), "no request to the app was recorded"
    assert "Traceback" not in server.log.read_text(errors="replace"), (
        f"the server logged an exception:\n{tail(server.log)}"
    )


@pytest.mark.parametrize(
    ("path", "heading"), [("upload", "Upload detections"), ("export", "Export a briefing")]
)
def test_a_new_servers_first_visit_to_a_page_url_goes_through_the_app(
    browser: sync_api.Browser, tmp_path: Path, path: str, heading: str
) -> None:
    # A bookmarked page URL is often the first thing a restarted server sees. With a
    # `pages/` folder beside app.py, Streamlit ran that page's script directly (without
    # app.py, its sign-in and navigation) until some session had run app.py: the page
    # failed with a traceback.
    with streamlit_server(ROOT / "app.py", log=tmp_path / "streamlit.log") as url:
        page = browser.new_page(viewport=VIEWPORT)
        try:
            page.goto(f"{url}/{path}", timeout=PAGE_TIMEOUT_MS)
            page.get_by_text(heading).first.wait_for(timeout=PAGE_TIMEOUT_MS)
            assert page.get_by_test_id("stException").count() == 0
            assert (
                page.get_by_text("sign-in is off").count() == 1
            )  # the demo banner  # app.py's banner
        finally:
            page.close()
        assert "Traceback" not in (tmp_path / "streamlit.log").read_text()


#: A name of someone else's that points at this machine, as a DNS-rebinding page makes its own.
REBIND_HOST = "rebind.example"


def test_demo_mode_answers_only_at_localhost(server: Server, browser: sync_api.Browser) -> None:
    # Chromium resolves REBIND_HOST to 127.0.0.1, as a rebinding DNS server would: the page and
    # its websocket reach the demo server with "Host: rebind.example:PORT".
    rebinding = browser.browser_type.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {REBIND_HOST} 127.0.0.1"],
    )
    port = server.url.rsplit(":", 1)[1]
    try:
        page = rebinding.new_page(viewport=VIEWPORT)
        page.goto(f"http://{REBIND_HOST}:{port}", timeout=PAGE_TIMEOUT_MS)
        page.get_by_text(DEMO_HOST_REFUSED).wait_for(timeout=PAGE_TIMEOUT_MS)
        page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=PAGE_TIMEOUT_MS)
        shown = page.get_by_test_id("stMain").inner_text()
        assert shown.strip() == DEMO_HOST_REFUSED
        for absent in ("stMetric", "stDeckGlJsonChart", "stSidebarNav", "stException"):
            assert page.get_by_test_id(absent).count() == 0, absent
        assert page.get_by_text("sign-in is off").count() == 0  # no demo banner
        page.close()
        for url in (server.url, server.url.replace("localhost", "127.0.0.1")):
            page = rebinding.new_page(viewport=VIEWPORT)
            page.goto(url, timeout=PAGE_TIMEOUT_MS)
            page.get_by_test_id("stMetric").first.wait_for(timeout=PAGE_TIMEOUT_MS)
            assert page.get_by_text("sign-in is off").count() == 1  # the demo banner
            assert page.get_by_text(DEMO_HOST_REFUSED).count() == 0
            page.close()
    finally:
        rebinding.close()
    assert "Traceback" not in server.log.read_text(errors="replace")


def test_after_sign_out_the_navigation_shows_only_the_sign_in_page(
    browser: sync_api.Browser, tmp_path: Path
) -> None:
    # The server reads the users file the test points LIMES_USERS_FILE at (conftest).
    password = "correct horse battery staple"
    access.add_user(
        os.environ["LIMES_USERS_FILE"],
        "alice",
        partner="LTU",
        roles="analyst,commander,briefer",
        password=password,
    )
    log = tmp_path / "streamlit.log"
    with streamlit_server(ROOT / "app.py", log=log) as url:
        page = browser.new_page(viewport=VIEWPORT)
        nav = page.get_by_test_id("stSidebarNav")

        def settled() -> None:
            page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=PAGE_TIMEOUT_MS)
            assert page.get_by_text("Page not found").count() == 0
            assert page.get_by_test_id("stException").count() == 0

        try:
            # A bookmarked page: the sign-in page answers there, then the page itself.
            page.goto(f"{url}/export", timeout=PAGE_TIMEOUT_MS)
            page.get_by_label("User name").wait_for(timeout=PAGE_TIMEOUT_MS)
            settled()
            assert nav.count() == 0
            page.get_by_label("User name").fill("alice")
            page.get_by_label("Password", exact=True).fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_text("Export a briefing").wait_for(timeout=PAGE_TIMEOUT_MS)
            settled()
            assert nav.get_by_role("link").count() == 4  # Map, Upload, Plan, Export
            nav.get_by_role("link", name="Upload").click()
            page.get_by_text("Upload detections").first.wait_for(timeout=PAGE_TIMEOUT_MS)
            # Signing out on the Upload page leaves the sign-in page as the only page.
            page.get_by_role("button", name="Sign out").click()
            page.get_by_text("You signed out.").wait_for(timeout=PAGE_TIMEOUT_MS)
            settled()
            assert page.get_by_role("heading", name="Sign in to Limes").count() == 1
            assert nav.count() == 0
            for name in ("Map", "Upload", "Plan", "Export"):
                assert page.get_by_role("link", name=name).count() == 0, name
            assert page.get_by_text("Upload detections").count() == 0
        finally:
            page.close()
    assert "Traceback" not in log.read_text(errors="replace")

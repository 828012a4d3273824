"""From a click on a layer toggle or a partner switch to the redrawn map, in headless Chromium.

Starts the app on the sample (``streamlit run app.py``), opens it in Debian's Chromium with
software WebGL (as the browser tests do), waits for a steady map, then times, 5 times each:

- ``toggle``: click the "Sensor footprints" checkbox (off, then on again, alternating);
- ``partner``: switch the partner view (joint -> POL -> joint ...).

"Redrawn" is the first screenshot of the map canvas that differs from the one before the
click and equals the next one (the frame has settled). Prints each run, the median, and
the server's share (time until the new map JSON arrived over the websocket).

Run: ``.venv/bin/python bench/bench_map_browser.py [--runs 5]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from browser_util import CHROMIUM, CHROMIUM_ARGS, streamlit_server  # noqa: E402
from PIL import Image  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

CANVAS = '[data-testid="stDeckGlJsonChart"] canvas#deckgl-overlay'


def _crop(page, path: Path) -> np.ndarray:
    page.locator(CANVAS).screenshot(path=path)
    return np.asarray(Image.open(path).convert("RGB"))


def _settle(
    page, before: np.ndarray, path: Path, t0: float, timeout_s: float = 60.0
) -> float | None:
    """Seconds from t0 until the canvas differs from ``before`` and then holds still."""
    previous = None
    changed_at = t0
    while time.perf_counter() - t0 < timeout_s:
        img = _crop(page, path)
        if (
            previous is not None
            and np.array_equal(img, previous)
            and not np.array_equal(img, before)
        ):
            return changed_at - t0
        if previous is None or not np.array_equal(img, previous):
            changed_at = time.perf_counter()
        previous = img
        page.wait_for_timeout(100)
    return None  # the frame never changed (or never settled)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    out = Path("/tmp/limes_bench_browser")
    out.mkdir(exist_ok=True)
    with (
        streamlit_server(ROOT / "app.py", log=out / "streamlit.log") as url,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
        )
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        received: list[tuple[float, int]] = []
        page.on(
            "websocket",
            lambda ws: ws.on(
                "framereceived", lambda f: received.append((time.perf_counter(), len(f)))
            ),
        )
        t0 = time.perf_counter()
        page.goto(url, timeout=300_000)
        page.locator(CANVAS).wait_for(timeout=300_000)
        first = _settle(
            page, np.zeros((1, 1, 3), dtype=np.uint8), out / "shot.png", t0, timeout_s=300
        ) or float("nan")
        print(f"first map: {first:.1f} s after opening the page")
        results: dict[str, list[float]] = {"toggle": [], "partner": []}
        server: dict[str, list[float]] = {"toggle": [], "partner": []}
        for i in range(args.runs):
            for what in ("toggle", "partner"):
                page.wait_for_timeout(2000)  # let the last rerun finish
                before = _crop(page, out / "before.png")
                n0 = len(received)
                t0 = time.perf_counter()
                if what == "toggle":
                    page.get_by_test_id("stCheckbox").filter(has_text="Sensor footprints").locator(
                        "label"
                    ).click()
                else:
                    box = (
                        page.get_by_test_id("stSelectbox")
                        .filter(has_text="Partner view")
                        .locator("input")
                    )
                    box.click()
                    page.keyboard.type("POL" if i % 2 == 0 else "Joint")
                    page.keyboard.press("Enter")
                dt = _settle(page, before, out / "shot.png", t0)
                if dt is None:
                    print(f"run {i + 1} {what}: the map did not change within 60 s (not counted)")
                    continue
                big = [t for t, n in received[n0:] if n > 100_000]
                results[what].append(dt)
                if big:
                    server[what].append(big[0] - t0)
                print(
                    f"run {i + 1} {what}: redrawn after {dt:.2f} s"
                    + (
                        f" (map JSON arrived after {big[0] - t0:.2f} s, {max(n for _, n in received[n0:]) / 1e6:.2f} MB)"
                        if big
                        else ""
                    )
                )
        for what, values in results.items():
            srv = (
                f"; map JSON arrived after median {statistics.median(server[what]):.2f} s"
                if server[what]
                else ""
            )
            print(
                f"{what}: median {statistics.median(values):.2f} s (runs {min(values):.2f}–{max(values):.2f}){srv}"
            )
        browser.close()


if __name__ == "__main__":
    main()

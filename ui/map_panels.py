"""Streamlit glue of the Map page: time window, playback, headline, and what was picked.

The page (``app_pages/map.py``) reads widgets and lays these out; everything computed here
comes from ``geo`` (``geo.coverage.views``) and ``layers``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

import pandas as pd
import streamlit as st

from geo.core.times import in_zone, zone_text
from geo.coverage.views import (
    Headline,
    HourCounts,
    TimeBounds,
    detections_in_gap,
    detections_in_polygon,
    detections_in_sector,
    gaps_of_sector,
    headline,
    nearest_sensors,
)
from ui.timeline import Now

__all__ = [
    "STEPS",
    "advance_playback",
    "applied_moment",
    "applied_window",
    "details",
    "metrics",
    "picked",
    "time_window",
]

#: Steps of playback.
STEPS = {"hour": pd.Timedelta(hours=1), "day": pd.Timedelta(days=1)}


def _naive(ts: pd.Timestamp) -> datetime:
    return ts.to_pydatetime().replace(tzinfo=None)


def _local(naive_utc: datetime, tz: str) -> datetime:
    """A naive UTC time as the naive clock time of ``tz`` (what the slider shows)."""
    return _naive(in_zone(naive_utc, tz))


def _utc(local: datetime, tz: str) -> datetime:
    """A naive clock time of ``tz`` back to naive UTC (a repeated hour: its first instance)."""
    ts = pd.Timestamp(local).tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
    return _naive(ts.tz_convert("UTC"))


def time_window(side: Any, bounds: TimeBounds, times: HourCounts, tz: str = "UTC") -> None:
    """The sidebar's time window: slider applied by a form, widen/narrow, play/pause.

    The applied window lives in ``st.session_state.win`` (naive UTC datetimes); the slider
    (key ``window``) shows it in the operation's zone ``tz`` and only proposes one until
    **Apply window**. ``times``: the detections the viewer may see, counted per hour, to count
    those outside the slider's range.
    """
    wide = bool(st.session_state.get("window_all", False))
    lo, hi = bounds.span(wide=wide)
    lo_n, hi_n = _naive(lo), _naive(hi)
    if st.session_state.get("win") is None or st.session_state.get("win_bounds") != (lo_n, hi_n):
        st.session_state.win = (
            lo_n,
            hi_n,
        )  # new bounds (first run, widened, an upload): all of them
        st.session_state.win_bounds = (lo_n, hi_n)
        st.session_state.at = None
    win = st.session_state.win
    # The slider shows the applied window when that changed elsewhere (playback, widening);
    # otherwise it keeps what the user is proposing.
    if st.session_state.get("_win_shown") != (win, tz):
        st.session_state["window"] = tuple(_local(w, tz) for w in win)
        st.session_state._win_shown = (win, tz)
    side.subheader("Detections")
    with side.form("window_form", border=False):
        proposed = st.slider(
            f"Time window ({tz})",
            min_value=_local(lo_n, tz),
            max_value=_local(hi_n, tz),
            step=bounds.step(wide=wide).to_pytimedelta(),
            format="YYYY-MM-DD HH:mm",
            key="window",
        )
        applied = st.form_submit_button("Apply window", width="stretch")
    if applied and proposed[0] < proposed[1]:
        st.session_state.win = tuple(_utc(p, tz) for p in proposed)
        st.session_state._win_shown = (st.session_state.win, tz)
        st.session_state.playing = False
        st.session_state.at = None  # a window of one's own: no longer a moment of playback
    outside = times.outside(lo, hi)
    if outside and not wide:
        day = partial(zone_text, tz=tz, fmt="%Y-%m-%d")
        side.caption(
            f"{outside:,} detection(s) fall outside {day(lo)}–{day(hi)}, where the bulk is."
        )
        full_lo, full_hi = bounds.full
        if side.button(
            f"Widen to all {len(times):,} ({day(full_lo)} – {day(full_hi)})",
            key="window_widen",
        ):
            st.session_state.window_all = True
            st.rerun()
    elif (
        wide
        and bounds.bulk != bounds.full
        and side.button("Back to the bulk of the detections", key="window_narrow")
    ):
        st.session_state.window_all = False
        st.rerun()
    play_cols = side.columns([1, 1])
    play_step = play_cols[0].selectbox(
        "Play step", list(STEPS), key="play_step", label_visibility="collapsed"
    )
    playing = bool(st.session_state.get("playing"))
    if play_cols[1].button(
        "⏸ Pause" if playing else "▶ Play",
        key="play",
        width="stretch",
        help="Move the window forward one step a second, to watch detections appear",
    ):
        st.session_state.playing = not playing
        if st.session_state.playing and st.session_state.win == (lo_n, hi_n):
            # the whole span cannot move: start with one step at the beginning
            st.session_state.win = (lo_n, _naive(lo + STEPS[play_step]))
        if st.session_state.playing:
            st.session_state.at = st.session_state.win[1]  # the moment: the window's end
        st.rerun()
    if not playing and st.session_state.get("at") is not None:
        _paused(side, (lo_n, hi_n), tz)


def _paused(side: Any, whole: tuple[datetime, datetime], tz: str) -> None:
    """Paused at a moment: say which, and offer to go back to the ``whole`` window."""
    at = applied_moment()
    if at is not None:
        side.caption(f"Paused at {zone_text(at, tz)} {tz}")
    if side.button("Leave the moment: the whole window", key="leave_moment", width="stretch"):
        st.session_state.at = None
        st.session_state.win = whole
        st.rerun()


def advance_playback() -> None:
    """One playback step: the window moves forward by the play step; at the end it stops."""
    w0, w1 = st.session_state.win
    step = STEPS[st.session_state.get("play_step", "hour")].to_pytimedelta()
    if w1 + step > st.session_state.win_bounds[1]:
        st.session_state.playing = False
        st.rerun(scope="app")
    st.session_state.win = (w0 + step, w1 + step)
    st.session_state.at = w1 + step  # the moment shown: the end of the playback window


def applied_window() -> tuple[datetime | None, datetime | None]:
    """The applied window as UTC datetimes, ``(None, None)`` when there are no detections."""
    win = st.session_state.get("win")
    if win is None:
        return None, None
    return win[0].replace(tzinfo=UTC), win[1].replace(tzinfo=UTC)


def applied_moment() -> datetime | None:
    """The moment playback shows (UTC), ``None`` outside playback.

    Playing, or paused after playing: the end of the playback window. An applied window
    or "Leave the moment" ends it.
    """
    at = st.session_state.get("at")
    return None if at is None else at.replace(tzinfo=UTC)


def metrics(head: Headline, partner: str | None, now: Now | None = None) -> None:
    """The six headline numbers; in a partner view the border-wide one says it is joint.

    At a moment of playback (``now``) the row leads with the moment's own figures, under
    one line naming the moment (:func:`_moment_row`).
    """
    if now is not None:
        _moment_row(head, now)
        return
    c = st.columns(6)
    _coverage(c[0], head)
    c[1].metric("Gaps", f"{head.gap_km:,.1f} km", help=f"{len(head.gaps)} blind stretches listed")
    _longest(c[2], head)
    if partner is None:
        c[3].metric(
            "Partner overlap",
            f"{head.overlap_km:,.1f} km",
            help="Border watched by sensors of two or more partners",
        )
        c[4].metric(
            "Unassigned",
            f"{head.unassigned_km:,.1f} km",
            delta=f"{head.contested_km:,.1f} km contested",
            delta_color="off",
            delta_arrow="off",
            help="Border in no sector; below it, border in sectors of two or more partners",
        )
    else:
        c[3].metric(
            "Partner overlap",
            f"{head.overlap_km:,.1f} km",
            help=f"Border in {partner}'s sectors watched by sensors of two or more partners",
        )
        c[4].metric(
            "Unassigned (joint)",
            f"{head.unassigned_km:,.1f} km",
            delta=f"{head.contested_km:,.1f} km contested with {partner}",
            delta_color="off",
            delta_arrow="off",
            help="Border in no sector belongs to no partner: this is the joint figure. "
            f"Below it: border in {partner}'s sectors that another partner's sectors also hold",
        )
    _in_gaps(c[5], head)


def _coverage(col: Any, head: Headline, note: str = "") -> None:
    """Coverage; ``note``: the label's suffix at a moment (the laydown, schedules ignored)."""
    col.metric(
        f"Coverage{note}",
        f"{head.coverage_pct:.1f} %",
        help=f"{head.covered_km:,.1f} of {head.length_km:,.1f} km of {head.scope} watched"
        + (
            ", every sensor in service watching all the time (schedules, outages and "
            "drones left out)"
            if note
            else ""
        ),
    )


def _longest(col: Any, head: Headline) -> None:
    lg = head.longest
    col.metric(
        "Longest gap",
        f"{lg['length_km']:,.1f} km" if lg else "none",
        help=f"G1: segment {lg['segment']}, km {lg['start_km']:,.1f}–{lg['end_km']:,.1f}"
        if lg
        else None,
    )


def _in_gaps(col: Any, head: Headline) -> None:
    col.metric(
        "Detections in gaps",
        f"{head.detections_in_gaps:,}",
        help=f"of {head.detections:,} detections in the {head.scope} in the time window",
    )


def _moment_row(head: Headline, now: Now) -> None:
    """The moment's line and the metrics row of a moment: its own figures first.

    One caption line (the moment, which figures are its own, the sensors off in a popover)
    and six metrics: *Watched now* and *Unwatched then* are the moment's; coverage, gaps and
    detections in gaps stay the window's with every sensor on. Partner overlap and
    unassigned border come back when playback is left.
    """
    m = now.moment
    how = "line of sight over terrain" if now.terrain else "flat footprints"
    with st.container(key="moment"):
        line = st.container(horizontal=True, vertical_alignment="center", gap="small")
        line.markdown(
            f"**Moment {zone_text(m.when, now.tz)} {now.tz}** "
            f"({'playing' if now.playing else 'paused'}) · *now*, *then*: this moment · "
            "the rest: the window, all sensors on",
            width="content",
        )
        off = now.sensors_off
        with line.popover(f"{len(off)} sensors off", type="tertiary", key="moment_off"):
            st.caption(
                "Off at this moment on their schedule, an outage or their status: "
                + (", ".join(off) or "none")
            )
        c = st.columns(6)
        tracks = now.tracks_on
        c[0].metric(
            "Watched now",
            f"{m.watched_pct:.1f} %",
            delta=f"{int(m.active.sum())}/{m.active.size} on",
            delta_color="off",
            delta_arrow="off",
            help=f"{m.watched_km:,.1f} of {m.length_km:,.1f} km of the whole border watched at "
            f"this moment ({how}): {int(m.active.sum())} of {m.active.size} sensors on their "
            "schedules and outages, and the drones and patrols where they are "
            f"({', '.join(tracks) if tracks else 'none watching'}). Drones and patrols can "
            "lift it above *Coverage, all on*, which counts the static sensors only",
        )
        c[1].metric(
            "Unwatched then",
            "–" if now.unwatched is None else f"{now.unwatched:,}",
            delta=None if now.detections is None else f"of {now.detections:,} detections",
            delta_color="off",
            delta_arrow="off",
            help=f"Detections of the window (the play step up to the moment) in the "
            f"{head.scope}'s corridor that nothing watched at their own time: no sensor on its "
            f"schedule, no drone or patrol ({how})",
        )
        _coverage(c[2], head, ", all on")
        c[3].metric(
            "Gaps, all on",
            f"{head.gap_km:,.1f} km",
            help=f"{len(head.gaps)} blind stretches listed, every sensor watching",
        )
        _longest(c[4], head)
        _in_gaps(c[5], head)


def picked(event: Any, gap_rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the user picked last: a map object, or a row of the gap table (whichever changed)."""
    on_map = ((event or {}).get("selection") or {}).get("objects") or {}
    table = st.session_state.get("gap_table")
    rows = list(((table or {}).get("selection") or {}).get("rows") or []) if table else []
    seen = st.session_state.get("_seen_pick", ({}, []))
    if rows != seen[1] and rows:
        pick: dict[str, Any] | None = (
            {"gaps": [gap_rows[rows[0]]]} if rows[0] < len(gap_rows) else None
        )
    elif on_map != seen[0]:
        pick = dict(on_map) or None
    else:
        pick = st.session_state.get("_pick")
    st.session_state._seen_pick = (on_map, rows)
    st.session_state._pick = pick
    return pick


def _table(frame: Any, tz: str) -> None:
    """Detections as a table, their times in the operation's zone (named in the header)."""
    table = pd.DataFrame(frame.drop(columns="geometry"))
    if "time" in table and isinstance(table["time"].dtype, pd.DatetimeTZDtype):
        table = table.rename(columns={"time": f"time ({tz})"})
        table[f"time ({tz})"] = table[f"time ({tz})"].dt.tz_convert(tz).dt.tz_localize(None)
    st.dataframe(table, hide_index=True, width="stretch", height=260)


def _gap(result: Any, gaps: list[dict[str, Any]], g: dict[str, Any], tz: str) -> None:
    rank, entry = next(
        (
            (i, x)
            for i, x in enumerate(gaps, start=1)
            if x["segment"] == g["segment"] and abs(x["start_km"] - g["start_km"]) < 1e-6
        ),
        (None, None),
    )
    st.subheader(f"Gap G{rank}" if rank else "Gap")
    if entry is None:
        st.caption("This gap is not in this view.")
        return
    st.markdown(
        f"**{entry['length_km']:,.2f} km blind** · segment {entry['segment']}, "
        f"km {entry['start_km']:,.2f}–{entry['end_km']:,.2f}  \n"
        f"Sectors: {', '.join(entry['sector_ids']) or 'none (unassigned)'} · "
        f"partners: {', '.join(entry['partners']) or '–'}"
    )
    near = nearest_sensors(result, *entry["midpoint"], n=3)
    if len(near):
        st.caption(
            "Nearest sensors: "
            + "; ".join(
                f"{r.sensor_id} ({r.partner}, {r.kind}) {r.distance_km:,.1f} km"
                for r in near.itertuples()
            )
        )
    if result.layers.get("detections") is not None:
        inside = detections_in_gap(result, entry["segment"], entry["start_km"], entry["end_km"])
        st.write(
            f"**{len(inside):,} detections** in the blind corridor along this gap "
            "in the time window."
        )
        if len(inside):
            _table(inside, tz)


def _sector(result: Any, sid: str, partner: str | None, tz: str) -> None:
    rep = result.report
    sec = next((x for x in rep["sectors"] if x["sector_id"] == sid), None)
    if sec is None:
        return
    st.subheader(f"Sector {sid} ({sec['partner']})")
    st.markdown(
        f"{sec['border_km']:,.1f} km of border, **{sec['coverage_pct']:.1f} % watched** · "
        f"{sec['detections']:,} detections in the time window"
    )
    own = gaps_of_sector(rep, sid, partner)
    if own:
        st.caption(
            "Its gaps: "
            + ", ".join(f"G{g['rank']} {g['length_km']:,.1f} km" for g in own[:8])
            + (f" and {len(own) - 8} more" if len(own) > 8 else "")
        )
    if result.layers.get("detections") is not None and sec["detections"]:
        _table(detections_in_sector(result, sid), tz)


def _sensor(result: Any, sid: str) -> None:
    sensors = result.layers["sensors"]
    row = sensors[sensors["sensor_id"].astype(str) == str(sid)]
    if not len(row):
        return
    r = row.iloc[0]
    st.subheader(f"Sensor {sid}")
    attrs = {
        k: r[k]
        for k in (
            "kind",
            "partner",
            "status",
            "range_m",
            "min_range_m",
            "azimuth_deg",
            "fov_deg",
            "height_m",
            "covered_km",
            "sole_km",
        )
        if k in row and pd.notna(r[k])
    }
    st.dataframe(
        pd.DataFrame(
            {
                "attribute": list(attrs),
                "value": [f"{v:,.2f}" if isinstance(v, float) else str(v) for v in attrs.values()],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    if "sole_km" in attrs:
        st.caption(
            f"Only this sensor watches {float(attrs['sole_km']):,.2f} km of border: "
            "switching it off opens that much gap."
        )


def details(
    result: Any, head: Headline, pick: dict[str, Any] | None, partner: str | None, tz: str = "UTC"
) -> None:
    """The details of what was picked: a gap, a sector, a sensor or a detection hexagon.

    Detection times are shown in ``tz``, the operation's zone.
    """
    if not pick:
        st.caption(
            "Click a gap, a sector, a sensor or a detection hexagon on the map, "
            "or a row of the gap table, to see its details here."
        )
    elif pick.get("gaps"):
        _gap(result, head.gaps, pick["gaps"][0], tz)
    elif pick.get("gaps_others"):
        _gap(result, headline(result.report).gaps, pick["gaps_others"][0], tz)
        st.caption("A gap in other partners' sectors (its rank is in the joint gap table).")
    elif pick.get("sectors"):
        _sector(result, pick["sectors"][0]["sector_id"], partner, tz)
    elif pick.get("sensors"):
        _sensor(result, pick["sensors"][0]["sensor_id"])
    elif pick.get("detections"):
        inside = detections_in_polygon(result, pick["detections"][0].get("polygon") or [])
        st.subheader(f"{len(inside):,} detections here")
        if inside is not None and len(inside):
            st.caption(f"{int((inside['coverage_status'] == 'gap').sum()):,} of them in gaps")
            _table(inside, tz)

// Keep deck.gl's tooltips inside the visible map (Limes, ui/deck_tooltip.py).
//
// deck.gl puts its tooltip (div.deck-tooltip) with its top-left corner at the pointer,
// `transform: translate(Xpx, Ypx)`, and never flips it (visgl/deck.gl#8240): near the
// right or bottom edge of the map it is cut. This watches every deck tooltip and, when the
// box would cross the edge of the map or of the window, moves it to the left of / above the
// pointer with the CSS `translate` property, which adds to deck.gl's `transform` and which
// deck.gl never writes. Idempotent: loaded once per browser tab.
(() => {
  if (window.__limesDeckTooltip) return;
  window.__limesDeckTooltip = true;

  const POINTER = /translate\(\s*(-?[\d.e+-]+)px,\s*(-?[\d.e+-]+)px\s*\)/;

  // The offset (px) that keeps a box of `size` starting at `at` within [lo, hi]: none when it
  // fits; else on the other side of the pointer; else against the near edge.
  const shift = (at, size, lo, hi) => {
    if (at + size <= hi) return 0;
    if (at - size >= lo) return -size;
    return Math.max(lo, hi - size) - at;
  };

  const place = (tip) => {
    const m = POINTER.exec(tip.style.transform);
    const frame = tip.parentElement;
    let offset = "";
    if (tip.style.display !== "none" && m && frame) {
      const r = frame.getBoundingClientRect();
      const x = r.left + Number(m[1]);
      const y = r.top + Number(m[2]);
      const dx = shift(x, tip.offsetWidth, Math.max(r.left, 0), Math.min(r.right, innerWidth));
      const dy = shift(y, tip.offsetHeight, Math.max(r.top, 0), Math.min(r.bottom, innerHeight));
      if (dx || dy) offset = `${Math.round(dx)}px ${Math.round(dy)}px`;
    }
    if (tip.style.translate !== offset) tip.style.translate = offset;
  };

  const watched = new WeakSet();
  const watch = (tip) => {
    if (watched.has(tip)) return;
    watched.add(tip);
    new MutationObserver(() => place(tip)).observe(tip, {
      attributes: true,
      attributeFilter: ["style"],
      childList: true,
      characterData: true,
      subtree: true,
    });
    place(tip);
  };

  const scan = (node) => {
    if (!(node instanceof Element)) return;
    if (node.classList.contains("deck-tooltip")) watch(node);
    node.querySelectorAll(".deck-tooltip").forEach(watch);
  };

  new MutationObserver((records) => {
    for (const rec of records) rec.addedNodes.forEach(scan);
  }).observe(document.body, { childList: true, subtree: true });
  scan(document.body);
})();

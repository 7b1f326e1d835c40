"""Does the report's listening section play in a real browser?

    python bench/check_report_audio.py results/report.html [--chromium /usr/bin/chromium] [--json out.json]

Headless Chromium opens the Snakemake report, clicks "4. Listen" and each of its pages (one per
piece), and for every <audio> element checks: the browser's duration is within 10 % of its MIDI's length, the decoded
clip is not silent (Web Audio RMS), and playback advances. Exit 1 if any clip fails.

A developer's check, not a test (CI has no browser): needs `pip install playwright` (the Python
package drives the system browser; no browser download) and Debian's `chromium`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PROBE = """async (el) => {
  if (!(el.duration > 0)) await new Promise((ok, fail) => {
    el.addEventListener('loadedmetadata', ok, {once: true});
    el.addEventListener('error', () => fail(new Error('audio error ' + (el.error && el.error.code))), {once: true});
    el.load();
  });
  const buf = await (await fetch(el.src)).arrayBuffer();
  const decoded = await new OfflineAudioContext(2, 48000, 48000).decodeAudioData(buf);
  let sum = 0, n = 0, peak = 0;
  for (let c = 0; c < decoded.numberOfChannels; c++) {
    const d = decoded.getChannelData(c);
    for (let i = 0; i < d.length; i++) { sum += d[i] * d[i]; peak = Math.max(peak, Math.abs(d[i])); }
    n += d.length;
  }
  el.muted = true;
  await el.play();
  await new Promise(ok => setTimeout(ok, 700));
  const played = el.currentTime;
  el.pause();
  return {kind: el.dataset.kind, midi_seconds: parseFloat(el.dataset.midiSeconds), duration: el.duration,
          decoded_seconds: decoded.duration, sample_rate: decoded.sampleRate, rms: Math.sqrt(sum / n), peak, played};
}"""


def check(report: Path, chromium: str) -> list[dict]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page()
        page.goto(report.resolve().as_uri())
        page.get_by_text("4. Listen", exact=True).click()
        clips = []
        for k in range(page.locator("a[iconname=eye]").count()):  # one page per piece
            page.locator("a[iconname=eye]").nth(k).click()
            frame = page.frame_locator("iframe").first
            try:
                frame.locator("audio").first.wait_for(state="attached", timeout=30_000)
            except Exception:  # e.g. Chromium blocks a data-URL page over 2 MiB (about:blank#blocked)
                src_len = page.evaluate("() => document.querySelector('iframe').src.length")
                clips.append({"label": f"page {k}: no audio element (iframe src {src_len} chars)", "kind": "",
                              "midi_seconds": 0, "duration": 0, "rms": 0, "played": 0, "ratio": 0, "ok": False})
                continue
            for i in range(frame.locator("audio").count()):
                audio = frame.locator("audio").nth(i)
                row = audio.evaluate(PROBE)
                piece = audio.evaluate("el => el.closest('.row').previousElementSibling.innerText")
                row["label"] = piece + ": " + audio.evaluate("el => el.closest('.clip').querySelector('b').innerText")
                row["ratio"] = row["duration"] / row["midi_seconds"]
                row["ok"] = abs(row["ratio"] - 1) <= 0.10 and row["rms"] > 1e-3 and row["played"] > 0.2
                clips.append(row)
        page.screenshot(path=str(report.with_suffix(".listen.png")), full_page=True)
        browser.close()
    return clips


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--json", type=Path, help="write the measurements here")
    args = parser.parse_args()
    if not args.report.is_file():
        sys.exit(f"check_report_audio: {args.report}: no such file (run `snakemake --report {args.report}` first)")
    clips = check(args.report, args.chromium)
    print(f"{'clip':52} {'midi s':>7} {'audio s':>8} {'ratio':>6} {'rms dBFS':>9} {'played s':>9}  ok")
    for c in clips:
        rms_db = 20 * __import__("math").log10(max(c["rms"], 1e-9))
        print(f"{c['label'][:52]:52} {c['midi_seconds']:7.2f} {c['duration']:8.2f} {c['ratio']:6.3f} "
              f"{rms_db:9.1f} {c['played']:9.2f}  {'yes' if c['ok'] else 'NO'}")
    if args.json:
        args.json.write_text(json.dumps(clips, indent=1) + "\n")
    failed = [c for c in clips if not c["ok"]]
    print(f"{len(clips)} clips, {len(failed)} failed; screenshot: {args.report.with_suffix('.listen.png')}")
    return 1 if failed or not clips else 0


if __name__ == "__main__":
    sys.exit(main())

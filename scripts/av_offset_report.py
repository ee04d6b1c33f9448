"""How well preprocess's audio/video offset measurement finds a known shift, on scenes.

    python scripts/av_offset_report.py SCENE [SCENE ...] [--window 200] [--step 50]

For each scene (made by ``emotag preprocess``), every window of ``--window`` frames (every
``--step`` frames) is measured with its own audio as stored, delayed by 400 ms and advanced by
400 ms, and with the next scene's audio of the same frames (a pairing with no true offset). Prints
per scene the offsets found (minus the injected shift) and whether each measurement counted as
reliable, then the totals. docs/commands/preprocess.md ("Audio offset") quotes its output for the
96 px scenes of the real clips.
"""

from __future__ import annotations

import argparse
from pathlib import Path

SHIFTS_MS = (0, 400, -400)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenes", nargs="+", type=Path)
    ap.add_argument("--window", type=int, default=200)
    ap.add_argument("--step", type=int, default=50)
    args = ap.parse_args()

    from emotag_cli.preprocess.av_offset import measure, shift_audio
    from emotag_cli.scene import Scene

    scenes = [Scene.open(p) for p in args.scenes]
    data = [(s.path.name, s.audio(), s.landmarks, s.fps) for s in scenes]
    per_frame = 640
    own_found = own_reliable = own_total = foreign_reliable = foreign_total = 0
    for j, (name, wav, lm, fps) in enumerate(data):
        rows = []
        for a in range(0, max(1, len(lm) - args.window + 1), args.step):
            b = min(len(lm), a + args.window)
            piece = wav[a * per_frame:b * per_frame]
            for shift in SHIFTS_MS:
                m = measure(shift_audio(piece, -shift), lm[a:b], fps)
                rows.append(f"{m.offset_ms - shift:+.0f}{'' if m.reliable else '?'}")
                own_total += 1
                own_reliable += m.reliable
                own_found += abs(m.offset_ms - shift) <= 100
            other = data[(j + 1) % len(data)][1][a * per_frame:b * per_frame]
            if len(data) > 1 and len(other) == len(piece):
                foreign_total += 1
                foreign_reliable += measure(other, lm[a:b], fps).reliable
        whole = measure(wav, lm, fps)
        print(f"{name}: whole clip {whole.offset_ms:+.0f} ms (r {whole.correlation:.2f}, "
              f"{'reliable' if whole.reliable else 'not reliable'}); windows, found minus injected "
              f"(? = not reliable): {' '.join(rows)}")
    print(f"own audio: found within 100 ms in {own_found} of {own_total} windows, {own_reliable} reliable; "
          f"another clip's audio: {foreign_reliable} of {foreign_total} reliable")


if __name__ == "__main__":
    main()

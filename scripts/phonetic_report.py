"""How well does the phones-only mouth-opening track follow real mouths? And how fast is it?

    OMP_NUM_THREADS=1 python scripts/phonetic_report.py [VIDEO ...] [--cache DIR] [--json OUT]

Default videos: every clip in ../shared/data/real/video. Per clip, at 25 fps (the scene rate):

- lips: the measured inner-lip opening from MediaPipe FaceMesh (refined, on the frames decoded at
  25 fps with the longer side at most 720 px), divided by the inter-ocular distance — the eval
  module's ``mouth_opening``;
- loudness: log-RMS per frame (``frame_energy``) — the AV-sync proxy of the eval module, i.e. the
  Pearson r of the 3-frame-smoothed signals, best over lags of ±3 frames (``lag`` > 0: the audio
  signal is late);
- phones@80ms: the same correlation for the phones track (``mouth_opening(wav, 25)``: Whisper
  words aligned with pocketsphinx, 40 ms smoothing, read 80 ms early) at lag 0, i.e. at the lead
  the track builds in; ``raw`` is the same without the 3-frame smoothing; ``best±3`` is the best
  lag within ±3 frames;
- recog@80ms: the track from phone recognition alone (no words), as non-English speech gets;
- method: how the phones were found (per 30 s window); rtf: seconds of compute per second of
  audio on one core, for the whole phones step (Whisper words + alignment, or recognition alone),
  after the models are loaded.

A last table gives the mean phones correlation (lag 0) for other leads, which is how 80 ms was chosen.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

REAL_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "video"
FPS = 25.0
RATE = 16000
MAX_SIDE = 720
LEADS_MS = (0, 40, 80, 120, 160)


def lip_opening(video: Path, cache: Path | None) -> np.ndarray:
    """Inner-lip opening / IOD per 25 fps frame (NaN where no face), cached as .npy when asked."""
    from emotag_cli.evaluation.sync import mouth_opening
    from emotag_cli.media.probe import probe
    from emotag_cli.media.video import decode_cfr
    from emotag_cli.preprocess.face_mesh import FaceMesh

    cached = cache / f"{video.stem}.lips.npy" if cache else None
    if cached is not None and cached.is_file():
        return np.load(cached)
    info = probe(video)
    rows = []
    with FaceMesh(max_faces=1, refine=True) as mesh:
        for rgb in decode_cfr(info, FPS, max_side=MAX_SIDE):
            faces = mesh(rgb)
            rows.append(faces[0] if faces else np.full((mesh.n_points, 3), np.nan, np.float32))
    opening = mouth_opening(np.stack(rows))
    if cached is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.save(cached, opening)
    return opening


def clip_audio(video: Path, n_frames: int) -> np.ndarray:
    """The clip's audio at 16 kHz on the video timeline, exactly n_frames * 640 samples."""
    from emotag_cli.media.audio import align_to_frames, decode_audio
    from emotag_cli.media.probe import probe

    info = probe(video)
    samples, start = decode_audio(video, RATE)
    return align_to_frames(samples, start - info.start_s, n_frames, FPS, RATE)


def timed_phones(wav: np.ndarray, use_words: bool):
    from emotag_cli.preprocess.audio_features.phones import speech_to_phones

    t0 = time.perf_counter()
    track = speech_to_phones(wav, use_words=use_words)
    return track, (time.perf_counter() - t0) / (len(wav) / RATE)


def measure(video: Path, cache: Path | None) -> dict:
    from emotag_cli.evaluation.sync import av_sync_proxy, frame_energy, lagged_correlation
    from emotag_cli.preprocess.audio_features.visemes import frame_times, opening_track

    lips = lip_opening(video, cache)
    n = len(lips)
    wav = clip_audio(video, n)
    times = frame_times(n, FPS)
    track, rtf = timed_phones(wav, use_words=True)
    recognised, rtf_recog = timed_phones(wav, use_words=False)
    phones = opening_track(track.phones, track.duration_s, times)
    loud = av_sync_proxy(lips, frame_energy(wav, n))
    ph = av_sync_proxy(lips, phones)
    raw, _ = lagged_correlation(lips, phones.astype(np.float64), 0)
    recog = av_sync_proxy(lips, opening_track(recognised.phones, recognised.duration_s, times))
    by_lead = {lead: av_sync_proxy(lips, opening_track(track.phones, track.duration_s, times,
                                                       lead_s=lead / 1000)).at_zero for lead in LEADS_MS}
    return {
        "frames": n, "seconds": round(n / FPS, 2), "face_fraction": float(np.isfinite(lips).mean()),
        "loudness": loud.correlation, "loudness_lag": loud.offset,
        "phones_80ms": ph.at_zero, "phones_80ms_raw": raw, "phones_best": ph.correlation, "phones_lag": ph.offset,
        "recog_80ms": recog.at_zero, "method": "/".join(track.methods), "words": len(track.words),
        "notes": track.notes, "rtf": rtf, "rtf_recognition": rtf_recog,
        "by_lead": {str(k): v for k, v in by_lead.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("videos", type=Path, nargs="*")
    ap.add_argument("--cache", type=Path, default=None, help="folder for the measured lip openings (.npy)")
    ap.add_argument("--json", type=Path, default=None, help="write the numbers here too")
    args = ap.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table

    from emotag_cli.preprocess.audio_features.phones import speech_to_phones

    torch.set_num_threads(1)  # CTranslate2 (Whisper) uses as many threads as torch: one core
    videos = args.videos or sorted(REAL_VIDEO.glob("*.mp4"))
    # Load pocketsphinx and Whisper once, so the real-time factors exclude model loading.
    warm = np.random.default_rng(0).normal(0, 0.1, RATE).astype(np.float32)
    speech_to_phones(warm)
    speech_to_phones(warm, use_words=False)
    rows = {video.stem: measure(video, args.cache) for video in videos}

    table = Table(title="phones -> mouth opening vs measured inner-lip opening (Pearson r, 25 fps)")
    for col in ("clip", "s", "loudness (lag)", "phones@80ms", "raw", "best±3 (lag)", "recog@80ms", "method",
                "rtf", "rtf recog"):
        table.add_column(col, justify="right")
    for name, r in rows.items():
        table.add_row(name, f"{r['seconds']:.1f}", f"{r['loudness']:.2f} ({r['loudness_lag']:+d})",
                      f"{r['phones_80ms']:.2f}", f"{r['phones_80ms_raw']:.2f}",
                      f"{r['phones_best']:.2f} ({r['phones_lag']:+d})", f"{r['recog_80ms']:.2f}",
                      f"{r['method']} ({r['words']} words)", f"{r['rtf']:.3f}", f"{r['rtf_recognition']:.3f}")
    mean = {k: float(np.mean([r[k] for r in rows.values()])) for k in
            ("loudness", "phones_80ms", "phones_80ms_raw", "phones_best", "recog_80ms", "rtf", "rtf_recognition")}
    table.add_row("mean", "", f"{mean['loudness']:.2f}", f"{mean['phones_80ms']:.2f}", f"{mean['phones_80ms_raw']:.2f}",
                  f"{mean['phones_best']:.2f}", f"{mean['recog_80ms']:.2f}", "", f"{mean['rtf']:.3f}",
                  f"{mean['rtf_recognition']:.3f}")
    console = Console()
    console.print(table)
    leads = {lead: float(np.mean([r["by_lead"][str(lead)] for r in rows.values()])) for lead in LEADS_MS}
    console.print("mean phones r at lag 0 by lead: " + ", ".join(f"{k} ms {v:.3f}" for k, v in leads.items()))
    for name, r in rows.items():
        for note in r["notes"]:
            console.print(f"{name}: {note}")
    if args.json:
        args.json.write_text(json.dumps({"clips": rows, "mean": mean, "mean_by_lead_ms": leads}, indent=1))


if __name__ == "__main__":
    main()

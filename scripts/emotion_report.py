"""Do requested emotions show? Render avatars under each emotion and measure what the teacher sees.

    python scripts/emotion_report.py OUT_DIR --avatar A [--avatar B ...] --audio SPEECH.wav
        [--emotions angry,disgust,fear,happy,sad,surprise] [--sweep happy,sad,angry,surprise]
        [--intensities 0,0.25,0.5,0.75] [--timeline "happy:0-3,sad:3-6,angry:6-9.6"] [--size 256]
        [--emotion-mouth free|speech]

For each avatar: SPEECH rendered with ``--emotion neutral --intensity 1`` and with each emotion at
intensity 1, then each --sweep emotion at each --intensities value (intensity 0 is the base
motion, one render for all). Each render gets one pass of the bundled emotion teacher and
MediaPipe over all its frames:

- top-1 accuracy and mean p(X) of the requested emotion X (the `emotag eval` definitions);
- identity: dlib descriptor distance between the render and the neutral render, each the mean
  descriptor of 9 frames spread over the middle of the sentence (dlib's same-person threshold: 0.6);
- the AV-sync proxy (mouth opening vs audio energy, `emotag eval`'s) and its difference from the
  neutral render's;
- with --timeline: the teacher's mean p(class) inside each segment (0.4 s kept clear of each
  boundary, where the request cross-fades), and a strip of frames across the boundaries.

Writes OUT_DIR/report.json, OUT_DIR/report.md (tables), OUT_DIR/contact_sheet.png (avatar ×
emotion, the mid-sentence frame) and OUT_DIR/timeline_<avatar>.png; the renders stay in OUT_DIR.
Runs made in parallel (one OUT_DIR per avatar) are combined by
``python scripts/emotion_report.py OUT_DIR --merge DIR [DIR ...]`` (report and contact sheet).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ALL = ("angry", "disgust", "fear", "happy", "sad", "surprise")
ID_FRAMES = 9
CLEAR_S = 0.4


def measure(video: Path, teacher, encoder, max_offset: int = 3) -> dict:
    """One pass over a render: per-frame teacher distributions, mouth opening sync, identity."""
    from emotag_cli.evaluation import sync
    from emotag_cli.evaluation.video_io import open_video
    from emotag_cli.preprocess.face_align import has_face
    from emotag_cli.preprocess.face_mesh import N_REFINED, FaceMesh
    from emotag_cli.preprocess.mediapipe_log import quiet_native_stderr

    clip = open_video(video)
    frames = np.stack(list(clip.frames()))
    mesh = np.full((len(frames), N_REFINED, 3), np.nan, np.float32)
    with quiet_native_stderr(), FaceMesh() as fm:
        for i, f in enumerate(frames):
            faces = fm(f)
            if faces:
                mesh[i] = faces[0]
    valid = has_face(mesh)
    probs = np.full((len(frames), 7), np.nan)
    for s in range(0, len(frames), 32):
        probs[s:s + 32] = teacher.predict(frames[s:s + 32], mesh[s:s + 32])
    n = len(frames)
    proxy = sync.av_sync_proxy(sync.mouth_opening(mesh), sync.frame_energy(clip.audio(), n), max_offset)
    mid = np.linspace(n * 0.3, n * 0.7, ID_FRAMES).round().astype(int)
    mid = mid[valid[mid]]
    descriptor = encoder.describe(frames[mid], mesh[mid]).mean(axis=0) if len(mid) else None
    return {"probs": probs, "valid": valid, "av_proxy": float(proxy.correlation), "descriptor": descriptor,
            "mid_frame": frames[n // 2], "frames": frames}


def scores(m: dict, emotion: str) -> tuple[float, float]:
    from emotag_cli.evaluation.emotion_accuracy import emotion_scores

    acc, p, _ = emotion_scores(m["probs"], m["valid"], emotion)
    return acc, p


def mean_distribution(m: dict, names) -> dict[str, float]:
    return dict(zip(names, np.nanmean(m["probs"][m["valid"]], axis=0).round(4).tolist()))


def label(image: np.ndarray, text: str) -> np.ndarray:
    image = image.copy()
    cv2.rectangle(image, (0, 0), (image.shape[1], 18), (0, 0, 0), -1)
    cv2.putText(image, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def save_png(path: Path, rgb: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--avatar", type=Path, action="append")
    ap.add_argument("--audio", type=Path)
    ap.add_argument("--merge", type=Path, nargs="+", help="combine the reports of these OUT_DIRs into OUT_DIR")
    ap.add_argument("--emotions", default=",".join(ALL))
    ap.add_argument("--sweep", default="happy,sad,angry,surprise", help="emotions rendered at --intensities too")
    ap.add_argument("--intensities", default="0,0.25,0.5,0.75")
    ap.add_argument("--timeline", default="happy:0-3,sad:3-6,angry:6-9.6")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--emotion-mouth", default="free", help="render's --emotion-mouth (free or speech)")
    args = ap.parse_args(argv)
    if args.merge:
        return merge(args.out, args.merge)
    if not args.avatar or not args.audio:
        ap.error("--avatar and --audio are needed (or --merge)")

    import torch

    from emotag_cli.motion.timeline import parse_emotion
    from emotag_cli.preprocess.emotion import EMOTIONS, emotion_teacher
    from emotag_cli.preprocess.identity import DlibFaceEncoder
    from emotag_cli.synthesis.render import RenderConfig, render

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    teacher, encoder = emotion_teacher("auto"), DlibFaceEncoder()
    emotions = [e for e in args.emotions.split(",") if e]
    sweep = [e for e in args.sweep.split(",") if e]
    intensities = [float(x) for x in args.intensities.split(",") if x]
    report: dict = {"audio": str(args.audio), "size": args.size, "emotion_mouth": args.emotion_mouth,
                    "teacher": teacher.id, "avatars": {}}
    sheet_rows = []

    def run(avatar: Path, spec: str, intensity: float, tag: str) -> dict:
        video = args.out / f"{avatar.name}_{tag}.mp4"
        facts = render(avatar, args.audio, video, RenderConfig(emotion=spec, intensity=intensity, size=args.size,
                                                             emotion_mouth=args.emotion_mouth),
                       overwrite=True)
        m = measure(video, teacher, encoder)
        m["fps"] = facts.get("fps")
        print(f"  {avatar.name} {tag}: rendered at {facts.get('fps', 0):.1f} FPS", flush=True)
        return m

    for avatar in args.avatar:
        rows: dict = {}
        neutral = run(avatar, "neutral", 1.0, "neutral")
        acc, p = scores(neutral, "neutral")
        rows["neutral"] = {"intensity": 1.0, "accuracy": acc, "p": p, "identity_distance": 0.0,
                           "av_proxy": neutral["av_proxy"], "av_proxy_change": 0.0,
                           "mean_distribution": mean_distribution(neutral, EMOTIONS)}
        sheet = [label(neutral["mid_frame"], f"{avatar.name[:14]} neutral p={p:.2f}")]
        for e in emotions:
            m = run(avatar, e, 1.0, e)
            acc, p = scores(m, e)
            dist = (float(np.linalg.norm(m["descriptor"] - neutral["descriptor"]))
                    if m["descriptor"] is not None and neutral["descriptor"] is not None else float("nan"))
            rows[e] = {"intensity": 1.0, "accuracy": acc, "p": p, "identity_distance": dist,
                       "av_proxy": m["av_proxy"], "av_proxy_change": m["av_proxy"] - neutral["av_proxy"],
                       "mean_distribution": mean_distribution(m, EMOTIONS)}
            sheet.append(label(m["mid_frame"], f"{e} p={p:.2f} top1={100 * acc:.0f}%"))
            del m["frames"]
        sheet_rows.append(np.concatenate(sheet, axis=1))

        sweep_rows: dict = {e: {} for e in sweep}
        base = None
        for i in intensities:
            if i == 0.0:
                base = base or run(avatar, "neutral", 0.0, "base")
            for e in sweep:
                m = base if i == 0.0 else run(avatar, e, i, f"{e}_{i:g}")
                sweep_rows[e][f"{i:g}"] = scores(m, e)[1]
        for e in sweep:
            if e in rows:
                sweep_rows[e]["1"] = rows[e]["p"]

        timeline = None
        if args.timeline:
            m = run(avatar, args.timeline, 1.0, "timeline")
            t = np.arange(len(m["probs"])) / 25.0
            timeline = []
            for name, start, end in parse_emotion(args.timeline):
                inside = (t >= start + CLEAR_S) & (t < min(end, t[-1]) - CLEAR_S) & m["valid"]
                k = EMOTIONS.index(name)
                timeline.append({"emotion": name, "start": start, "end": end,
                                 "p": float(np.nanmean(m["probs"][inside, k])),
                                 "top1": float((m["probs"][inside].argmax(1) == k).mean())})
            mids = [int(round(25 * (s["start"] + min(s["end"], t[-1])) / 2)) for s in timeline]
            strip = [label(m["frames"][j], f"{s['emotion']} t={j / 25:.1f}s p={s['p']:.2f}")
                     for j, s in zip(mids, timeline)]
            save_png(args.out / f"timeline_{avatar.name}.png", np.concatenate(strip, axis=1))
        report["avatars"][avatar.name] = {"at_intensity_1": rows, "p_by_intensity": sweep_rows, "timeline": timeline}
        (args.out / "report.json").write_text(json.dumps(report, indent=1))
    save_png(args.out / "contact_sheet.png", np.concatenate(sheet_rows, axis=0))
    write_markdown(args.out / "report.md", report, ["neutral", *emotions], sweep, intensities)
    print((args.out / "report.md").read_text())
    return 0


def merge(out: Path, parts: list[Path]) -> int:
    """One report and contact sheet from several runs' OUT_DIRs."""
    out.mkdir(parents=True, exist_ok=True)
    reports = [json.loads((p / "report.json").read_text()) for p in parts]
    report = {**reports[0], "avatars": {k: v for r in reports for k, v in r["avatars"].items()}}
    (out / "report.json").write_text(json.dumps(report, indent=1))
    sheets = [cv2.imread(str(p / "contact_sheet.png")) for p in parts]
    cv2.imwrite(str(out / "contact_sheet.png"), np.concatenate(sheets, axis=0))
    first = next(iter(report["avatars"].values()))
    emotions = list(first["at_intensity_1"])
    sweep = list(first["p_by_intensity"])
    levels = [float(v) for v in next(iter(first["p_by_intensity"].values()), {}) if v != "1"]
    write_markdown(out / "report.md", report, emotions, sweep, levels)
    print((out / "report.md").read_text())
    return 0


def write_markdown(path: Path, report: dict, emotions: list[str], sweep: list[str], intensities: list[float]) -> None:
    lines = [f"Teacher {report['teacher']} on renders of {Path(report['audio']).name} at {report['size']} px.", "",
             "| avatar | emotion | top-1 | mean p(X) | dlib distance to neutral | AV proxy (Δ vs neutral) |",
             "|---|---|---|---|---|---|"]
    for name, a in report["avatars"].items():
        for e in emotions:
            r = a["at_intensity_1"][e]
            lines.append(f"| {name} | {e} | {100 * r['accuracy']:.0f} % | {r['p']:.3f} | {r['identity_distance']:.3f} "
                         f"| {r['av_proxy']:.3f} ({r['av_proxy_change']:+.3f}) |")
    levels = [f"{i:g}" for i in intensities] + ["1"]
    lines += ["", "| avatar | emotion | " + " | ".join(f"p(X) at {v}" for v in levels) + " |",
              "|---|---|" + "---|" * len(levels)]
    for name, a in report["avatars"].items():
        for e in sweep:
            row = a["p_by_intensity"][e]
            lines.append(f"| {name} | {e} | " + " | ".join(f"{row.get(v, float('nan')):.3f}" for v in levels) + " |")
    if any(a["timeline"] for a in report["avatars"].values()):
        lines += ["", "| avatar | segment | mean p(segment's emotion) | top-1 |", "|---|---|---|---|"]
        for name, a in report["avatars"].items():
            for s in a["timeline"] or []:
                lines.append(f"| {name} | {s['emotion']} {s['start']:g}-{s['end']:g} s | {s['p']:.3f} | "
                             f"{100 * s['top1']:.0f} % |")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())

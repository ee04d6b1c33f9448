"""Render avatars with several emotions and measure what the teacher and the AV proxy see.

    python scripts/render_report.py OUT_DIR --avatar A [--avatar B] --audio SPEECH
                                    [--emotions neutral,happy,sad,angry] [--intensity 1.0]

For each avatar × emotion: render SPEECH with that emotion, then `emotag eval` on the render:
the emotion teacher's mean probability of each requested emotion on the rendered frames (and the
same probability on the neutral render, for comparison), and the AV-sync proxy (mouth opening vs
audio energy). Prints a table; the renders stay in OUT_DIR for a person to watch.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--avatar", type=Path, action="append", required=True)
    ap.add_argument("--audio", type=Path, required=True)
    ap.add_argument("--emotions", default="neutral,happy,sad,angry")
    ap.add_argument("--intensity", type=float, default=1.0)
    args = ap.parse_args()

    import torch
    from rich.console import Console
    from rich.table import Table

    from emotag_cli.evaluation.run import evaluate
    from emotag_cli.synthesis.render import RenderConfig, render

    torch.set_num_threads(1)
    emotions = args.emotions.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    table = Table(title=f"renders of {args.audio.name}, intensity {args.intensity}")
    for col in ("avatar", "emotion", "p(emotion) render", "p(emotion) neutral render", "accuracy", "AV proxy",
                "render FPS"):
        table.add_column(col, justify="right")
    for avatar in args.avatar:
        videos, facts = {}, {}
        for emotion in emotions:
            video = args.out / f"{avatar.parent.name}_{emotion}.mp4"
            intensity = 0.0 if emotion == "neutral" else args.intensity
            facts[emotion] = render(avatar, args.audio, video, RenderConfig(emotion=emotion, intensity=intensity),
                                    overwrite=True)
            videos[emotion] = video
        neutral = videos.get("neutral")
        for emotion in emotions:
            report = evaluate(videos[emotion], emotion=emotion)
            base = evaluate(neutral, emotion=emotion) if neutral and emotion != "neutral" else report
            metric, base_m = report["metrics"], base["metrics"]

            def value(d: dict, key: str) -> str:
                v = d[key]["value"]
                return "-" if v is None else f"{float(v):.3f}"

            table.add_row(avatar.parent.name[:24], emotion, value(metric, "emotion_probability"),
                          value(base_m, "emotion_probability"), value(metric, "emotion_accuracy"),
                          value(metric, "av_sync_proxy"), f"{facts[emotion]['fps']:.1f}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()

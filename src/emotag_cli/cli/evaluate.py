"""The ``eval`` command: argument plumbing only (the CLI registers it with ``app.command("eval")``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import EmotagError


def eval_command(
    video: Annotated[Path, typer.Argument(help="Rendered video to evaluate (any format ffmpeg decodes).")],
    reference: Annotated[Path | None, typer.Option(
        "--reference", help="Ground truth: a scene folder (frames, masks, landmarks) or a video of the same "
                            "framing. Without it only the lip-sync and emotion metrics run.")] = None,
    emotion: Annotated[str | None, typer.Option(
        help="Requested emotion (angry, disgust, fear, happy, sad, surprise, neutral) for the emotion "
             "accuracy, or the timeline given to render ('happy:0-3,sad:3-6'): then each frame is scored "
             "against its segment's class, with a row per segment.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON instead of a table.")] = False,
    max_frames: Annotated[int | None, typer.Option(help="Evaluate only the first N frames.")] = None,
    openface_csv: Annotated[Path | None, typer.Option(
        help="OpenFace FeatureExtraction CSV of VIDEO: with --reference-openface-csv, AUE from OpenFace AUs.")] = None,
    reference_openface_csv: Annotated[Path | None, typer.Option(
        help="OpenFace FeatureExtraction CSV of the reference.")] = None,
    emotion_model: Annotated[str, typer.Option(help="Emotion teacher: auto | fer | deepface.")] = "auto",
) -> None:
    """Measure a rendered talking-head video: PSNR, SSIM, LPIPS, mouth LMD, AUE-U/L (against
    --reference), lip sync (Sync-C / Sync-E when SyncNet's weights are installed, and the AV-sync
    proxy) and emotion accuracy (with --emotion). A table on stdout, or JSON with --json; progress
    on stderr.

    Example: `emotag eval out.mp4 --reference scenes/alice_test --emotion happy`
    """
    from ..evaluation.report import render_table, to_json
    from ..evaluation.run import evaluate
    from ..progress import Reporter

    if (openface_csv is None) != (reference_openface_csv is None):
        raise EmotagError("give both --openface-csv (of VIDEO) and --reference-openface-csv, or neither")
    csvs = (openface_csv, reference_openface_csv) if openface_csv is not None else None
    report = evaluate(video, reference, emotion=emotion, max_frames=max_frames, openface_csv=csvs,
                      emotion_model=emotion_model, reporter=Reporter())
    if json_out:
        typer.echo(to_json(report))
    else:
        render_table(report)

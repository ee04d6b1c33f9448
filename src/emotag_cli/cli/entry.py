"""The ``emotag`` command: one thin function per stage, argument plumbing only."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .. import __version__
from ..errors import EmotagError
from ..preprocess.audio_features.registry import appendable_encoder_names, base_encoder_names

AUDIO_ENCODER_HELP = (" | ".join(base_encoder_names() + appendable_encoder_names())
                      + "; append +" + " or +".join(appendable_encoder_names())
                      + " to add its channels (e.g. whisper-tiny+phones, phones+loudness).")

app = typer.Typer(
    name="emotag",
    help="Emotion-aware, audio-driven 3D Gaussian talking heads from five seconds of video.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"emotag {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    version: Annotated[bool | None, typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = None,
) -> None:
    _state["debug"] = debug


@app.command()
def doctor() -> None:
    """Report which optional backends and weight files are available, where emotag looked, and
    what to install for the missing ones.

    Example: `emotag doctor`
    """
    from ..doctor import collect, render

    statuses = collect()
    render(statuses)


@app.command()
def preprocess(
    videos: Annotated[list[Path], typer.Argument(
        help="Input video (any format ffmpeg decodes); several videos or folders of videos: corpus mode.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Scene folder to write (corpus mode: folder of scenes).")],
    size: Annotated[int, typer.Option(help="Side of the square output frames, pixels.")] = 512,
    crop: Annotated[str, typer.Option(help="fixed: one crop for the clip; smooth: a slowly moving crop.")] = "fixed",
    crop_scale: Annotated[float, typer.Option(help="Crop side / face-box side.")] = 2.2,
    audio_encoder: Annotated[str, typer.Option(help=AUDIO_ENCODER_HELP)] = "phones",
    audio_encoder_path: Annotated[Path | None, typer.Option(
        help="Local Hugging Face folder (or cache) of the wav2vec2 / hubert model.")] = None,
    au_source: Annotated[str, typer.Option(help="landmarks | openface | pyfeat.")] = "landmarks",
    openface_csv: Annotated[Path | None, typer.Option(
        help="OpenFace FeatureExtraction CSV of this video (with --au-source openface).")] = None,
    emotion_model: Annotated[str, typer.Option(help="auto | fer | deepface.")] = "auto",
    audio: Annotated[Path | None, typer.Option(
        help="Sound file to use instead of the video's own audio track (sample 0 at frame 0). "
             "Corpus mode: a sound file with the video's name beside it (talk.wav for talk.mp4) is used "
             "automatically.")] = None,
    av_offset: Annotated[str, typer.Option(
        help="auto: measure the audio's offset from the lips and undo a reliable one above 2 frames; warn: "
             "measure and warn only; or MS: shift the audio MS milliseconds earlier (negative: later).")] = "auto",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing scene folder.")] = False,
    shard: Annotated[str | None, typer.Option(
        help="Corpus mode: process only shard K/N of the sorted videos (e.g. 2/8).")] = None,
) -> None:
    """Turn a talking-face video into a scene: 25 fps face-centred frames, 16 kHz audio, landmarks,
    masks, a background plate, audio features, AUs, emotion and an identity embedding.

    Several videos (or folders of videos), or `--shard K/N`, is corpus mode: each video becomes
    OUT/VIDEO_NAME (the video's file name without its suffix); videos whose scene is already
    complete are skipped, and a bad video is reported and skipped.

    Example: `emotag preprocess talk.mp4 -o scenes/alice --size 512`;
    corpus: `emotag preprocess videos/ -o scenes --shard 3/8`
    """
    from ..config import PreprocessConfig
    from ..preprocess.pipeline import paired_audio
    from ..preprocess.pipeline import preprocess as run
    from ..progress import Reporter

    config = PreprocessConfig(
        size=size, crop=crop, crop_scale=crop_scale, audio_encoder=audio_encoder,
        audio_encoder_path=str(audio_encoder_path) if audio_encoder_path else None,
        au_source=au_source, openface_csv=str(openface_csv) if openface_csv else None,
        emotion_model=emotion_model, av_offset=av_offset,
    )
    if len(videos) == 1 and shard is None and not videos[0].is_dir():
        scene = run(videos[0], out, config, overwrite=overwrite, reporter=Reporter(), audio=audio)
        typer.echo(str(scene.path))
        return
    if audio is not None:
        raise EmotagError("--audio takes one video; in corpus mode put each sound file beside its video, "
                          "with the video's name (talk.wav for talk.mp4)")
    from ..corpus import Shard, preprocess_corpus

    preprocess_corpus(videos, out, Shard.parse(shard), lambda v, o: run(
        v, o, config, overwrite=overwrite, reporter=Reporter(), audio=paired_audio(v)), overwrite)


@app.command()
def track(
    scenes: Annotated[list[Path], typer.Argument(
        help="Scene folder made by `emotag preprocess`; several: corpus mode.")],
    head_model: Annotated[str, typer.Option(help="open (built in) | flame.")] = "open",
    flame_model: Annotated[Path | None, typer.Option(
        help="FLAME generic_model.pkl or flame2023_Open.pkl (default: searched in ~/.cache/emotag/flame).")] = None,
    flame_embedding: Annotated[Path | None, typer.Option(
        help="MediaPipe (or 68-point) landmark embedding for FLAME.")] = None,
    from_vhap: Annotated[Path | None, typer.Option(
        help="Import this VHAP export (transforms.json + flame_param/) instead of fitting.")] = None,
    focal: Annotated[float, typer.Option(help="Initial focal length / frame side, the centre of its prior.")] = 4.0,
    focal_sigma: Annotated[float, typer.Option(help="Width of the focal prior, log units.")] = 0.25,
    fix_focal: Annotated[bool, typer.Option(help="Keep the focal length at --focal.")] = False,
    iters: Annotated[int, typer.Option(help="Most Levenberg-Marquardt iterations of the full fit.")] = 30,
    rigid_iters: Annotated[int, typer.Option(help="Most iterations of the rigid stage.")] = 4,
    n_shape: Annotated[int, typer.Option(help="Shape components fitted (at most the model's).")] = 100,
    expr_sigma: Annotated[float, typer.Option(help="Prior std of the expression coefficients.")] = 1.0,
    smooth_expr: Annotated[float, typer.Option(help="Allowed expression change per frame (std).")] = 0.6,
    depth_sigma: Annotated[float | None, typer.Option(
        help="Also fit MediaPipe's relative depth, trusted to this many px at 256 px (default: off).")] = None,
    overlay: Annotated[str, typer.Option(help="Overlay video: shaded | wireframe | none.")] = "shaded",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing SCENE/track.")] = False,
    shard: Annotated[str | None, typer.Option(
        help="Corpus mode: track only shard K/N of the sorted scenes (e.g. 2/8).")] = None,
) -> None:
    """Fit the head model to every frame of a scene: shape and focal length per clip; head pose,
    jaw, eyes and 50 expression coefficients per frame. Writes SCENE/track (parameters, camera,
    fit report, overlay video, transforms.json), or imports a VHAP track with --from-vhap.

    Several scenes, or `--shard K/N`, is corpus mode: scenes already tracked are skipped, and a
    scene that fails is reported and skipped.

    Example: `emotag track scenes/alice`; corpus: `emotag track scenes/* --shard 3/8`
    """
    from ..config import TrackConfig
    from ..progress import Reporter
    from ..track.pipeline import track as run
    from ..track.vhap_import import import_vhap

    config = TrackConfig(
        head_model=head_model, flame_model=str(flame_model) if flame_model else None,
        flame_embedding=str(flame_embedding) if flame_embedding else None,
        focal=focal, focal_sigma=focal_sigma, fit_focal=not fix_focal, iters=iters, rigid_iters=rigid_iters,
        n_shape=n_shape, expr_sigma=expr_sigma, smooth_expr=smooth_expr, depth_sigma_px=depth_sigma,
        overlay=overlay,
    )
    if len(scenes) == 1 and shard is None:
        if from_vhap is not None:
            out = import_vhap(from_vhap, scenes[0], config, overwrite=overwrite, reporter=Reporter())
        else:
            out = run(scenes[0], config, overwrite=overwrite, reporter=Reporter())
        typer.echo(str(out))
        return
    if from_vhap is not None:
        raise EmotagError("--from-vhap imports one scene's track: give exactly one SCENE")
    from ..corpus import Shard, track_corpus

    track_corpus(scenes, Shard.parse(shard), lambda s: run(s, config, overwrite=overwrite, reporter=Reporter()),
                 overwrite)


@app.command()
def features(
    scenes: Annotated[list[Path], typer.Argument(help="Scene folders made by `emotag preprocess`.")],
    audio_encoder: Annotated[str, typer.Option(help=AUDIO_ENCODER_HELP)],
    audio_encoder_path: Annotated[Path | None, typer.Option(
        help="Local Hugging Face folder (or cache) of the wav2vec2 / hubert model.")] = None,
    force: Annotated[bool, typer.Option(help="Re-extract even where the scene already has this encoder's "
                                             "features.")] = False,
) -> None:
    """Re-extract the audio features of scenes with another encoder, without redoing the video
    work: reads SCENE/audio.wav, replaces SCENE/audio_features.npy and the manifest's audio entry
    (atomically). Tracks stay valid. Scenes without audio, and scenes that already have this
    encoder's features (unless --force), are skipped with a line.

    Example: `emotag features scenes/* --audio-encoder whisper-tiny`
    """
    from ..preprocess.audio_features import encoder_option
    from ..preprocess.refeature import refresh_audio_features
    from ..progress import stderr
    from ..scene import Scene

    done = 0
    for scene in scenes:
        opened = Scene.open(scene, check_files=False)
        if not opened.has_audio:
            stderr.print(f"skipped {scene}: no audio", highlight=False)
            continue
        done += 1
        current = opened.manifest.get("features", {}).get("audio", {}).get("encoder", "")
        if not force and audio_encoder_path is None and encoder_option(str(current)) == audio_encoder:
            stderr.print(f"skipped {scene}: already has {current} features", highlight=False)
            continue
        refresh_audio_features(scene, audio_encoder, audio_encoder_path)
        typer.echo(str(scene))
    if not done:
        raise EmotagError("none of the scenes has audio: nothing to extract")


@app.command()
def render(
    avatar: Annotated[Path, typer.Argument(help="Avatar folder made by `emotag adapt`.")],
    audio: Annotated[Path, typer.Option("--audio", "-a", help="Speech file (wav, mp3, flac, m4a, …; any rate).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="The mp4 to write.")],
    emotion: Annotated[str, typer.Option(
        help="auto | neutral | happy | sad | angry | fear | disgust | surprise, or a timeline "
             "'happy:0-3,sad:3-6' (seconds).")] = "auto",
    intensity: Annotated[float | None, typer.Option(
        help="Emotion intensity 0..1 (drives the gate); default: inferred from the audio.")] = None,
    emotion_mouth: Annotated[str, typer.Option(
        help="free: as the motion network has it (its emotion residual may open the jaw); speech: the "
             "mouth opens as under neutral, the emotion changes the rest of the face.")] = "free",
    drive: Annotated[str, typer.Option(
        help="Pose and upper-face source: clip (the adaptation clip, looped), still, or a tracked scene.")] = "clip",
    background: Annotated[str, typer.Option(help="drive (the drive frame) | plate | a colour (#RRGGBB).")] = "drive",
    audio_encoder_path: Annotated[Path | None, typer.Option(
        help="Local wav2vec2 / HuBERT folder, when the avatar uses one.")] = None,
    save_params: Annotated[Path | None, typer.Option(help="Write the per-frame head-model parameters (.npz).")] = None,
    frames: Annotated[Path | None, typer.Option(help="Also write every frame as a PNG into this folder.")] = None,
    size: Annotated[int | None, typer.Option(help="Output side in pixels (default: the avatar's size).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
) -> None:
    """Make the avatar say a speech file with a chosen emotion: an H.264 mp4 at 25 fps with the
    audio muxed in, as long as the audio.

    Example: `emotag render avatars/alice --audio speech.wav --emotion happy --intensity 0.8 -o out.mp4`
    """
    from ..config import RenderConfig
    from ..progress import Reporter, stderr
    from ..synthesis.render import render as run

    config = RenderConfig(emotion=emotion, intensity=intensity, emotion_mouth=emotion_mouth, drive=drive,
                          background=background, size=size,
                          audio_encoder_path=str(audio_encoder_path) if audio_encoder_path else None)
    facts = run(avatar, audio, out, config, save_params=save_params, frames_dir=frames, overwrite=overwrite,
                reporter=Reporter())
    stderr.print(f"{facts['frames']} frames at {facts['size']} px in {facts['render_s']:.1f} s: "
                 f"{facts['fps']:.2f} FPS", highlight=False)
    typer.echo(str(out))


def _register_commands() -> None:
    """Stages whose command functions live beside their packages."""
    from .evaluate import eval_command
    from .train import adapt_command, pretrain_command

    app.command("pretrain")(pretrain_command)
    app.command("adapt")(adapt_command)
    app.command("eval")(eval_command)


_register_commands()


def main() -> None:
    """Console entry point: user errors become one line on stderr and a non-zero exit code."""
    from .. import interrupt

    interrupt.install()
    try:
        code = app(standalone_mode=False)
    except EmotagError as exc:
        if _state["debug"]:
            raise
        print(f"emotag: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        code = interrupt.EXIT_CODE
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("emotag: aborted", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:
        if _state["debug"] or exc.filename is None:
            _crash(exc)
        print(f"emotag: error: {_os_error_line(exc)}", file=sys.stderr)
        sys.exit(EmotagError.exit_code)
    except Exception as exc:  # noqa: BLE001 - the one place that turns crashes into a message
        _crash(exc)
    # Typer turns a KeyboardInterrupt inside a command into Exit(130), which non-standalone mode
    # returns instead of raising; a command itself returns None.
    if code == interrupt.EXIT_CODE:
        print(f"emotag: {interrupt.message()}", file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)


def _os_error_line(exc: OSError) -> str:
    """ "PATH: reason" for a file-system error, naming the folder instead of a hidden temporary file."""
    path = Path(exc.filename)
    if path.name.startswith(".") and ".tmp-" in path.name:
        path = path.parent
    return f"{path}: {(exc.strerror or exc.__class__.__name__).lower()}"


def _crash(exc: BaseException) -> None:
    import click

    if isinstance(exc, click.exceptions.ClickException):
        exc.show()
        sys.exit(exc.exit_code)
    if _state["debug"]:
        raise exc
    print(f"emotag: internal error: {exc.__class__.__name__}: {exc} (run with --debug for the traceback)",
          file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main()

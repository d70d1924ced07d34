"""Build the installable Blender add-on: ``python make_zip.py OUT.zip``.

The zip holds ``corral_submit/__init__.py`` (this folder's ``corral_submit.py``)
and ``corral_submit/corral_client/`` (the client library), so that it needs
nothing else once installed.
"""

import os
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LIBRARY = os.path.join(ROOT, "corral_client")


def build(target: str) -> str:
    """Write the add-on zip to ``target``; its path."""
    folder = os.path.dirname(os.path.abspath(target))
    os.makedirs(folder, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(os.path.join(HERE, "corral_submit.py"), "corral_submit/__init__.py")
        for name in sorted(os.listdir(LIBRARY)):
            if name.endswith(".py"):
                archive.write(os.path.join(LIBRARY, name), "corral_submit/corral_client/" + name)
    return target


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python make_zip.py OUT.zip")
    print(build(sys.argv[1]))

"""Loading template files into a `TemplateSet`.

Templates are Python files in the bundled `templates/` folder and in a site
folder. Each top-level file runs as its own module while a fresh `MManager`
is the process-wide one, so whatever it installs lands in this set only. A
file that fails is recorded and logged; the others still load. A later
folder overrides an earlier one: a site template with a bundled template's
key or id replaces it.

The set also carries the source text of every `.py` file under its folders
(helper tools included) and a digest of them: the dispatcher sends both to
render clients, which write them with `TemplateSet.write_sources` and load
them from there.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import logging
import os
import re
import sys
import tempfile
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath

import hooks
from dispatcher.errors import TemplateError
from hooks.api.template import MManager, MTemplate

logger = logging.getLogger(__name__)

_module_numbers = itertools.count(1)


def bundled_templates_dir() -> Path:
    """The templates shipped with Corral: the `templates/` folder beside `hooks/`."""
    return Path(hooks.__file__).resolve().parent.parent / "templates"


def _skipped(relative: PurePosixPath) -> bool:
    """Hidden files and folders and bytecode caches are not sources."""
    return any(part.startswith(".") or part == "__pycache__" for part in relative.parts)


def _source_files(folder: Path) -> list[tuple[str, Path]]:
    """(relative posix name, path) of every source file under `folder`, sorted."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.rglob("*.py")):
        relative = PurePosixPath(path.relative_to(folder).as_posix())
        if not _skipped(relative) and path.is_file():
            found.append((str(relative), path))
    return found


def _check_source_name(name: str) -> PurePosixPath:
    """The relative path a received source may be written to; raises TemplateError."""
    if not name or "\\" in name or "\0" in name:
        raise TemplateError(f"refusing template source path {name!r}")
    path = PurePosixPath(name)
    if path.is_absolute() or PureWindowsPath(name).drive:
        raise TemplateError(f"refusing absolute template source path {name!r}")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise TemplateError(f"refusing template source path {name!r}")
    if path.suffix != ".py" or _skipped(path):
        raise TemplateError(f"refusing template source {name!r}: only .py files are sent")
    return path


class TemplateSet:
    """The templates loaded from a list of folders, with their sources and digest."""

    def __init__(self, dirs: Sequence[Path] = ()) -> None:
        self.dirs: list[Path] = [Path(folder) for folder in dirs]
        self.manager = MManager()
        self.sources: dict[str, str] = {}
        self.errors: list[str] = []
        self.origins: dict[str, str] = {}
        self.digest = self.compute_digest(self.sources)
        self._skip: dict[str, str] = {}
        self._before_file: Callable[[Path], None] | None = None

    @classmethod
    def load(
        cls,
        dirs: Sequence[Path],
        *,
        skip: Mapping[str, str] | None = None,
        before_file: Callable[[Path], None] | None = None,
    ) -> TemplateSet:
        """Load every top-level `*.py` of each folder in order; later folders override.

        `skip` maps files not to run to the reason, recorded as their error;
        `before_file` is called with each file just before it runs.
        """
        template_set = cls(dirs)
        template_set._skip = dict(skip or {})
        template_set._before_file = before_file
        with MManager.use(template_set.manager):
            for folder in template_set.dirs:
                template_set._load_dir(folder)
        template_set.digest = cls.compute_digest(template_set.sources)
        logger.info(
            "loaded %d templates (%s) from %d folders, %d errors, digest %s",
            len(template_set.templates),
            ", ".join(template_set.keys()),
            len(template_set.dirs),
            len(template_set.errors),
            template_set.digest[:12],
            extra={"action": "templates_loaded"},
        )
        return template_set

    def _load_dir(self, folder: Path) -> None:
        if not folder.is_dir():
            self._error(str(folder), "not a folder")
            return
        for relative, path in _source_files(folder):
            try:
                self.sources[relative] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                self._error(str(path), f"cannot read: {exc}")
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith(".") or not path.is_file():
                continue
            self._run_file(path)

    def _run_file(self, path: Path) -> None:
        if str(path) in self._skip:
            self._error(str(path), self._skip[str(path)])
            return
        if self._before_file is not None:
            self._before_file(path)
        before = {id(template) for template in self.manager.list_templates()}
        stem = re.sub(r"\W", "_", path.stem)
        name = f"corral_template_{next(_module_numbers)}_{stem}"
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot make a module of {path.name}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
        except (Exception, SystemExit) as exc:
            reason = traceback.format_exception_only(type(exc), exc)[-1].strip()
            self._error(str(path), reason, exc)
            return
        for template in self.manager.list_templates():
            if id(template) not in before:
                self.origins[template.getKey()] = str(path)

    def _error(self, file: str, reason: str, exc: BaseException | None = None) -> None:
        self.errors.append(f"{file}: {reason}")
        logger.error(
            "template file %s failed: %s; its templates are not available",
            file,
            reason,
            exc_info=exc,
            extra={"action": "template_load_failed"},
        )

    @property
    def templates(self) -> list[MTemplate]:
        """The loaded templates, by id."""
        return self.manager.list_templates()

    def keys(self) -> list[str]:
        return [template.getKey() for template in self.templates]

    def __contains__(self, key_or_id: object) -> bool:
        return isinstance(key_or_id, str | int) and self.get(key_or_id) is not None

    def get(self, key_or_id: str | int) -> MTemplate | None:
        """The template with this key or id: "cmdline", "1" or 1."""
        return self.manager.get_template(key_or_id)

    def activate(self) -> None:
        """Make this set's registry the process-wide `MManager.getUniqueClass()`."""
        MManager.set_unique(self.manager)

    @staticmethod
    def collect_sources(dirs: Sequence[Path]) -> dict[str, str]:
        """The text of every `.py` file under the folders (later folders win); unreadable ones are left out."""
        sources: dict[str, str] = {}
        for folder in dirs:
            for relative, path in _source_files(Path(folder)):
                try:
                    sources[relative] = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
        return sources

    @staticmethod
    def compute_digest(sources: Mapping[str, str]) -> str:
        """SHA-256 hex over the sources in path order; equal sources give equal digests."""
        digest = hashlib.sha256()
        for name in sorted(sources):
            for part in (name.encode(), sources[name].encode()):
                digest.update(len(part).to_bytes(8, "big"))
                digest.update(part)
        return digest.hexdigest()

    @staticmethod
    def write_sources(sources: Mapping[str, str], target_dir: Path) -> list[Path]:
        """Write received sources under `target_dir`; returns the files written.

        Every name is checked before anything is written: absolute paths, "..",
        hidden parts and names not ending in ".py" raise TemplateError. Files
        are replaced atomically. Files already in `target_dir` are left alone,
        so use a fresh folder (one per digest) to get exactly the sent set.
        """
        target = Path(target_dir)
        checked = [(_check_source_name(name), text) for name, text in sources.items()]
        written: list[Path] = []
        for relative, text in checked:
            path = target.joinpath(*relative.parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
                    stream.write(text)
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            written.append(path)
        return written

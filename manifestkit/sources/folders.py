"""Folder-per-label reader: ``ROOT/<label>/.../image.jpg`` becomes an image-level (classification) dataset.

Policies (decisions.md, documented in docs/folders.md):

* the label is the first-level folder under the root; images in deeper folders roll up to it, as the
  Rekognition console's S3 import does; images directly in the root have no label and are reported
  (``MK_UNLABELLED_IMAGE``), not written;
* classes are numbered 0..N-1 in sorted label order; item paths are relative to the root with ``/``
  separators, items come in sorted path order, so the same tree always gives the same dataset;
* the image type comes from the content (magic bytes), not the extension; only JPEG and PNG are kept;
* clutter (hidden files and folders, ``.DS_Store``, AppleDouble ``._x.jpg``, ``Thumbs.db``, ``__MACOSX``,
  non-image files) is skipped and counted;
* a corrupt image (an image extension but an unreadable header) fails the whole read with a list of every
  such file, unless ``skip_invalid``; so do symbolic links that leave the root or lead nowhere;
* symbolic links inside the root are followed (the item keeps the link's own path); a link back to one of
  its own parent folders is a loop and an error.

Each image costs one ``os.scandir`` entry and one header probe (:func:`images.probe_file`): no pixel is
decoded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ..errors import ImageError, SourceError
from ..images import probe_file
from ..model import Dataset, ImageItem, Summary, Task

__all__ = ["IMAGE_EXTENSIONS", "MAX_LABEL_LENGTH", "read_folders"]

Progress = Callable[[int], None]

MAX_LABEL_LENGTH = 255
# Extensions that announce an image: a file with one of these that cannot be probed is corrupt; any other
# file that cannot be probed is simply not an image (README.txt, labels.csv ...).
IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".pjpeg", ".pjp", ".png", ".apng", ".gif", ".bmp", ".dib", ".webp",
    ".tif", ".tiff", ".heic", ".heif", ".avif",
})
_EXTENSION_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".jfif": "JPEG", ".pjpeg": "JPEG",
                      ".pjp": "JPEG", ".png": "PNG", ".apng": "PNG"}
# Files and folders that operating systems, archivers and NAS boxes leave behind (compared lower-case).
_SYSTEM_NAMES = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini", "__macosx", "@eadir", "$recycle.bin",
                           "system volume information"})
_PROGRESS_EVERY = 256


@dataclass(slots=True)
class _Problem:
    """An entry that makes the read fail unless ``skip_invalid``."""

    code: str
    path: str
    reason: str


def read_folders(root: str | os.PathLike[str], *, skip_invalid: bool = False,
                 progress: Progress | None = None) -> Dataset:
    """Read a folder-per-label tree into a classification :class:`Dataset` (label = first-level folder).

    Args:
        root: the dataset folder; each sub-folder is a label.
        skip_invalid: leave out corrupt images and bad symbolic links (counted in the summary) instead of
            failing.
        progress: called with the number of files examined since its last call.

    Raises:
        SourceError: the root is missing or not a folder, a folder cannot be read, a symbolic link loops,
            a label name is invalid, no labelled image was found, or (without ``skip_invalid``) some
            images are corrupt or links leave the root; the message lists every such file.
    """
    root_s = os.fspath(root)
    if not os.path.exists(root_s):
        raise SourceError("folder not found", path=root_s)
    if not os.path.isdir(root_s):
        raise SourceError("not a folder: give the folder that holds one sub-folder per label", path=root_s)
    summary = Summary(source=root_s, task=Task.CLASSIFICATION.value)
    scan = _Scan(root_s, summary, progress)
    scan.run()

    if scan.problems:
        if not skip_invalid:
            raise SourceError(_problems_message(scan.problems), path=root_s)
        for p in scan.problems:
            summary.note(p.code, _PROBLEM_NOTES[p.code], f"{p.path} ({p.reason})", severity="error")

    if not scan.items:
        raise SourceError(
            "no labelled JPEG or PNG image found: put the images in one sub-folder per label "
            f"({os.path.join(root_s, '<label>', 'image.jpg')})" + _skipped_hint(summary), path=root_s)
    scan.items.sort(key=lambda it: it.path)
    labels = sorted({it.labels[0] for it in scan.items})
    classes = {label: i for i, label in enumerate(labels)}
    return Dataset(task=Task.CLASSIFICATION, items=scan.items, classes=classes, summary=summary, root=root_s)


_PROBLEM_NOTES = {
    "MK_CORRUPT_IMAGE": "corrupt or unreadable image left out (--skip-invalid)",
    "MK_LINK_OUTSIDE_ROOT": "symbolic link leading outside the dataset folder left out (--skip-invalid)",
    "MK_BROKEN_LINK": "broken symbolic link left out (--skip-invalid)",
    "MK_UNENCODABLE_NAME": "file name that is not valid UTF-8 left out (--skip-invalid)",
}


def _problems_message(problems: list[_Problem]) -> str:
    lines = [f"{len(problems)} file(s) cannot be used; fix or remove them, or leave them out with "
             "--skip-invalid:"]
    lines += [f"  {p.path}: {p.reason}" for p in problems]
    return "\n".join(lines)


def _skipped_hint(summary: Summary) -> str:
    if not summary.notes:
        return ""
    skipped = sum(n.count for n in summary.notes.values())
    kinds = ", ".join(f"{summary.notes[c].count} {c}" for c in sorted(summary.notes))
    return f"; {skipped} file(s) were skipped ({kinds})"


@dataclass(slots=True)
class _Frame:
    """A folder being walked: its remaining entries, relative prefix, label and parent identities."""

    entries: Iterator[os.DirEntry[str]]
    rel: str
    label: str | None
    parents: tuple[tuple[int, int], ...]


class _Scan:
    """One walk of the tree: sorted, iterative (no recursion limit), symlink-loop safe."""

    def __init__(self, root: str, summary: Summary, progress: Progress | None) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self.summary = summary
        self.progress = progress
        self.items: list[ImageItem] = []
        self.problems: list[_Problem] = []
        self._pending = 0

    def run(self) -> None:
        st = os.stat(self.root)
        # Depth-first, in sorted name order, so that notes list their examples as a listing would. Each
        # frame: the folder's remaining entries, its relative prefix ('' or 'a/b/'), its label, and the
        # identities (st_dev, st_ino) of the folder and its parents: a folder found among its own parents
        # was reached through a link loop. An explicit stack has no recursion limit.
        stack: list[_Frame] = [_Frame(iter(self._list(self.root)), "", None, ((st.st_dev, st.st_ino),))]
        while stack:
            frame = stack[-1]
            entry = next(frame.entries, None)
            if entry is None:
                stack.pop()
                continue
            sub = self._entry(entry, frame)
            if sub is not None:
                stack.append(sub)
        if self.progress is not None and self._pending:
            self.progress(self._pending)

    @staticmethod
    def _list(folder: str) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(folder) as it:
                return sorted(it, key=lambda e: e.name)
        except PermissionError:
            raise SourceError("cannot read this folder (permission denied): fix its permissions or move it "
                              "out of the dataset", path=folder) from None
        except OSError as e:
            raise SourceError(f"cannot read this folder ({e.strerror or e})", path=folder) from None

    def _entry(self, entry: os.DirEntry[str], frame: _Frame) -> _Frame | None:
        """Handle one folder entry; return the frame to descend into when it is a folder."""
        note = self.summary.note
        name = entry.name
        rel_path = frame.rel + name
        if name.startswith("."):
            # Covers .DS_Store, AppleDouble ._x.jpg, .git/, editor swap files.
            note("MK_SKIPPED_HIDDEN", "hidden file or folder skipped", _printable(rel_path), severity="info")
            return None
        if name.lower() in _SYSTEM_NAMES:
            note("MK_SKIPPED_SYSTEM_FILE", "operating-system or archiver file skipped", _printable(rel_path),
                 severity="info")
            return None
        if not _encodable(name):
            self.problems.append(_Problem("MK_UNENCODABLE_NAME", _printable(rel_path),
                                          "the name is not valid UTF-8 and cannot be an S3 key; rename it"))
            return None
        try:
            if entry.is_symlink() and not self._link_ok(entry.path, rel_path):
                return None
            is_dir = entry.is_dir()
        except OSError as e:
            self.problems.append(_Problem("MK_CORRUPT_IMAGE", rel_path, f"cannot read ({e.strerror or e})"))
            return None
        if not is_dir:
            if entry.is_file():
                self._image(entry, rel_path, name, frame.label)
            else:
                note("MK_SKIPPED_NOT_IMAGE", "not an image file, skipped", rel_path, severity="info")
            return None
        label = frame.label
        if label is None:
            label = name
            if len(name) > MAX_LABEL_LENGTH:
                raise SourceError(f"the folder name is a label and labels are at most {MAX_LABEL_LENGTH} "
                                  f"characters ({len(name)} here): rename the folder", path=entry.path)
        try:
            st = entry.stat()
        except OSError as e:
            raise SourceError(f"cannot read this folder ({e.strerror or e})", path=entry.path) from None
        ident = (st.st_dev, st.st_ino)
        if ident in frame.parents:
            raise SourceError("symbolic link loop: this link leads back to one of its own parent folders "
                              f"({os.path.realpath(entry.path)}); remove the link", path=entry.path)
        return _Frame(iter(self._list(entry.path)), rel_path + "/", label, frame.parents + (ident,))

    def _link_ok(self, path: str, rel_path: str) -> bool:
        """Follow a link only when it resolves inside the root; record a problem otherwise."""
        target = os.path.realpath(path)
        if target != self.real_root and not target.startswith(self.real_root.rstrip(os.sep) + os.sep):
            self.problems.append(_Problem(
                "MK_LINK_OUTSIDE_ROOT", rel_path,
                f"symbolic link to {target}, outside the dataset folder; a dataset must be self-contained "
                "(S3 keys are paths inside it): copy the file or folder in"))
            return False
        if not os.path.exists(path):
            self.problems.append(_Problem("MK_BROKEN_LINK", rel_path,
                                          f"broken symbolic link (its target {target} does not exist)"))
            return False
        return True

    def _image(self, entry: os.DirEntry[str], rel_path: str, name: str, label: str | None) -> None:
        note = self.summary.note
        self._tick()
        ext = os.path.splitext(name)[1].lower()
        try:
            info = probe_file(entry.path)
        except ImageError as e:
            if ext not in IMAGE_EXTENSIONS:
                note("MK_SKIPPED_NOT_IMAGE", "not an image file, skipped", rel_path, severity="info")
            elif _is_empty(entry):
                note("MK_EMPTY_FILE", "empty image file (0 bytes) skipped", rel_path)
            else:
                self.problems.append(_Problem("MK_CORRUPT_IMAGE", rel_path, e.reason))
            return
        if not info.supported:
            note("MK_UNSUPPORTED_FORMAT", "image skipped: Rekognition takes JPEG and PNG only; convert it",
                 f"{rel_path} ({info.format})")
            return
        if label is None:
            note("MK_UNLABELLED_IMAGE", "image directly in the dataset folder has no label and was not "
                 "written: move it into a label folder", rel_path)
            return
        expected = _EXTENSION_FORMATS.get(ext)
        if expected != info.format:
            note("MK_EXTENSION_MISMATCH", "the file name's extension does not match its content (content wins)",
                 f"{rel_path} ({info.format})", severity="info")
        if info.truncated:
            note("MK_TRUNCATED_IMAGE", "image looks truncated (no end marker near the end of the file)",
                 rel_path)
        if info.rotated:
            note("MK_EXIF_ROTATED", "EXIF orientation 5-8: the image is displayed turned by 90 degrees "
                 "(width and height swapped); the manifest keeps the stored size", rel_path)
        self.items.append(ImageItem(path=rel_path, width=info.width, height=info.height, format=info.format,
                                    labels=(label,), depth=info.channels, orientation=info.orientation))

    def _tick(self) -> None:
        if self.progress is None:
            return
        self._pending += 1
        if self._pending >= _PROGRESS_EVERY:
            self.progress(self._pending)
            self._pending = 0


def _is_empty(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.stat().st_size == 0
    except OSError:
        return False


def _encodable(name: str) -> bool:
    # os.scandir hands out undecodable bytes as lone surrogates (surrogateescape).
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")

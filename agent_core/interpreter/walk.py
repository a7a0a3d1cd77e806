"""Walking a folder the kernel can write to, without letting it brick the session.

Code in the kernel controls the working folder: 1,200 nested folders made every recursive
walk (``os.walk`` and ``shutil.rmtree`` recurse in Python 3.11) fail with ``RecursionError``
on every later run. Everything here is iterative (an explicit stack), never follows a
symlink, and stops at a depth and an entry count, saying what it skipped.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

MAX_DEPTH = 32           # folders deeper than this are not looked into
MAX_ENTRIES = 20_000     # directory entries looked at per walk
MAX_FILES = 5_000        # files listed per walk


@dataclass
class Walk:
    """Files under a root: ``rel path -> (mtime_ns, size)``, and what was skipped."""

    files: dict[str, tuple[int, int]] = field(default_factory=dict)
    too_deep: int = 0        # folders not entered: deeper than max_depth
    truncated: bool = False  # stopped at max_entries or max_files

    def note(self, max_depth: int = MAX_DEPTH) -> str | None:
        """What was left out, in words (None when nothing was)."""
        parts = []
        if self.too_deep:
            parts.append(f"{self.too_deep} folder(s) nested deeper than {max_depth} levels were not "
                         "looked into")
        if self.truncated:
            parts.append(f"the working folder has too many entries: only the first {len(self.files):,} "
                         "files were looked at")
        if not parts:
            return None
        return "Looking for returned files: " + "; ".join(parts) + "."


def walk_files(root: Path | str, *, max_depth: int = MAX_DEPTH, max_entries: int = MAX_ENTRIES,
               max_files: int = MAX_FILES, skip_hidden: bool = True) -> Walk:
    """Regular files under ``root`` (not through symlinks), breadth first, within the caps."""
    out = Walk()
    root = str(root)
    stack: list[tuple[str, int]] = [("", 0)]
    seen = 0
    while stack:
        rel_dir, depth = stack.pop()
        try:
            with os.scandir(os.path.join(root, rel_dir) if rel_dir else root) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in sorted(entries, key=lambda e: e.name):
            seen += 1
            if seen > max_entries or len(out.files) >= max_files:
                out.truncated = True
                return out
            name = entry.name
            rel = os.path.join(rel_dir, name) if rel_dir else name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if skip_hidden and (name.startswith(".") or name == "__pycache__"):
                        continue
                    if depth + 1 > max_depth:
                        out.too_deep += 1
                        continue
                    stack.append((rel, depth + 1))
                elif entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    out.files[rel] = (st.st_mtime_ns, st.st_size)
            except OSError:
                continue
    return out


def remove_tree(path: Path | str) -> bool:
    """Delete a folder and everything in it, however deep (never follows a symlink);
    True when it is gone."""
    path = str(path)
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
            return True
    except FileNotFoundError:
        return True
    except OSError:
        return False
    stack = [path]
    failed: set[str] = set()
    while stack:
        top = stack[-1]
        try:
            with os.scandir(top) as it:
                entries = list(it)
        except OSError:
            entries = []
        subdirs = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.path not in failed:
                        subdirs.append(entry.path)
                else:
                    os.unlink(entry.path)
            except OSError:
                pass
        if subdirs:
            stack.extend(subdirs)
            continue
        stack.pop()
        try:
            os.rmdir(top)
        except FileNotFoundError:
            pass
        except OSError:  # not empty (a file we could not delete): give up on this branch
            failed.add(top)
            if top == path:
                return False
    return not os.path.lexists(path)


def chown_tree(path: Path | str, uid: int, *, max_entries: int = 200_000) -> None:
    """Give a folder and what is in it to ``uid`` (iteratively, never through symlinks)."""
    stack = [str(path)]
    done = 0
    while stack and done < max_entries:
        top = stack.pop()
        try:
            if os.lstat(top).st_uid != uid:
                os.lchown(top, uid, uid)
            with os.scandir(top) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            done += 1
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.stat(follow_symlinks=False).st_uid != uid:
                    os.lchown(entry.path, uid, uid)
            except OSError:
                pass

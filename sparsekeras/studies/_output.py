"""Output folders: a command replaces what it wrote, and nothing else.

The rule, stated in docs/semantics.md ("Output folders"): a command
writes its files into a temporary folder beside `--out` and moves them
into `--out` only when the whole run has succeeded; it records what it
wrote in a manifest (`.sparsekeras-<command>.json`), so that its next run
into the same folder replaces those files and removes the ones it no
longer writes; any other file in the way, or a symbolic link, is refused
before anything is loaded or trained, unless `overwrite` is given, and a
symbolic link is then replaced by the file, never written through.

Also `write_json`, the one JSON writer of the studies: non-finite numbers
become `null`, and the file is written whole or not at all.
"""

import json
import math
import os
import shutil
import tempfile

SHOWN_CONFLICTS = 5


class UserError(ValueError):
    """An error in what the user asked for, not in sparsekeras.

    The command line prints its message as one line and exits with
    status 2.
    """


def manifest_name(command):
    """The file that records what `command` wrote in a folder."""
    return f".sparsekeras-{command}.json"


class OutputFolder:
    """A folder that a command fills, all at once, at the end of a run.

    Checked when constructed: a `UserError` names the files in the way.
    Use it as a context manager; write each file to `path(name)`; on a
    clean exit the files move into `out` and the manifest is rewritten, on
    an exception nothing in `out` changes.

    Args:
        out: the output folder; created at the end if it does not exist.
        command: the command's name, e.g. `"compare"`.
        names: every file name the run may write (plain names, no folder).
        overwrite: replace files in the way that another run or the user
            put there (symbolic links are replaced, never followed).
    """

    def __init__(self, out, command, names, *, overwrite=False):
        self.out = os.fspath(out)
        self.command = command
        self.names = tuple(names)
        self.overwrite = overwrite
        self._staging = None
        for name in (*self.names, self._manifest):
            _check_plain_name(name)
        self._earlier = self._check()

    @property
    def _manifest(self):
        return manifest_name(self.command)

    def _check(self):
        """The files of the earlier run, after refusing what is in the way."""
        out = self.out
        if os.path.islink(out):
            raise UserError(
                f"--out {out!r} is a symbolic link; expected a folder (or a "
                "path that does not exist yet)"
            )
        if not os.path.lexists(out):
            self._check_creatable()
            return ()
        if not os.path.isdir(out):
            raise UserError(f"--out {out!r} is not a folder")
        earlier = self._read_manifest()
        in_the_way = []
        for name in (*self.names, self._manifest):
            path = os.path.join(out, name)
            if not os.path.lexists(path):
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                raise UserError(
                    f"--out {out!r} holds a folder named {name!r}, where "
                    f"`{self.command}` writes a file; move it away"
                )
            if os.path.islink(path) or name not in earlier:
                in_the_way.append(name)
        if in_the_way and not self.overwrite:
            shown = ", ".join(in_the_way[:SHOWN_CONFLICTS])
            more = len(in_the_way) - SHOWN_CONFLICTS
            shown += f" and {more} more" if more > 0 else ""
            raise UserError(
                f"--out {out!r} holds {len(in_the_way)} file(s) that an "
                f"earlier `{self.command}` did not write there: {shown}; "
                "pass --overwrite to replace them, or choose another --out"
            )
        return earlier

    def _check_creatable(self):
        parent = os.path.dirname(os.path.abspath(self.out))
        while not os.path.lexists(parent):
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent):
            raise UserError(
                f"--out {self.out!r} cannot be made: {parent!r} is a file, "
                "not a folder"
            )
        if not os.access(parent, os.W_OK):
            raise UserError(
                f"--out {self.out!r} cannot be made: no permission to write "
                f"in {parent!r}"
            )

    def _read_manifest(self):
        path = os.path.join(self.out, self._manifest)
        if not os.path.isfile(path) or os.path.islink(path):
            return ()
        try:
            with open(path) as file:
                names = json.load(file)["files"]
            for name in names:
                _check_plain_name(name)
        except (OSError, ValueError, KeyError, TypeError):
            # Not a manifest this command wrote: its files are the user's.
            return ()
        return (*names, self._manifest)

    def __enter__(self):
        parent = os.path.dirname(os.path.abspath(self.out))
        while not os.path.isdir(parent):
            parent = os.path.dirname(parent)
        self._staging = tempfile.mkdtemp(
            prefix=f".{os.path.basename(os.path.abspath(self.out))}-",
            suffix=".partial",
            dir=parent,
        )
        return self

    @property
    def staging(self):
        """The temporary folder the run writes into, inside `with`."""
        return self._staging

    def path(self, name):
        """Where the run writes the file `name` (in the temporary folder)."""
        if name not in self.names:
            raise ValueError(
                f"Invalid file name for `{self.command}`, expected one of "
                f"{self.names}. Received: name={name!r}"
            )
        return os.path.join(self._staging, name)

    def __exit__(self, exc_type, exc_value, traceback):
        try:
            if exc_type is None:
                self._move_into_place()
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)
        return False

    def _move_into_place(self):
        # Files may have appeared in `out` while the run trained.
        self._earlier = self._check()
        written = [n for n in self.names if os.path.isfile(self.path(n))]
        write_json(
            os.path.join(self._staging, self._manifest),
            {"command": self.command, "files": written},
        )
        os.makedirs(self.out, exist_ok=True)
        for name in (*written, self._manifest):
            target = os.path.join(self.out, name)
            if os.path.islink(target):
                os.unlink(target)
            os.replace(os.path.join(self._staging, name), target)
        for name in set(self._earlier) - {*written, self._manifest}:
            path = os.path.join(self.out, name)
            if os.path.isfile(path) and not os.path.islink(path):
                os.remove(path)


def _check_plain_name(name):
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or os.path.basename(name) != name
        or "/" in name
        or "\\" in name
    ):
        raise ValueError(
            "Invalid output file name, expected a plain file name. "
            f"Received: {name!r}"
        )


def write_json(path, content):
    """Writes `content` as JSON, whole or not at all; non-finite -> `null`.

    Args:
        path: the file to write; replaced in one step.
        content: dicts, lists, strings, numbers, booleans and `None`.

    Returns:
        `content` with every NaN or infinite float replaced by `None`.
    """
    finite = finite_or_none(content)
    text = json.dumps(finite, indent=2, allow_nan=False)
    folder = os.path.dirname(os.path.abspath(path))
    descriptor, partial = tempfile.mkstemp(suffix=".partial", dir=folder)
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
        # mkstemp makes the file private (0600); give it the usual mode.
        os.chmod(partial, 0o666 & ~_umask())
        os.replace(partial, path)
    except BaseException:
        os.remove(partial)
        raise
    return finite


def _umask():
    umask = os.umask(0o22)
    os.umask(umask)
    return umask


def finite_or_none(content):
    """`content` with every NaN or infinite float replaced by `None`."""
    if isinstance(content, float):
        return content if math.isfinite(content) else None
    if isinstance(content, dict):
        return {key: finite_or_none(value) for key, value in content.items()}
    if isinstance(content, (list, tuple)):
        return [finite_or_none(value) for value in content]
    return content

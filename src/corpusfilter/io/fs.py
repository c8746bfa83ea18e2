"""Where files live: local paths and file-system URLs (``s3://``, ``gs://``, ``hf://``, ...).

Every input and output location is a string: a local path (made absolute) or a URL. This
module turns one into a `pyarrow.fs.FileSystem` and a path inside it, so the rest of the code
reads and writes through one interface:

* ``s3://`` and ``gs://`` use pyarrow's own file systems (no extra dependency). They are
  configured the standard way: for S3 the AWS environment variables (``AWS_ACCESS_KEY_ID``,
  ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3``,
  ``AWS_PROFILE``) and for GCS the Google application credentials.
* any other scheme (``hf://``, ``az://``, ``http://``, ...) goes through fsspec when it is
  installed with the scheme's implementation, wrapped in pyarrow's ``FSSpecHandler``.
* ``storage_options`` in a pipeline file hold keyword arguments per scheme for that file
  system class (``s3: {endpoint_override: ..., region: ...}``). They are written to
  ``run.json``, so secrets are refused there: credentials belong in the environment.
"""

from __future__ import annotations

import fnmatch
import os
import re
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from corpusfilter.core.errors import ConfigError, InputError

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Option names that would put a credential into run.json (matched as substrings).
_SECRET_WORDS = ("secret", "password", "token", "session", "credential", "access_key",
                 "key_id", "account_key", "sas")


def scheme_of(location: str) -> str | None:
    """The URL scheme (``s3``, ``gs``, ...), or None for a local path (``file://`` too)."""
    m = _URL.match(location)
    if m is None or m.group(1).lower() == "file":
        return None
    return m.group(1).lower()


def is_url(location: str) -> bool:
    return scheme_of(str(location)) is not None


def absolute(location: str | os.PathLike[str]) -> str:
    """A local path made absolute (so run.json works from any directory); URLs unchanged."""
    s = os.fspath(location)
    if s.startswith("file://"):
        s = s[len("file://"):]
    return s if is_url(s) else os.path.abspath(s)


def join(base: str, *parts: str) -> str:
    if is_url(base):
        return "/".join([base.rstrip("/"), *parts])
    return os.path.join(base, *parts)


def check_storage_options(options: Any, source: str) -> dict[str, dict[str, Any]]:
    """Validate ``storage_options:`` (a mapping scheme → keyword arguments, no secrets)."""
    if options is None:
        return {}
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise ConfigError(f"{source}: storage_options maps a URL scheme to that file system's "
                          f"options, e.g. storage_options: {{s3: {{region: us-east-1}}}}")
    for scheme, opts in options.items():
        for key in opts:
            if any(w in str(key).lower() for w in _SECRET_WORDS):
                raise ConfigError(
                    f"{source}: storage_options.{scheme}.{key} looks like a credential; it "
                    f"would be written to run.json. Set it in the environment instead "
                    f"(e.g. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for s3)")
    return options


def _s3(options: dict[str, Any]) -> pafs.FileSystem:
    opts = dict(options)
    # pyarrow reads the AWS credential variables itself; the endpoint variables of the AWS
    # SDKs (used by S3-compatible stores: MinIO, Ceph, R2, ...) are applied here.
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint and "endpoint_override" not in opts:
        opts["endpoint_override"] = endpoint
    if "region" not in opts and (os.environ.get("AWS_REGION")
                                 or os.environ.get("AWS_DEFAULT_REGION")):
        opts["region"] = os.environ.get("AWS_REGION") or os.environ["AWS_DEFAULT_REGION"]
    return pafs.S3FileSystem(**opts)


def _fsspec(location: str, scheme: str, options: dict[str, Any]) -> tuple[pafs.FileSystem, str]:
    try:
        import fsspec
    except ImportError:
        raise InputError(f"{location}: reading {scheme}:// needs fsspec and its {scheme} "
                         f"implementation; pip install fsspec (and e.g. huggingface_hub for "
                         f"hf://, adlfs for az://)") from None
    try:
        fs, path = fsspec.core.url_to_fs(location, **options)
    except (ImportError, ValueError) as e:
        raise InputError(f"{location}: no usable file system for {scheme}:// ({e})") from None
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


def resolve(location: str, storage_options: dict[str, dict[str, Any]] | None = None
            ) -> tuple[pafs.FileSystem, str]:
    """The file system holding ``location`` and the path inside it."""
    location = absolute(location)
    scheme = scheme_of(location)
    if scheme is None:
        return pafs.LocalFileSystem(), location
    options = (storage_options or {}).get(scheme, {})
    rest = location[len(scheme) + 3:]
    try:
        if scheme in ("s3", "s3a"):
            return _s3(options), rest
        if scheme in ("gs", "gcs"):
            return pafs.GcsFileSystem(**options), rest
    except (TypeError, pa.ArrowException) as e:
        raise InputError(f"{location}: cannot set up the {scheme} file system ({e}); check "
                         f"storage_options.{scheme}") from None
    return _fsspec(location, scheme, options)


def _rebuild(location: str, path: str) -> str:
    """A path inside the file system of ``location`` as a location string again."""
    scheme = scheme_of(location)
    return path if scheme is None else f"{scheme}://{path}"


def info(location: str, storage_options: dict | None = None) -> pafs.FileInfo:
    fs, path = resolve(location, storage_options)
    try:
        return fs.get_file_info(path)
    except (OSError, pa.ArrowException) as e:
        raise InputError(f"{location}: cannot reach it ({_short(e)})") from None


def exists(location: str, storage_options: dict | None = None) -> bool:
    return info(location, storage_options).type != pafs.FileType.NotFound


def list_files(location: str, storage_options: dict | None = None) -> list[str]:
    """Every file under a directory (prefix), recursively, sorted, as location strings."""
    fs, path = resolve(location, storage_options)
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    except (OSError, pa.ArrowException) as e:
        raise InputError(f"{location}: cannot list it ({_short(e)})") from None
    return sorted(_rebuild(absolute(location), i.path) for i in infos
                  if i.type == pafs.FileType.File)


def glob(pattern: str, storage_options: dict | None = None) -> list[str]:
    """Files matching a glob on any file system (``**`` crosses directories)."""
    pattern = absolute(pattern)
    wild = min(pattern.index(c) for c in "*?[" if c in pattern)
    base = pattern[:wild].rsplit("/", 1)[0]
    regex = re.compile(fnmatch.translate(pattern.replace("**/", "*").replace("**", "*")))
    return [f for f in list_files(base, storage_options) if regex.match(f)]


def open_input_file(location: str, storage_options: dict | None = None) -> pa.NativeFile:
    """A random-access file (what Parquet needs)."""
    fs, path = resolve(location, storage_options)
    return fs.open_input_file(path)


def open_input_stream(location: str, storage_options: dict | None = None,
                      compression: str | None = None) -> pa.NativeFile:
    fs, path = resolve(location, storage_options)
    # compression=None is no decompression (pyarrow's default guesses from the extension)
    return fs.open_input_stream(path, compression=compression)


def upload(local_path: str, location: str, storage_options: dict | None = None) -> None:
    """Copy a local file to a location. On object stores the object appears whole or not at
    all (a multipart upload that never completes leaves nothing)."""
    fs, path = resolve(location, storage_options)
    pafs.copy_files(local_path, path, source_filesystem=pafs.LocalFileSystem(),
                    destination_filesystem=fs)


def write_bytes(data: bytes, location: str, storage_options: dict | None = None) -> None:
    fs, path = resolve(location, storage_options)
    with fs.open_output_stream(path, compression=None) as f:  # the bytes as given
        f.write(data)


def read_bytes(location: str, storage_options: dict | None = None) -> bytes:
    with open_input_stream(location, storage_options) as f:
        return f.read()


def delete(location: str, storage_options: dict | None = None) -> None:
    """Delete a file, or a directory (prefix) and everything under it; missing is fine."""
    fs, path = resolve(location, storage_options)
    i = fs.get_file_info(path)
    if i.type == pafs.FileType.Directory:
        fs.delete_dir_contents(path, missing_dir_ok=True)
        if not is_url(location):
            fs.delete_dir(path)
    elif i.type == pafs.FileType.File:
        fs.delete_file(path)


def _short(e: BaseException) -> str:
    """The first line of an Arrow / OS error (AWS errors run on for several lines)."""
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__

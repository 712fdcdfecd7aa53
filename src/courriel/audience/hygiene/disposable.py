"""The list of disposable mail domains: shipped with Courriel, replaceable by the operator.

The shipped file (`data/disposable_domains.txt`) is the fallback; an
operator who keeps a fresher list installs it with
`courriel hygiene update-disposable FILE_OR_URL`, which writes
`<data_dir>/hygiene/disposable_domains.txt`. That copy wins while it exists.
"""

from __future__ import annotations

import os
import tempfile
import urllib.request
from importlib import resources
from pathlib import Path

from courriel.core.errors import InvalidInputError

# A list of a few hundred thousand domains is a few MB; more is not a list.
MAX_LIST_BYTES = 20 * 1024 * 1024
FETCH_TIMEOUT_S = 30
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")


def installed_path(data_dir: Path) -> Path:
    """Where the operator's copy of the list lives."""
    return Path(data_dir) / "hygiene" / "disposable_domains.txt"


def parse_domains(text: str) -> frozenset[str]:
    """The domains of a list: one a line, "#" comments and blank lines ignored.

    Raises InvalidInputError naming the first line that is not a domain.
    """
    domains: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip().lower().rstrip(".")
        if not line:
            continue
        if "." not in line or not set(line) <= _LABEL_CHARS or ".." in line:
            raise InvalidInputError("source", f"line {number} is not a domain: {raw[:80]!r}")
        domains.add(line)
    return frozenset(domains)


def load_domains(data_dir: Path) -> frozenset[str]:
    """The operator's list when installed, else the shipped one."""
    path = installed_path(data_dir)
    if path.is_file():
        return parse_domains(path.read_text(encoding="utf-8"))
    shipped = resources.files("courriel.audience.hygiene") / "data" / "disposable_domains.txt"
    return parse_domains(shipped.read_text(encoding="utf-8"))


def is_disposable(domain: str, domains: frozenset[str]) -> bool:
    """Whether `domain` or one of its parents is on the list."""
    labels = domain.lower().split(".")
    return any(".".join(labels[i:]) in domains for i in range(len(labels) - 1))


def read_source(source: str) -> str:
    """The text of a list given as a file path or an http(s) URL."""
    if source.startswith(("http://", "https://")):
        # The operator names the URL on the command line: it is theirs to trust.
        with urllib.request.urlopen(source, timeout=FETCH_TIMEOUT_S) as response:  # noqa: S310
            data: bytes = response.read(MAX_LIST_BYTES + 1)
    elif "://" in source:
        raise InvalidInputError("source", "give a file path or an http(s) URL")
    else:
        path = Path(source)
        if not path.is_file():
            raise InvalidInputError("source", f"no file {source!r}")
        with path.open("rb") as stream:
            data = stream.read(MAX_LIST_BYTES + 1)
    if len(data) > MAX_LIST_BYTES:
        raise InvalidInputError("source", f"larger than {MAX_LIST_BYTES // (1024 * 1024)} MB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError("source", "not UTF-8 text") from None


def install_list(data_dir: Path, source: str) -> int:
    """Replace the operator's list with the one at `source`; the number of domains.

    Checked whole before anything is written, then renamed into place, so a
    bad or half-downloaded list leaves the previous one in force.
    """
    domains = parse_domains(read_source(source))
    if not domains:
        raise InvalidInputError("source", "the list holds no domain")
    target = installed_path(data_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".disposable-", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as tmp:
            tmp.write("\n".join(sorted(domains)) + "\n")
        Path(tmp_name).replace(target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return len(domains)

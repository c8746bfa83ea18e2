"""`url_blocklist`: remove documents whose URL's domain is on a user-supplied block list.

Nothing is downloaded: the user points ``path`` at a text file (one domain per line, ``#``
comments and blank lines ignored; a line may be a bare domain or a URL, from which the host is
taken) or passes ``domains`` directly. Such lists are how RefinedWeb (Penedo et al. 2023, §G.1)
and FineWeb drop adult and fraudulent sites (the UT1 blacklist); we ship none, because which
list is right is the user's call.

A blocked domain also blocks its subdomains (``example.com`` blocks ``www.example.com`` and
``a.b.example.com``, not ``badexample.com``). Hosts are lower-cased, a leading ``www.`` is not
special, a port and a trailing dot are ignored. The reason is ``url_blocklist.blocked`` and the
ledger detail names the matched list entry. Documents without a URL (null, empty or
unparseable) are kept and counted (``no_url``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from corpusfilter.core.docs import Docs
from corpusfilter.core.errors import ConfigError
from corpusfilter.core.params import ColumnName
from corpusfilter.core.registry import register
from corpusfilter.core.stage import Filter, Rule


def host_of(url: str | None) -> str | None:
    """The lower-cased host of a URL (scheme optional), or None when there is none."""
    if not url:
        return None
    u = url.strip()
    if "://" not in u:
        u = "//" + u
    try:
        host = urlsplit(u).hostname
    except ValueError:
        return None
    if not host:
        return None
    return host.rstrip(".").lower() or None


def read_domains(lines: Iterable[str], origin: str) -> set[str]:
    out: set[str] = set()
    for n, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        host = host_of(line)
        if host is None or " " in host:
            raise ValueError(f"{origin}, line {n}: {raw.strip()!r} is not a domain")
        out.add(host)
    return out


@register
class UrlBlocklist(Filter):
    """Remove documents whose URL domain (or a parent domain) is on a block list.

    Reason ``url_blocklist.blocked``; the ledger detail names the matched entry. The list is
    supplied by the user (file or inline); nothing is downloaded.

    Args:
        path: text file with one domain (or URL) per line; ``#`` starts a comment.
        domains: domains given inline (added to those from ``path``).
        column: the column holding the document URL.
    """

    name = "url_blocklist"
    version = 1

    def __init__(self, path: str | None = None, domains: str | list[str] | None = None,
                 column: ColumnName = "url"):
        if path is None and not domains:
            raise ValueError("give a block list: path (a file with one domain per line) "
                             "and/or domains")
        blocked: set[str] = set()
        if path is not None:
            p = Path(path).expanduser()
            if not p.is_file():
                raise ValueError(f"block list file {str(p)!r} not found")
            with p.open(encoding="utf-8") as f:
                blocked |= read_domains(f, str(p))
        if domains:
            if isinstance(domains, str):
                domains = [domains]
            blocked |= read_domains(domains, "domains")
        if not blocked:
            raise ValueError("the block list is empty")
        self.path, self.column = path, column
        self.blocked = frozenset(blocked)

    def match(self, host: str) -> str | None:
        """The block-list entry covering `host` (itself or a parent domain), or None."""
        parts = host.split(".")
        for i in range(len(parts)):
            cand = ".".join(parts[i:])
            if cand in self.blocked:
                return cand
        return None

    def _scan(self, docs: Docs) -> tuple[np.ndarray, list[dict[str, Any] | None]]:
        n = docs.num_rows
        col = docs.column(self.column)
        if col is None:
            raise ConfigError(f"url_blocklist: column {self.column!r} not found (columns: "
                              f"{', '.join(docs.batch.schema.names)}); set `column:` to the "
                              f"column holding the document URL")
        blocked = np.full(n, np.nan)
        detail: list[dict[str, Any] | None] = [None] * n
        no_url = 0
        for i, url in enumerate(col.to_pylist()):
            host = host_of(url if isinstance(url, str) else None)
            if host is None:
                no_url += 1
                continue
            hit = self.match(host)
            blocked[i] = 0.0 if hit is None else 1.0
            if hit is not None:
                detail[i] = {"domain": hit, "host": host}
        docs.count("no_url", no_url)
        return blocked, detail

    def score(self, docs: Docs) -> dict[str, np.ndarray]:
        """``blocked``: 1 when the URL's domain is on the list, 0 when not, NaN without URL."""
        return {"blocked": self._scan(docs)[0]}

    def rules(self, docs: Docs) -> list[Rule]:
        return [Rule("blocked", "blocked", max=0.0)]

    def measure(self, docs: Docs) -> tuple[dict[str, np.ndarray],
                                           list[dict[str, Any] | None] | None]:
        blocked, detail = self._scan(docs)
        return {"blocked": blocked}, detail

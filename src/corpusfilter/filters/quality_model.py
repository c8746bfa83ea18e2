"""Quality models: corpusfilter's own hashed n-gram logistic regression, and fastText files.

Both expose ``score(texts) -> probability of the good label`` (`QualityModel`).

Own model (``.cfq``, written by ``corpusfilter train-quality``): lower-cased ``\\w+`` words and
word bigrams (fastText's ``wordNgrams 2``, as in DCLM's quality classifier), hashed with
xxh64 into ``buckets`` features, weighted log(1 + count) and L2-normalised per document; an
L2-regularised logistic regression trained by full-batch AdaGrad (deterministic: no sampling).
Stored quantised: the nonzero weights as int8 with one scale, in an ``.npz`` container read
with ``allow_pickle=False``. Why not fastText's trainer: the ``fasttext`` package must be
compiled on install and shares the ``fasttext`` module name with ``fasttext-predict`` (the one
we ship inference on), whose files it overwrites; its 0.9.3 wrapper fails under NumPy 2
(docs/quality.md). Defaults (bigrams, l2 1e-4, 300 epochs) from 5-fold CV on the DCLM human
labels of the dev data (benchmarks/quality.py, docs/quality.md).

fastText model (``.bin``/``.ftz``: DCLM's OH2.5+ELI5 classifier, FineWeb-Edu distillations,
...): loaded with ``fasttext-predict``; the score is the probability of ``good_label``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import xxhash

FORMAT = "corpusfilter-quality/1"
SUFFIX = ".cfq"
_TOKEN = re.compile(r"\w+")


class QualityModel(Protocol):
    name: str

    def score(self, texts: list[str]) -> np.ndarray: ...


def features(texts: list[str], buckets: int, ngrams: int, max_chars: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse features (row, column, value) of `texts`: hashed word n-grams, log(1+count),
    L2-normalised per document."""
    rows, cols, vals = [], [], []
    for i, text in enumerate(texts):
        toks = _TOKEN.findall(text[:max_chars].lower())
        grams = list(toks)
        for n in range(2, ngrams + 1):
            grams += [" ".join(toks[j:j + n]) for j in range(len(toks) - n + 1)]
        if not grams:
            continue
        h = np.fromiter((xxhash.xxh64_intdigest(g.encode()) % buckets for g in grams),
                        dtype=np.int64, count=len(grams))
        u, c = np.unique(h, return_counts=True)
        v = np.log1p(c)
        rows.append(np.full(len(u), i, dtype=np.int64))
        cols.append(u)
        vals.append(v / np.linalg.norm(v))
    if not rows:
        return (np.zeros(0, np.int64),) * 2 + (np.zeros(0),)  # type: ignore[return-value]
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


class HashedLogReg:
    """corpusfilter's trainable quality model (see the module docstring)."""

    def __init__(self, weights: np.ndarray, bias: float, buckets: int, ngrams: int,
                 max_chars: int, good_label: str, meta: dict[str, Any] | None = None,
                 name: str = "hashed-logreg"):
        self.weights = weights
        self.bias = float(bias)
        self.buckets = buckets
        self.ngrams = ngrams
        self.max_chars = max_chars
        self.good_label = good_label
        self.meta = dict(meta or {})
        self.name = name

    @classmethod
    def train(cls, texts: list[str], labels: np.ndarray, buckets: int = 1 << 20,
              ngrams: int = 2, max_chars: int = 20000, l2: float = 1e-4, epochs: int = 300,
              lr: float = 0.5, good_label: str = "1") -> HashedLogReg:
        """Fit on `texts` with `labels` (1 good, 0 bad)."""
        y = np.asarray(labels, dtype=np.float64)
        if len(set(y.tolist())) != 2:
            raise ValueError("training needs both good (1) and bad (0) examples")
        r, c, v = features(texts, buckets, ngrams, max_chars)
        n = len(texts)
        used, c = np.unique(c, return_inverse=True)  # train only the buckets that occur
        m = len(used)
        wu = np.zeros(m)
        b = 0.0
        g2 = np.full(m, 1e-8)
        gb2 = 1e-8
        for _ in range(epochs):
            z = np.bincount(r, weights=wu[c] * v, minlength=n) + b
            res = 1.0 / (1.0 + np.exp(-z)) - y
            gw = np.bincount(c, weights=res[r] * v, minlength=m) / n + l2 * wu
            gb = float(res.mean())
            g2 += gw * gw
            gb2 += gb * gb
            wu -= lr * gw / np.sqrt(g2)
            b -= lr * gb / np.sqrt(gb2)
        w = np.zeros(buckets)
        w[used] = wu
        return cls(w, b, buckets, ngrams, max_chars, good_label)

    def score(self, texts: list[str]) -> np.ndarray:
        r, c, v = features(texts, self.buckets, self.ngrams, self.max_chars)
        z = np.bincount(r, weights=self.weights[c] * v, minlength=len(texts)) + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def quantised(self) -> HashedLogReg:
        """The model as saved: nonzero weights rounded to int8 steps of max|w| / 127."""
        scale = float(np.abs(self.weights).max()) / 127 or 1.0
        q = np.round(self.weights / scale).astype(np.int8)
        return HashedLogReg(q.astype(np.float64) * scale, self.bias, self.buckets, self.ngrams,
                            self.max_chars, self.good_label, self.meta, self.name)

    def save(self, path: Path) -> None:
        scale = float(np.abs(self.weights).max()) / 127 or 1.0
        q = np.round(self.weights / scale).astype(np.int8)
        idx = np.flatnonzero(q).astype(np.uint32)
        header = {"format": FORMAT, "buckets": self.buckets, "ngrams": self.ngrams,
                  "max_chars": self.max_chars, "bias": self.bias, "scale": scale,
                  "good_label": self.good_label, "meta": self.meta}
        with open(path, "wb") as f:  # np.savez would append .npz to a str path
            np.savez_compressed(f, header=np.array(json.dumps(header, sort_keys=True)),
                                index=idx, value=q[idx])

    @classmethod
    def load(cls, path: Path) -> HashedLogReg:
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(str(z["header"]))
                idx, val = z["index"], z["value"]
        except (OSError, ValueError, KeyError) as e:
            raise ValueError(f"quality model {path} is not a corpusfilter model ({e})") from e
        if header.get("format") != FORMAT:
            raise ValueError(f"quality model {path} has format {header.get('format')!r}, "
                             f"expected {FORMAT!r}")
        w = np.zeros(int(header["buckets"]))
        w[idx.astype(np.int64)] = val.astype(np.float64) * float(header["scale"])
        return cls(w, header["bias"], int(header["buckets"]), int(header["ngrams"]),
                   int(header["max_chars"]), header["good_label"], header.get("meta"),
                   name=path.name)


class FastTextQuality:
    """A fastText classifier file; score = probability of `good_label` (``__label__`` optional)."""

    def __init__(self, model: Any, good_label: str, name: str):
        self.model = model
        self.name = name
        labels = [lab for _, lab in model.f.predict("x\n", -1, -1.0, "strict")]
        full = good_label if good_label.startswith("__label__") else f"__label__{good_label}"
        if full not in labels:
            raise ValueError(f"good_label {good_label!r} is not a label of {name}; its labels: "
                             f"{', '.join(sorted(x.removeprefix('__label__') for x in labels))}")
        self.good = full

    def score(self, texts: list[str]) -> np.ndarray:
        out = np.zeros(len(texts))
        predict = self.model.f.predict
        for i, t in enumerate(texts):
            for p, lab in predict(t.replace("\n", " ") + "\n", -1, 0.0, "strict"):
                if lab == self.good:
                    out[i] = min(float(p), 1.0)
                    break
        return out


def load_quality_model(path: Path, sha256: str | None, good_label: str | None) -> QualityModel:
    """A `.cfq` model of corpusfilter, or a fastText `.bin`/`.ftz` (needs `good_label`)."""
    if path.suffix == SUFFIX:
        if sha256 is not None:
            from corpusfilter.filters.langid_backends import sha256_of

            if sha256_of(path) != sha256.lower():
                raise ValueError(f"quality model {path} does not match model_sha256")
        return HashedLogReg.load(path)
    if good_label is None:
        raise ValueError(f"model {path.name} is a fastText file: set good_label (e.g. hq for "
                         f"DCLM's classifier)")
    from corpusfilter.filters.langid_backends import load_model

    return FastTextQuality(load_model(path, sha256), good_label, path.name)

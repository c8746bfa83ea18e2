"""Language-ID backends of the `language` stage: fastText lid.176, CLD2, and their ensemble.

Each backend turns a list of samples (one line each, newlines already replaced) into a
`Predictions`: a label per sample in corpusfilter's codes (`lang_codes`), its score, which
model decided, and why a sample is ``und`` where it is.

* ``fasttext``: the shipped lid.176.ftz or a local fastText model (`load_model`).
* ``cld2``: Compact Language Detector 2 through ``pycld2`` (Apache-2.0; its model is compiled
  into the wheel, so nothing downloads). Score = the share of the text CLD2 gives the top
  language (its ``percent`` / 100); CLD2 has no probability.
* ``ensemble``: CLD2 first, lid.176 only where CLD2 is not decisive (`Ensemble`).

Why an ensemble and its rules: on the 37,142 dev sentences of ``langid.parquet`` (75
languages), lid.176 alone has macro recall 0.798 and no label at all for 8 languages; CLD2
alone 0.941 but 5–16 points lower than lid.176 on es/fr/it; the ensemble 0.955 with es/fr/
it/de/en/pt within 0.01 of lid.176, calling lid.176 on about a quarter of the sentences
(docs/language.md, ``benchmarks/language.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpusfilter.filters import lang_codes

_models: dict[str, Any] = {}
_models_lock = threading.Lock()

# Unicode scripts that lid.176 has labels for (RE2 names), besides Common and Inherited
# (punctuation, digits, combining marks). Letters in any other script (Cherokee, Tifinagh,
# N'Ko, Ol Chiki, Canadian syllabics, ...) cannot get a right label from it.
LID176_SCRIPTS = (
    "Latin", "Cyrillic", "Greek", "Arabic", "Hebrew", "Armenian", "Georgian", "Devanagari",
    "Bengali", "Gurmukhi", "Gujarati", "Oriya", "Tamil", "Telugu", "Kannada", "Malayalam",
    "Sinhala", "Thai", "Lao", "Tibetan", "Myanmar", "Khmer", "Hangul", "Han", "Hiragana",
    "Katakana", "Ethiopic", "Thaana", "Inherited", "Common")

# Ensemble rules (measured on the dev sentences of langid.parquet, benchmarks/language.py).
# CLD2 decides alone when it is reliable, gives its top language at least this share of the
# text, and that language is not one it confuses with a neighbour (below).
CLD2_DECISIVE_SHARE = 0.9
# Labels CLD2 gives to text that lid.176 labels better: English (CLD2 calls 28% of the dev
# sentences it labels en another language, often ones with an English name or loanword),
# the Romance/Germanic languages where its recall is 5-16 points lower, and the dialect
# continua where both models are weak. For these lid.176 is asked.
CLD2_DEFER = frozenset({"en", "es", "fr", "pt", "it", "ca", "gl", "de", "nl", "la",
                        "hr", "sr", "bs", "id", "ms", "no", "nn", "da"})
# lid.176 keeps its label at this probability or more, unless the label is in LID_CONFUSED;
# below LID_UNSURE, with CLD2 unknown too, the result is und. lid.176's scores are low for
# close languages even when right (docs/language.md), hence 0.5 rather than 0.65.
LID_CONFIDENT = 0.5
LID_UNSURE = 0.3
# Labels lid.176 spreads over a dialect continuum (hr/sr/bs/sh, id/ms, no/nn/da): where it
# says one of these, CLD2's answer is taken when it has one.
LID_CONFUSED = frozenset({"hr", "sr", "bs", "sh", "id", "ms", "no", "nn", "da"})

# C0/C1 control characters: CLD2 rejects them as invalid UTF-8 (real text has them from
# cp1252 mojibake, e.g. \x80 for the euro sign), so they become spaces before CLD2.
_CONTROL = str.maketrans({c: " " for c in [*range(0x00, 0x09), 0x0B, 0x0C,
                                           *range(0x0E, 0x20), *range(0x7F, 0xA0)]})


@dataclass
class Predictions:
    """Per sample: label (None: no text; ``und``: undetermined), score (NaN where none),
    the model that decided (``lid.176`` or the model file's name, ``cld2``, None) and why a
    label is ``und`` (None elsewhere)."""

    labels: list[str | None]
    scores: np.ndarray
    model: list[str | None]
    und_reason: list[str | None]

    @classmethod
    def none(cls, n: int) -> Predictions:
        """`n` samples with no label yet (filled in place by a backend)."""
        return cls([None] * n, np.full(n, np.nan), [None] * n, [None] * n)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_model(path: Path, sha256: str | None) -> Any:
    """Load (once per process) a fastText model after checking its SHA-256 if one is given."""
    key = f"{path.resolve()}:{sha256}"
    with _models_lock:
        model = _models.get(key)
        if model is not None:
            return model
        if not path.is_file():
            raise FileNotFoundError(f"fastText model {path} not found")
        if sha256 is not None:
            actual = sha256_of(path)
            if actual != sha256.lower():
                raise ValueError(f"fastText model {path} has SHA-256 {actual}, expected "
                                 f"{sha256.lower()}: the file is corrupt or not the expected "
                                 f"model; reinstall corpusfilter or fix model_path/model_sha256")
        import fasttext  # fasttext-predict; imported lazily (heavy, native)

        with contextlib.redirect_stderr(io.StringIO()):
            model = fasttext.load_model(str(path))
        _models[key] = model
        return model


def model_labels(model: Any) -> list[str]:
    """All labels a fastText model can predict, in corpusfilter's codes (fasttext-predict has
    no get_labels())."""
    # k=-1 with a threshold below 0 returns every label, whatever the text
    return sorted({lang_codes.from_fasttext(lab)
                   for _, lab in model.f.predict("x\n", -1, -1.0, "strict")})


class FastTextBackend:
    """A fastText language-ID model (lid.176.ftz shipped, or a local file)."""

    def __init__(self, model: Any, name: str, scripts: tuple[str, ...] | None):
        self.model = model
        self.name = name
        self.labels = frozenset(model_labels(model))
        # RE2 script names the model has labels for; None: unknown (no script guard)
        self.scripts = scripts

    def predict_one(self, sample: str) -> tuple[str | None, float]:
        out = self.model.f.predict(sample + "\n", 1, 0.0, "strict")  # no per-call NumPy
        if not out:
            return None, float("nan")
        prob, label = out[0]
        return lang_codes.from_fasttext(label), min(float(prob), 1.0)

    def predict(self, samples: list[str]) -> Predictions:
        n = len(samples)
        labels: list[str | None] = [None] * n
        scores = np.full(n, np.nan)
        for i, s in enumerate(samples):
            if s:
                labels[i], scores[i] = self.predict_one(s)
        return Predictions(labels, scores, [self.name if lab else None for lab in labels],
                           [None] * n)


class Cld2Backend:
    """CLD2 (``pycld2``): 160+ languages, including the African languages lid.176 lacks."""

    name = "cld2"
    scripts = None  # CLD2 reports scripts it cannot label itself (xx-Scrp)

    def __init__(self) -> None:
        import pycld2  # imported lazily: only the cld2 and ensemble backends need it

        self._detect = pycld2.detect
        self._error = pycld2.error
        self.labels = frozenset(x for x in (lang_codes.from_cld2(code)
                                            for _, code in pycld2.LANGUAGES) if x)

    def detect(self, sample: str) -> tuple[str | None, float, bool, str | None]:
        """(label, share of the text, reliable, und reason) for one sample."""
        try:
            reliable, _, details = self._detect(sample.translate(_CONTROL))
        except self._error:  # text CLD2 cannot read even after removing control characters
            return None, float("nan"), False, "unsure"
        code, percent = details[0][1], details[0][2]
        if code.startswith("xx-"):
            return lang_codes.UND, float("nan"), reliable, "unsupported_script"
        label = lang_codes.from_cld2(code)
        if label is None:
            return None, float("nan"), False, "unsure"
        return label, percent / 100.0, bool(reliable), None

    def predict(self, samples: list[str]) -> Predictions:
        out = Predictions.none(len(samples))
        labels, scores, model, und = out.labels, out.scores, out.model, out.und_reason
        for i, s in enumerate(samples):
            if not s:
                continue
            label, share, _, why = self.detect(s)
            if label is None or label == lang_codes.UND:
                labels[i], und[i] = lang_codes.UND, why
            else:
                labels[i], scores[i], model[i] = label, share, self.name
        return out


class Ensemble:
    """CLD2 where it is decisive, lid.176 where it is confident, CLD2 where lid.176 is unsure
    or answers from a set it confuses, ``und`` where both are unsure.

    Per sample: (1) CLD2 reliable with the top language at ≥ `CLD2_DECISIVE_SHARE` of the
    text, and that language either absent from lid.176 or not in `CLD2_DEFER` → CLD2's label
    (lid.176 is not called: this is why the ensemble is not slower than lid.176 alone);
    (2) else lid.176 at ≥ `LID_CONFIDENT` with a label outside `LID_CONFUSED` → lid.176's
    label; (3) else CLD2's label if it has one; (4) else lid.176's label at ≥ `LID_UNSURE`;
    (5) else ``und`` (reason ``unsure``). Text in a script CLD2 has no language for is
    ``und`` (reason ``unsupported_script``).
    """

    name = "ensemble"

    def __init__(self, lid: FastTextBackend, cld2: Cld2Backend):
        self.lid = lid
        self.cld2 = cld2
        self.labels = lid.labels | cld2.labels
        self.scripts = None  # CLD2 reports scripts it cannot label itself

    def predict(self, samples: list[str]) -> Predictions:
        out = Predictions.none(len(samples))
        labels, scores, model, und = out.labels, out.scores, out.model, out.und_reason
        lid_labels = self.lid.labels
        for i, s in enumerate(samples):
            if not s:
                continue
            c, share, reliable, why = self.cld2.detect(s)
            if why == "unsupported_script":
                labels[i], und[i] = lang_codes.UND, why
                continue
            if (c is not None and reliable and share >= CLD2_DECISIVE_SHARE
                    and (c not in lid_labels or c not in CLD2_DEFER)):
                labels[i], scores[i], model[i] = c, share, self.cld2.name
                continue
            lab, p = self.lid.predict_one(s)
            if lab is not None and p >= LID_CONFIDENT and lab not in LID_CONFUSED:
                labels[i], scores[i], model[i] = lab, p, self.lid.name
            elif c is not None:
                labels[i], scores[i], model[i] = c, share, self.cld2.name
            elif lab is not None and p >= LID_UNSURE:
                labels[i], scores[i], model[i] = lab, p, self.lid.name
            else:
                labels[i], und[i] = lang_codes.UND, "unsure"
        return out

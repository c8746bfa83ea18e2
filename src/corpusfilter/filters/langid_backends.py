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
alone 0.940 but 5–16 points lower than lid.176 on es/fr/it; the ensemble 0.959 with es/fr/
it/de/en/pt within 0.01 of lid.176, calling lid.176 on 15% of the sentences, which makes it
faster than lid.176 alone (docs/language.md, ``benchmarks/language.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.filters import lang_codes, lang_markers

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
# Labels CLD2 gives, even at >= 90% of the text, to much text of another language: its
# decisive answers are right for only 0.57-0.87 of the dev sentences labelled hr, sr, bs,
# id, ms, no, nn and 0 of those labelled gl; da (0.97) stays here because its errors are
# Norwegian and Swedish, which lid.176 separates better, and Maori (a test sentence CLD2
# calls Danish at 97%). For es, fr, pt, it, ca, de, nl and la CLD2's decisive answers are
# right for 0.96-1.00 and are final. For the labels listed here lid.176 is asked.
CLD2_DEFER = frozenset({"gl", "hr", "sr", "bs", "id", "ms", "no", "nn", "da"})
# English: CLD2's decisive "en" is right for 0.73 of the dev sentences it is given (a
# sentence with one English name or title is often called en), but for 0.96 where CLD2's
# own normalised score (its per-kilobyte language score, the 4th field of its details) is
# at least 900 -- as precise as its least precise label above (es). Only those skip
# lid.176, which makes the ensemble faster than lid.176 alone on English corpora.
CLD2_MIN_SCORE = {"en": 900}
# lid.176 keeps its label at this probability or more, unless the label is in LID_CONFUSED;
# below LID_UNSURE, with CLD2 unknown too, the result is und. lid.176's scores are low for
# close languages even when right (docs/language.md), hence 0.5 rather than 0.65.
LID_CONFIDENT = 0.5
LID_UNSURE = 0.3
# Labels lid.176 spreads over a dialect continuum (hr/sr/bs/sh, id/ms, no/nn/da): where it
# says one of these, CLD2's answer is taken when it has one.
LID_CONFUSED = frozenset({"hr", "sr", "bs", "sh", "id", "ms", "no", "nn", "da"})
# Bosnian / Croatian / Serbian (Latin script): labels the ensemble re-decides with word
# markers and both models' probabilities (`Ensemble._bcs`). "sh" is lid.176's
# Serbo-Croatian (Wikipedia) label, which is neither standard; it is counted for Bosnian.
BCS = frozenset({"hr", "bs", "sh", "sr"})
LID_TOP_K = 5  # lid.176 labels read for the bs/hr decision
# Malay / Indonesian: a label from this set is re-decided by marker words where they differ
# (`lang_markers.malay_or_indonesian`); both models confuse the two (docs/language.md).
MALAY_INDONESIAN = frozenset({"ms", "id"})

# C0/C1 control characters: CLD2 rejects them as invalid UTF-8 (real text has them from
# cp1252 mojibake, e.g. \x80 for the euro sign), so they become spaces before CLD2. Searched
# for first: translating every sample costs as much as CLD2's own call on a sentence.
_CONTROL_CODES = [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)]
_CONTROL = str.maketrans({c: " " for c in _CONTROL_CODES})
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# The same class for RE2, searched over a whole batch of samples at once (`has_control`).
_CONTROL_RE2 = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x{9f}]"


def has_control(samples: list[str]) -> np.ndarray:
    """Per sample, whether it holds a C0/C1 control character (`_CONTROL_RE`): one RE2
    search over the batch instead of a Python regex search per sample."""
    if not samples:
        return np.zeros(0, dtype=bool)
    hit = pc.match_substring_regex(pa.array(samples, pa.large_string()), _CONTROL_RE2)
    return hit.to_numpy(zero_copy_only=False).astype(bool)


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

    def predict_top(self, sample: str, k: int) -> dict[str, float]:
        """The `k` most probable labels of one sample and their probabilities."""
        out: dict[str, float] = {}
        for prob, label in self.model.f.predict(sample + "\n", k, 0.0, "strict"):
            lab = lang_codes.from_fasttext(label)
            out[lab] = out.get(lab, 0.0) + min(float(prob), 1.0)
        return out

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

    def details(self, sample: str, control: bool | None = None
                ) -> tuple[bool, tuple[tuple[Any, ...], ...]] | None:
        """CLD2's raw answer: (reliable, up to 3 (name, code, percent, normalised score));
        None for text CLD2 cannot read even after removing control characters. `control`:
        whether the sample has control characters, when the caller knows (`has_control`)."""
        try:
            if control if control is not None else _CONTROL_RE.search(sample):
                sample = sample.translate(_CONTROL)
            reliable, _, details = self._detect(sample)
        except self._error:
            return None
        return bool(reliable), details

    def detect(self, sample: str) -> tuple[str | None, float, bool, str | None]:
        """(label, share of the text, reliable, und reason) for one sample."""
        return self.read(self.details(sample))

    @staticmethod
    def read(raw: tuple[bool, tuple[tuple[Any, ...], ...]] | None
             ) -> tuple[str | None, float, bool, str | None]:
        """(label, share, reliable, und reason) of CLD2's top language in `details`."""
        if raw is None:
            return None, float("nan"), False, "unsure"
        reliable, details = raw
        code, percent = details[0][1], details[0][2]
        if code.startswith("xx-"):
            return lang_codes.UND, float("nan"), reliable, "unsupported_script"
        label = lang_codes.from_cld2(code)
        if label is None:
            return None, float("nan"), False, "unsure"
        return label, percent / 100.0, reliable, None

    def predict(self, samples: list[str]) -> Predictions:
        out = Predictions.none(len(samples))
        labels, scores, model, und = out.labels, out.scores, out.model, out.und_reason
        control = has_control(samples)
        for i, s in enumerate(samples):
            if not s:
                continue
            label, share, _, why = self.read(self.details(s, bool(control[i])))
            if label is None or label == lang_codes.UND:
                labels[i], und[i] = lang_codes.UND, why
            else:
                labels[i], scores[i], model[i] = label, share, self.name
        return out


class Ensemble:
    """CLD2 where it is decisive, lid.176 where it is confident, CLD2 where lid.176 is unsure
    or answers from a set it confuses, ``und`` where both are unsure; Bosnian / Croatian /
    Serbian (Latin script) and Malay / Indonesian re-decided from word markers (and, for
    Bosnian / Croatian without markers, both models' probabilities).

    Per sample: (1) CLD2 reliable with the top language at ≥ `CLD2_DECISIVE_SHARE` of the
    text, that language either absent from lid.176 or not in `CLD2_DEFER`, and CLD2's
    normalised score at least `CLD2_MIN_SCORE` for it (English) → CLD2's label (lid.176 is not
    called: this is why the ensemble is faster than lid.176 alone); (2) else lid.176 at ≥
    `LID_CONFIDENT` with a label outside `LID_CONFUSED` → lid.176's label; (3) else CLD2's
    label if it has one; (4) else lid.176's label at ≥ `LID_UNSURE`; (5) else ``und`` (reason
    ``unsure``). Text in a script CLD2 has no language for is ``und`` (reason
    ``unsupported_script``). (6) A label from `BCS` on mostly Latin text is re-decided by
    `_bcs`. (7) A label ms or id is replaced by the other where the text has more marker words
    of the other standard (`lang_markers.malay_or_indonesian`); score and model as in `_bcs`.
    """

    name = "ensemble"

    def __init__(self, lid: FastTextBackend, cld2: Cld2Backend):
        self.lid = lid
        self.cld2 = cld2
        self.labels = lid.labels | cld2.labels
        self.scripts = None  # CLD2 reports scripts it cannot label itself
        self.both = f"{lid.name}+{cld2.name}"

    def predict(self, samples: list[str]) -> Predictions:
        out = Predictions.none(len(samples))
        labels, scores, model, und = out.labels, out.scores, out.model, out.und_reason
        lid_labels = self.lid.labels
        control = has_control(samples)
        for i, s in enumerate(samples):
            if not s:
                continue
            raw = self.cld2.details(s, bool(control[i]))
            c, share, reliable, why = self.cld2.read(raw)
            if why == "unsupported_script":
                labels[i], und[i] = lang_codes.UND, why
                continue
            if (c is not None and reliable and share >= CLD2_DECISIVE_SHARE
                    and (c not in lid_labels or c not in CLD2_DEFER)
                    and (raw is not None and raw[1][0][3] >= CLD2_MIN_SCORE.get(c, 0))):
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
            if labels[i] in BCS and lang_markers.mostly_latin(s):
                decided = self._bcs(s, labels[i], raw)
                if decided is not None:
                    labels[i], scores[i], model[i] = *decided, self.both
            elif labels[i] in MALAY_INDONESIAN:
                side = lang_markers.malay_or_indonesian(s)
                if side is not None and side != labels[i]:
                    labels[i], scores[i], model[i] = side, self._mean_p(s, side, raw), self.both
        return out

    def _shares(self, sample: str, raw: tuple[bool, tuple[tuple[Any, ...], ...]] | None
                ) -> tuple[dict[str, float], dict[str, float]]:
        """lid.176's probabilities (its top `LID_TOP_K`) and CLD2's text shares (its three
        languages) by label."""
        top = self.lid.predict_top(sample, LID_TOP_K)
        cld: dict[str, float] = {}
        if raw is not None:
            for _, code, percent, *_ in raw[1]:
                lab = lang_codes.from_cld2(code)
                if lab is not None:
                    cld[lab] = cld.get(lab, 0.0) + percent / 100.0
        return top, cld

    def _mean_p(self, sample: str, label: str,
                raw: tuple[bool, tuple[tuple[Any, ...], ...]] | None) -> float:
        """Mean of lid.176's probability and CLD2's share of `label` (0 where not among
        lid.176's top `LID_TOP_K` or CLD2's three)."""
        top, cld = self._shares(sample, raw)
        return (top.get(label, 0.0) + cld.get(label, 0.0)) / 2

    def _bcs(self, sample: str, label: str, raw: tuple[bool, tuple[tuple[Any, ...], ...]] | None
             ) -> tuple[str, float] | None:
        """Bosnian, Croatian or Serbian for Latin text labelled hr, bs, sh or sr; None keeps
        `label`.

        More ekavian than ijekavian words → Serbian (standard Serbian is ekavian; Bosnian and
        Croatian are ijekavian), whichever of the four labels the models gave. Otherwise:
        more Bosnian than Croatian markers → bs, more Croatian → hr (`lang_markers`); with
        neither, the side the two models favour on average, ``(P_lid(bs) + P_lid(sh) −
        P_lid(hr) + share_cld2(bs) − share_cld2(hr)) / 2`` > 0 → bs, else hr. Neither model separates the two on its own
        (each alone ranks a bs sentence above an hr one for about 0.64 of the pairs on the
        dev sentences); Latin text both call Serbian is mostly Bosnian or Croatian on the web
        (FineWeb-2 kept 2 GB of Latin-script Serbian against 49 GB of Bosnian and 36 GB of
        Croatian). Score: the mean of both models' probability for the chosen side (for bs,
        lid.176's sh counts as bs).
        """
        ekavian, ijekavian = lang_markers.count(sample, lang_markers.EKAVIAN,
                                                lang_markers.IJEKAVIAN)
        if ekavian > ijekavian:
            return None if label == "sr" else ("sr", self._mean_p(sample, "sr", raw))
        top, cld = self._shares(sample, raw)
        p_bs = (top.get("bs", 0.0) + top.get("sh", 0.0) + cld.get("bs", 0.0)) / 2
        p_hr = (top.get("hr", 0.0) + cld.get("hr", 0.0)) / 2
        bosnian, croatian = lang_markers.count(sample, lang_markers.BOSNIAN,
                                               lang_markers.CROATIAN)
        if bosnian != croatian:
            return ("bs", p_bs) if bosnian > croatian else ("hr", p_hr)
        return ("bs", p_bs) if p_bs > p_hr else ("hr", p_hr)

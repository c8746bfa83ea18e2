"""What comes from Presidio's own recognizers: the non-default entity types, NER, and the
reference path (``fast_path: false``).

* Other pattern types (URL and the country-specific identifiers Presidio validates with a
  checksum) run Presidio's recognizer objects as they are, on the whole text; their scores are
  Presidio's, without context enhancement (no NLP engine), filtered by `min_score`.
* NER types need a spaCy model with NER that the user installed (`ner_model`); nothing is
  downloaded.
* `ReferenceDetector`: the default types found by Presidio's own recognizers (its regexes,
  checksums and `phonenumbers` matcher, the baseline a user would otherwise run), each finding
  then held to the same evidence rules as the fast path (`evidence`): a finding counts only
  where the fast path's rule for its type accepts exactly that span. The fast path must find
  at least what this finds (tests/test_pii_reference.py).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from corpusfilter.core.errors import ConfigError
from corpusfilter.filters.pii.detection import Detector, Finding

# entity -> Presidio recognizer class name (presidio_analyzer.predefined_recognizers), for the
# types the fast path does not implement itself.
PRESIDIO_ONLY: dict[str, str] = {
    "URL": "UrlRecognizer",
    "UK_NHS": "NhsRecognizer",
    "UK_NINO": "UkNinoRecognizer",
    "ES_NIF": "EsNifRecognizer",
    "IT_FISCAL_CODE": "ItFiscalCodeRecognizer",
    "IN_AADHAAR": "InAadhaarRecognizer",
    "IN_PAN": "InPanRecognizer",
    "PL_PESEL": "PlPeselRecognizer",
    "SG_NRIC_FIN": "SgFinRecognizer",
    "AU_TFN": "AuTfnRecognizer",
    "FI_PERSONAL_IDENTITY_CODE": "FiPersonalIdentityCodeRecognizer",
}
# The default types' Presidio recognizers (the reference path and the speed benchmark).
PRESIDIO_DEFAULT: dict[str, str] = {
    "EMAIL_ADDRESS": "EmailRecognizer",
    "PHONE_NUMBER": "PhoneRecognizer",
    "CREDIT_CARD": "CreditCardRecognizer",
    "IBAN_CODE": "IbanRecognizer",
    "IP_ADDRESS": "IpRecognizer",
    "US_SSN": "UsSsnRecognizer",
    "CRYPTO": "CryptoRecognizer",
}
# NER entities: spaCy labels mapped to Presidio's names (as in Presidio's SpacyRecognizer).
NER_LABELS: dict[str, tuple[str, ...]] = {
    "PERSON": ("PERSON", "PER"),
    "LOCATION": ("GPE", "LOC", "FAC"),
    "ORGANIZATION": ("ORG",),
    "NRP": ("NORP",),
}
NER_SCORE = 0.85  # Presidio's SpacyRecognizer default score


def presidio_recognizer(entity: str, regions: Sequence[str] | None = None) -> Any:
    """A Presidio recognizer object for `entity`, set up never to download (the e-mail
    domain check on tldextract's bundled snapshot, see `recognizers.offline_suffixes`)."""
    import presidio_analyzer.predefined_recognizers as pr

    name = PRESIDIO_ONLY.get(entity) or PRESIDIO_DEFAULT[entity]
    if entity == "EMAIL_ADDRESS":
        return _offline_email_class()()
    if entity == "PHONE_NUMBER" and regions is not None:
        return pr.PhoneRecognizer(supported_regions=list(regions))
    return getattr(pr, name)()


@functools.cache
def _offline_email_class() -> type:
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    from corpusfilter.filters.pii.recognizers import offline_suffixes

    extract = offline_suffixes()

    class OfflineEmailRecognizer(EmailRecognizer):
        """Presidio's EmailRecognizer; its `validate_result` (a public override point) on
        tldextract's bundled suffix list instead of `tldextract.extract`, which downloads."""

        def validate_result(self, pattern_text: str) -> bool:
            return extract(pattern_text).fqdn != ""

    return OfflineEmailRecognizer


class PresidioTypes:
    """The entity types that come from Presidio as is (module docstring)."""

    def __init__(self, entities: Sequence[str], min_score: float, ner_model: str | None):
        self.min_score = min_score
        self.recognizers = [(e, presidio_recognizer(e)) for e in entities if e in PRESIDIO_ONLY]
        self.ner = [e for e in entities if e in NER_LABELS]
        self._nlp = None
        if self.ner and ner_model:
            import spacy

            self._nlp = spacy.load(ner_model, exclude=["lemmatizer", "parser", "tagger",
                                                       "attribute_ruler"])

    def analyze(self, text: str) -> list[Finding]:
        out = []
        for entity, recognizer in self.recognizers:
            for r in recognizer.analyze(text, [entity], None):
                if r.score >= self.min_score:
                    out.append(Finding(r.start, r.end, entity, float(r.score)))
        if self._nlp is not None and self.min_score <= NER_SCORE:
            for ent in self._nlp(text).ents:
                for entity in self.ner:
                    if ent.label_ in NER_LABELS[entity]:
                        out.append(Finding(ent.start_char, ent.end_char, entity, NER_SCORE))
        return out


class ReferenceDetector:
    """The default types found by Presidio's recognizers, then held to the fast path's
    evidence rules (module docstring)."""

    def __init__(self, detector: Detector):
        self.detector = detector
        self.recognizers = [(e, presidio_recognizer(e, detector.phone_regions))
                            for e in detector.entities if e in PRESIDIO_DEFAULT]

    def analyze(self, text: str) -> list[Finding]:
        out: list[Finding] = []
        for entity, recognizer in self.recognizers:
            for r in recognizer.analyze(text, [entity], None):
                score = self.detector.evidence(entity, text, r.start, r.end)
                if score is not None:
                    out.append(Finding(r.start, r.end, entity, score))
        return sorted(set(out))


def check_ner_model(ner: list[str], model: str | None) -> None:
    """NER needs a spaCy model the user installed; never download one."""
    what = ", ".join(ner)
    if not model:
        raise ConfigError(
            f"pii: {what} need a spaCy NER model, and none is configured. Install one "
            f"yourself (the official models are not on PyPI: e.g. `python -m spacy download "
            f"en_core_web_sm` where you have network access) and set `ner_model: "
            f"en_core_web_sm`, or remove {what} from `entities`. corpusfilter never "
            f"downloads models.")
    from pathlib import Path

    import spacy.util

    if not (spacy.util.is_package(model) or Path(model).is_dir()):
        raise ConfigError(
            f"pii: ner_model {model!r} is neither an installed spaCy model package nor a "
            f"model directory; install it yourself (corpusfilter never downloads models) or "
            f"remove {what} from `entities`.")

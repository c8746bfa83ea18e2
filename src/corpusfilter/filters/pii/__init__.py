"""The `pii` stage: personal data with evidence of its type, redacted (docs/pii.md).

Modules, by job:

* `stage`: the `pii` stage (modes, ledger detail, counters).
* `redaction`: overlaps merged, placeholders, the re-analysis that makes a second pass a no-op.
* `detection`: which finders run; `Finding`.
* `context`: cue words before a number (phone, card, SSN, IBAN, IP, or a reference).
* `phone`: phone numbers (runs of digit groups, cue or validated layout, excluded shapes).
* `recognizers`: e-mail, card, IBAN, IP, SSN and Bitcoin finders.
* `presidio_path`: Presidio's own recognizers: other types, NER, and the reference path.
"""

from corpusfilter.filters.pii.detection import DEFAULT_ENTITIES, Detector, Finding
from corpusfilter.filters.pii.recognizers import luhn_valid
from corpusfilter.filters.pii.stage import KNOWN_ENTITIES, Pii

__all__ = ["DEFAULT_ENTITIES", "KNOWN_ENTITIES", "Detector", "Finding", "Pii", "luhn_valid"]

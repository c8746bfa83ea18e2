"""Build `src/corpusfilter/resources/fineweb2/thresholds.json` from FineWeb-2's per-language
configurations (run from the repo; reads ../shared/data/fineweb2, Apache-2.0).

For every label the shipped language model (lid.176) can predict, the FineWeb-2 configuration
of that language is chosen: its ISO 639-3 code (the label itself, or the three-letter code of
a two-letter label, from the Debian `iso-codes` table, or a member of the macrolanguage, e.g.
`cmn` for `zh`), and among several scripts or members the one with the most words kept in
FineWeb-2 (`fineweb2-language-distribution.csv`, train split). Values are copied as FineWeb-2
ships them; how each maps to a stage parameter is in `corpusfilter.core.fineweb2`.

    .venv/bin/python tools/make_fineweb2_table.py
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT.parent / "shared" / "data" / "fineweb2"
OUT = ROOT / "src" / "corpusfilter" / "resources" / "fineweb2" / "thresholds.json"
ISO = Path("/usr/share/iso-codes/json/iso_639-3.json")
# Individual languages FineWeb-2 uses for a macrolanguage label of lid.176 (ISO 639-3
# macrolanguage tables, SIL): only where the macrolanguage itself has no configuration.
MACRO_MEMBERS = {
    "zh": ["cmn"], "ar": ["arb"], "fa": ["pes"], "ms": ["zsm"], "et": ["ekk"], "lv": ["lvs"],
    "mn": ["khk"], "ne": ["npi"], "sw": ["swh"], "uz": ["uzn"], "az": ["azj"], "or": ["ory"],
    "om": ["gaz"], "mg": ["plt"], "yi": ["ydd"], "qu": ["quy"], "ps": ["pbt"], "sq": ["als"],
    "no": ["nob"], "ku": ["kmr"], "kv": ["kpv"], "gn": ["gug"], "ff": ["fuc"], "oc": ["oci"],
    "hbs": ["hbs"], "sh": ["hbs"], "ks": ["kas"], "el": ["ell"], "ta": ["tam"],
}

# lid.176 labels that are Wikipedia codes, not ISO 639-3 (`als` is Alemannic there, Tosk
# Albanian in ISO 639-3).
NOT_ISO = {"als": ["gsw"]}


def main() -> int:
    from corpusfilter.filters.language import (
        SHIPPED_SHA256,
        load_model,
        model_labels,
        shipped_model_path,
    )

    labels = model_labels(load_model(shipped_model_path(), SHIPPED_SHA256))
    iso = json.loads(ISO.read_text())["639-3"]
    to3 = {e["alpha_2"]: e["alpha_3"] for e in iso if "alpha_2" in e}
    words: dict[str, int] = {}
    with open(SRC / "fineweb2-language-distribution.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["split"] == "train" and row["words"].isdigit():
                words[row["subset"]] = int(row["words"])
    configs = {p.stem: p for p in (SRC / "configs").glob("*.yml")}
    table: dict[str, dict] = {}
    for label in labels:
        codes = [label] if len(label) == 3 else [to3.get(label, "")]
        codes += MACRO_MEMBERS.get(label, [])
        codes = NOT_ISO.get(label, codes)
        found = [name for name in configs if name.split("_")[0] in codes]
        if not found:
            continue
        best = max(found, key=lambda name: (words.get(name, 0), name))
        entry = yaml.safe_load(configs[best].read_text())
        entry.pop("language_score", None)  # the language stage's business (GlotLID scores)
        table[label] = {"config": best, **entry}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(table, ensure_ascii=False, sort_keys=True, indent=0) + "\n")
    print(f"{len(table)} of {len(labels)} labels have a FineWeb-2 configuration -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Word markers of `lang_markers` and the ensemble rules that read them: Malay against
Indonesian (issue 20), Bosnian against Croatian.

The sentences quoted below are real dev sentences of ``langid.parquet`` (lingua-rs test
sets, Leipzig Corpora Collection text; origin and licence in tests/data/langid/README.md).
"""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpusfilter.core.pipeline import Pipeline
from corpusfilter.filters import lang_markers, langid_backends

# Malaysian Malay (by their wording: "Pilihan Raya", "kerusi", "bahawa", "iaitu", "minit",
# "mengandungi", "kecelaruan"); the last one both models call Indonesian
MALAY = [
    "Situasi ini menyebabkan Pilihan Raya Kecil terpaksa diadakan untuk mengisi kekosongan "
    "kerusi tersebut.",
    "Tidak syak lagi bahawa rejim kejam ini patut dikalahkan dan kami menyeru untuk mobilisasi "
    "rakyat secara besar-besaran bagi tujuan tersebut.",
    "Bagi Rosmah yang telah 8 tahun menjadi hamba majikan di kilang tersebut, 20 minit itulah "
    "masa yang paling berharga dalam hidupnya setiap hari, iaitu masa di mana dia boleh melihat "
    "matahari.",
    "Jika beliau berkata; banyak sanad ulama mutaakhirin yang wujud sekarang mengandungi banyak "
    "kecelaruan di dalamnya, tentu itu lebih dapat diterima dan layak untuk diperbincangkan.",
]
# Indonesian ("karena", "uang", "Universitas"); both models call the last two Malay
INDONESIAN = [
    "Dan mudah ditebak kelanjutan dari percakapan di atas adalah diakhiri dengan batalnya si "
    "cowok untuk datang ke Indonesia karena si cowok menganggap untuk apa jauh-jauh datang dan "
    "menghabiskan uang banyak jika tidak mendapatkan apa-apa.",
    "SIPEG membantu penyebaran berita dari pihak Universitas ke Fakultas dan pegawai secara "
    "lebih cepat.",
    "Ki Demangpun kemudian menerima Kiai Gringsing di pendapa bersama Agung Sedayu, Swandaru, "
    "Pandan Wangi dan Sekar Mirahpun ikut menerima mereka pula karena ketiganya ingin "
    "mengetahui, apakah kepentingan mereka datang ke Sangkal Putung.",
]
# Danish with words that are Indonesian or Malay markers ("film", "doktor")
DANISH = [
    "Jeg fandt lige denne film om UFO-The Secret Evidence som er interessant fordi den giver "
    "et anderledes billede af hvordan det kan hænge sammen.",
    "Det havde den rare doktor ikke remedierne til, så vi blev sendt videre.",
]
# Bosnian ("sistem") and Croatian ("sustav", "tvrtka", "knjižnica")
BOSNIAN = ["Operativni sistem je bio uvijek rezidentan u memoriji.",
           "Spoznajom da postoje dva odvojena sistema pamćenja mogu se objasniti disocijativni "
           "fenomeni."]
CROATIAN = ["Sovilj potvrđuje da je sustav tvrtke savršeno organiziran.",
            "Knjižnica prima 18 različitih časopisa i dvoje novina."]


def labels(texts: list[str]) -> tuple[list[str], list[float]]:
    """(lang, lang_score) of each text from the `language` stage's ensemble backend."""
    table = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
    kept = Pipeline({"stages": [{"stage": "language", "label_only": True,
                                 "backend": "ensemble"}]}).run(table).kept
    return kept["lang"].to_pylist(), kept["lang_score"].to_pylist()


def test_marker_lists_are_disjoint_lower_case_single_words():
    for first, second in ((lang_markers.MALAY, lang_markers.INDONESIAN),
                          (lang_markers.BOSNIAN, lang_markers.CROATIAN),
                          (lang_markers.EKAVIAN, lang_markers.IJEKAVIAN)):
        assert not first & second
        for w in first | second:
            assert w == w.lower() and lang_markers._WORD.fullmatch(w), w


def test_markers_read_real_malay_and_indonesian():
    assert [lang_markers.malay_or_indonesian(t) for t in MALAY] == ["ms"] * len(MALAY)
    assert [lang_markers.malay_or_indonesian(t) for t in INDONESIAN] == ["id"] * len(INDONESIAN)
    # no marker either way: no decision
    assert lang_markers.malay_or_indonesian("Mereka sudah menunjukkan tataran ilmu mereka "
                                            "yang tinggi.") is None


def test_ensemble_labels_real_malay_and_indonesian_by_their_markers():
    lang, score = labels(MALAY + INDONESIAN)
    assert lang == ["ms"] * len(MALAY) + ["id"] * len(INDONESIAN)
    assert all(0 < s <= 1 for s in score)


def test_the_rule_is_what_decides_in_both_directions(monkeypatch):
    # the last Malay sentence and the last two Indonesian ones are labelled the other way
    # without the rule: it moves labels from id to ms and from ms to id
    texts = [MALAY[-1], INDONESIAN[1], INDONESIAN[2]]
    with_rule, score = labels(texts)
    monkeypatch.setattr(langid_backends, "MALAY_INDONESIAN", frozenset())
    without, _ = labels(texts)
    assert without == ["id", "ms", "ms"]
    assert with_rule == ["ms", "id", "id"]
    # the score of a label the markers chose is the two models' mean probability for it
    assert all(0 < s <= 1 for s in score)


def test_other_languages_are_not_touched_by_ms_id_markers():
    assert [lang_markers.malay_or_indonesian(t) for t in DANISH] == ["id", "ms"]
    lang, _ = labels(DANISH)
    assert lang == ["da", "da"]


def test_ensemble_separates_real_bosnian_and_croatian_by_markers():
    lang, _ = labels(BOSNIAN + CROATIAN)
    assert lang == ["bs", "bs", "hr", "hr"]


@pytest.mark.parametrize("upper", [False, True])
def test_markers_count_whole_words_in_any_case(upper):
    text = "Kerana itu, bahawa wang" if upper else "kerana itu bahawa wang"
    text = text.upper() if upper else text
    assert lang_markers.count(text, lang_markers.MALAY, lang_markers.INDONESIAN) == (3, 0)
    # inside a longer word a marker is not a marker
    assert lang_markers.count("xkerana bahawanya uangnya", lang_markers.MALAY,
                              lang_markers.INDONESIAN) == (0, 0)


FILLER = ["yang", "dan", "di", "ini", "itu", "dengan", "untuk", "tidak", "ada", "akan",
          "mereka", "sudah", "pada", "dari", "juga"]
MS_WORDS = sorted(lang_markers.MALAY)
ID_WORDS = sorted(lang_markers.INDONESIAN)


@settings(max_examples=200, deadline=None)
@given(filler=st.lists(st.sampled_from(FILLER), max_size=20),
       ms=st.lists(st.sampled_from(MS_WORDS), max_size=6),
       id_=st.lists(st.sampled_from(ID_WORDS), max_size=6),
       seed=st.randoms(use_true_random=False), upper=st.booleans())
def test_decision_follows_the_marker_counts(filler, ms, id_, seed, upper):
    words = filler + ms + id_
    seed.shuffle(words)
    text = " ".join(words)
    text = text.upper() if upper else text
    expected = None if len(ms) == len(id_) else "ms" if len(ms) > len(id_) else "id"
    assert lang_markers.malay_or_indonesian(text) == expected
    # punctuation around a word does not hide it
    assert lang_markers.malay_or_indonesian(", ".join(words) + ".") == expected


@settings(max_examples=30, deadline=None)
@given(words=st.lists(st.sampled_from(
    [*FILLER, "kerana", "karena", "bahawa", "bahwa", "wang", "uang", "film", "filem", "the",
     "and", "een", "het", "og", "jeg", "je", "i", "u", "sistem", "sustav"]),
    min_size=3, max_size=25))
def test_ms_id_rule_only_relabels_ms_id_labels_as_ms_or_id(words):
    text = " ".join(words)
    new = labels([text])[0][0]
    orig = langid_backends.MALAY_INDONESIAN
    try:
        langid_backends.MALAY_INDONESIAN = frozenset()
        old = labels([text])[0][0]
    finally:
        langid_backends.MALAY_INDONESIAN = orig
    if old not in orig:
        assert new == old
    elif new != old:
        assert new in orig and new == lang_markers.malay_or_indonesian(text)


def test_ekavian_latin_text_is_serbian_whatever_bcs_label_the_models_gave():
    # dev Serbian sentences (Cyrillic) transliterated to Latin script (the one-to-one Serbian
    # correspondence); the ensemble called the first Bosnian and the second Croatian before
    # ekavian forms ("mestu", "verovatno") decided Serbian for any of the four labels
    texts = ["Osnovnu školu je završio u rodnom mestu, a gimnaziju u Tuzli.",
             "Upisao je hemiju, verovatno zbog toga što se nadao poslu u tada novo otvorenoj "
             "rafineriji šećera u Osijeku."]
    lang, score = labels(texts)
    assert lang == ["sr", "sr"]
    assert all(0 < s <= 1 for s in score)
    # the ijekavian forms of the same words keep them out of Serbian
    ijekavian = [texts[0].replace("mestu", "mjestu"),
                 texts[1].replace("verovatno", "vjerovatno")]
    assert "sr" not in labels(ijekavian)[0]


def test_ledger_names_both_models_for_a_label_the_markers_chose():
    texts = [MALAY[-1], INDONESIAN[1], INDONESIAN[0]]  # flipped, flipped, not flipped
    table = pa.table({"id": ["a", "b", "c"], "text": texts})
    res = Pipeline({"stages": [{"stage": "language", "keep": ["en"],
                                "backend": "ensemble"}]}).run(table)
    rows = {r["doc_id"]: json.loads(r["detail"]) for r in res.ledger.to_pylist()}
    assert [rows[k]["lang"] for k in ("a", "b", "c")] == ["ms", "id", "id"]
    assert rows["a"]["model"] == rows["b"]["model"] == "lid.176+cld2"
    assert rows["c"]["model"] in ("cld2", "lid.176")

"""The one table of scripts written without spaces between words, and what follows from it.

Every stage that needs to know whether a text or a language has word boundaries reads this
table (before issue 16, five tables disagreed, e.g. about Tibetan). Unicode script names are
RE2's (``\\p{Han}``); code-point blocks are the Unicode blocks of each script's letters.

* ``ideographic``: a character is a morpheme, a word is one to a few characters (Chinese and
  Japanese words average close to two characters), so a word n-gram of n words is about 2n
  characters (`CHARS_PER_WORD`).
* ``syllabic``: Thai, Lao, Khmer, Myanmar, Tibetan: a character is a letter; without a
  segmenter, repeated character n-grams there are ordinary syllables.
"""

from __future__ import annotations

from typing import NamedTuple


class Script(NamedTuple):
    name: str                                  # RE2 / Unicode script name
    kind: str                                  # "ideographic" or "syllabic"
    langs: tuple[str, ...]                     # ISO 639-1 languages written in it
    blocks: tuple[tuple[int, int], ...]        # code-point ranges of its letters


SPACELESS_SCRIPTS: tuple[Script, ...] = (
    Script("Han", "ideographic", ("zh", "ja", "yue", "wuu"),
           ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF))),
    Script("Hiragana", "ideographic", ("ja",), ((0x3040, 0x309F),)),
    Script("Katakana", "ideographic", ("ja",), ((0x30A0, 0x30FF),)),
    Script("Thai", "syllabic", ("th",), ((0x0E00, 0x0E7F),)),
    Script("Lao", "syllabic", ("lo",), ((0x0E80, 0x0EFF),)),
    Script("Tibetan", "syllabic", ("bo", "dz"), ((0x0F00, 0x0FFF),)),
    Script("Myanmar", "syllabic", ("my",), ((0x1000, 0x109F),)),
    Script("Khmer", "syllabic", ("km",), ((0x1780, 0x17FF),)),
)

# An RE2 character-class body matching a letter of any spaceless script.
SPACELESS_CLASS = "".join(rf"\p{{{s.name}}}" for s in SPACELESS_SCRIPTS)
# The same, as code-point ranges (for per-code-point tables).
SPACELESS_RANGES = tuple(r for s in SPACELESS_SCRIPTS for r in s.blocks)
# Languages written without spaces, and those among them whose characters are letters.
SPACELESS_LANGS = frozenset(lang for s in SPACELESS_SCRIPTS for lang in s.langs)
SYLLABIC_LANGS = frozenset(lang for s in SPACELESS_SCRIPTS if s.kind == "syllabic"
                           for lang in s.langs)
IDEOGRAPHIC_LANGS = SPACELESS_LANGS - SYLLABIC_LANGS
# Characters per word in ideographic languages, where our words are characters (see above).
CHARS_PER_WORD = 2

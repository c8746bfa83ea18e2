"""`spam`: obvious spam and boilerplate that the Gopher, C4 and FineWeb rules let through.

Six document-level signals, each a ratio computed over the whole batch with Arrow compute
(RE2 regexes with Unicode classes) and NumPy, defined for any script:

* ``url_density``: share of non-whitespace characters inside URLs, ``www.`` hosts, bare
  domains with a common TLD and e-mail addresses. Link density is the strongest shallow
  boilerplate feature of Kohlschütter et al., *Boilerplate Detection using Shallow Text
  Features* (WSDM 2010); link farms and SMS/e-mail spam carry literal URLs (Almeida et al.,
  *Contributions to the Study of SMS Spam Filtering*, DocEng 2011).
* ``boilerplate_density``: share of non-empty lines that are boilerplate: a short line
  (≤ ``max_boilerplate_line_chars``) holding a user-interface phrase (add to cart, click here,
  read more, share on …, log in, all rights reserved, cookie banners, skip to content, …, in
  en/de/fr/es/pt/it/nl/pl/ru/ja/zh/ko), a line that is only a UI word (Home, Menu, Facebook,
  Tweet, Drucken, Partager, …) or a navigation line (≥ 3 short items joined by ``|``, ``·``,
  ``•``, ``»``, ``›``). Kohlschütter et al. and Vogels et al., *Web2Text* (ECIR 2018) find
  boilerplate blocks short and phrase-driven; the phrases are the labels of common CMS
  templates (WordPress, Shopify, Drupal) in those languages.
* ``top_token_share``: the most frequent word's share of all words (keyword stuffing;
  Ntoulas et al., *Detecting Spam Web Pages through Content Analysis*, WWW 2006, section 4;
  RedPajama-V2's ``rps_doc_frac_unique_words``/``rps_doc_unigram_entropy`` measure the same
  thing from the other side). Only words of space-delimited scripts count; a document with
  fewer than ``min_words`` of them (e.g. Chinese, Japanese, Thai) gets NaN and is counted under
  ``top_token_share.skipped_unsupported_script``, never judged by English-calibrated limits.
* ``title_repetition``: share of the document's characters taken by repeats of its first line
  (the title, when it is 12–120 characters long): the "repeated title phrase" of SEO pages
  (Ntoulas et al. 2006, "words in the title"; Gyöngyi & Garcia-Molina, *Web Spam Taxonomy*,
  AIRWeb 2005, "repetition of terms").
* ``caps_ratio``: upper-case share of cased letters (NaN with fewer than
  ``min_cased_letters``, i.e. for caseless scripts). RedPajama-V2 ``rps_doc_frac_all_caps_words``;
  SpamAssassin's ``UPPERCASE_50_75``/``UPPERCASE_75_100`` body rules.
* ``digit_symbol_ratio``: share of non-whitespace characters that are digits (``\\p{N}``) or
  symbols (``\\p{S}``: currency, math, emoji, arrows). BigScience ROOTS' special-character
  ratio and Data-Juicer's ``special_characters_filter`` (default max 0.25) bound the same thing.

Default thresholds were chosen on the development data of this project (real web pages with
curated main text, DCLM human quality labels, the SMS Spam Collection) to remove at most about
1% of good documents; `benchmarks/spam_thresholds.py` reproduces the numbers and
`docs/spam.md` reports precision, recall and removal rates by source and language.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.core.docs import Docs
from corpusfilter.core.langparams import LangParams
from corpusfilter.core.params import Count, Fraction, check_entries
from corpusfilter.core.registry import register
from corpusfilter.core.scripts import SPACELESS_CLASS, SPACELESS_RANGES
from corpusfilter.core.stage import Filter, Outcome, Rule
from corpusfilter.utf8 import (
    CodePointTable,
    Utf8Buffer,
    decode_non_ascii,
    string_array,
    utf8_buffer,
)

# Scripts written without spaces between words: each character is one token.
_UNSPACED = SPACELESS_CLASS
_NON_WORD = r"[^\p{L}\p{N}\p{M}]+"

_TLDS = ("com|net|org|info|biz|edu|gov|io|co|uk|de|fr|es|it|nl|pl|ru|cn|jp|br|in|us|eu|ch|at|"
         "be|au|ca|me|tv|xyz|top|online|site|shop")
_URL = (r"(?i)(?:(?:https?|ftp)://|www\d?\.)[^\s<>\"'«»]+"
        r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
        rf"|\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:{_TLDS})\b(?:/[^\s<>\"']*)?")

# Phrases of user-interface text, matched anywhere in a short line (case-insensitive).
_BOILERPLATE_PHRASES = [
    # shop
    r"add to (?:cart|basket|bag|wish ?list)", r"buy now", r"in den warenkorb",
    r"auf den merkzettel", r"jetzt kaufen", r"ajouter au panier", r"a[ñn]adir al carrito",
    r"agregar al carrito", r"aggiungi al carrello", r"adicionar ao carrinho",
    r"in (?:de )?winkelwagen", r"dodaj do koszyka", r"в корзину", r"カートに入れ", r"加入购物车",
    r"立即购买", r"장바구니", r"free shipping", r"versandkostenfrei", r"livraison gratuite",
    r"env[ií]o gratis",
    # calls to action
    r"click here", r"read more", r"learn more", r"continue reading", r"read the full",
    r"hier klicken", r"mehr lesen", r"weiterlesen", r"mehr erfahren", r"cliquez ici",
    r"lire la suite", r"en savoir plus", r"haga clic aqu[ií]", r"haz clic aqu[ií]",
    r"leer m[aá]s", r"clique aqui", r"leia mais", r"saiba mais", r"clicca qui", r"leggi tutto",
    r"klik hier", r"lees meer", r"kliknij tutaj", r"czytaj wi[eę]cej", r"читать далее",
    r"нажмите здесь", r"подробнее", r"続きを読む", r"詳しくはこちら", r"阅读全文", r"点击这里",
    r"查看更多", r"더 ?보기",
    # sharing
    r"share (?:on|this|via)", r"(?:share|tweet|pin) it\b", r"follow us", r"folgen sie uns",
    r"auf facebook teilen", r"partager sur", r"suivez-nous", r"compartir en", r"s[ií]guenos",
    r"compartilhe", r"condividi su", r"seguici", r"udost[eę]pnij", r"поделиться",
    r"シェアする", r"分享到", r"关注我们",
    # accounts, newsletters, comments
    r"\blog ?in\b", r"\bsign (?:in|up)\b", r"\bsubscribe\b", r"newsletter", r"my account",
    r"forgot (?:your )?password", r"leave a (?:comment|reply)", r"post a comment",
    r"anmelden", r"registrieren", r"abonnieren", r"kommentar schreiben", r"se connecter",
    r"s'inscrire", r"laisser un commentaire", r"iniciar sesi[oó]n", r"reg[ií]strate",
    r"suscr[ií]bete", r"deja un comentario", r"cadastre-se", r"inscreva-se", r"\baccedi\b",
    r"registrati", r"iscriviti", r"inloggen", r"aanmelden", r"zaloguj", r"zarejestruj",
    r"войти", r"регистрация", r"подписаться", r"ログイン", r"新規登録", r"登录", r"注册",
    r"로그인", r"회원가입",
    # legal footer and cookie banners
    r"all rights reserved", r"copyright", r"©", r"privacy (?:policy|notice|settings)",
    r"terms (?:of|and) (?:use|service|conditions)", r"cookie", r"alle rechte vorbehalten",
    r"datenschutz", r"impressum", r"nutzungsbedingungen", r"tous droits r[ée]serv[ée]s",
    r"mentions l[ée]gales", r"politique de confidentialit[ée]",
    r"todos los derechos reservados", r"aviso legal", r"pol[ií]tica de privacidad",
    r"todos os direitos reservados", r"pol[ií]tica de privacidade",
    r"tutti i diritti riservati", r"informativa (?:sulla )?privacy",
    r"alle rechten voorbehouden", r"privacybeleid", r"wszelkie prawa zastrze[zż]one",
    r"polityka prywatno[sś]ci", r"все права защищены", r"политика конфиденциальности",
    r"無断転載", r"プライバシーポリシー", r"利用規約", r"版权所有", r"隐私政策", r"用户协议",
    # navigation
    r"skip to (?:main )?(?:content|navigation)", r"back to top", r"go to top",
    r"zum inhalt springen", r"nach oben", r"retour en haut", r"volver arriba",
    r"voltar ao topo", r"torna su", r"naar boven", r"you are here", r"sie sind hier",
    r"vous [êe]tes ici", r"est[aá]s aqu[ií]", r"related (?:posts|articles|stories)",
    r"(?:previous|next) (?:post|article|page)", r"[äa]hnliche artikel", r"articles similaires",
    r"art[ií]culos relacionados", r"artigos relacionados", r"articoli correlati",
    r"返回顶部", r"ページトップへ", r"トップページ", r"首页", r"上一篇", r"下一篇",
    # "more like this" blocks
    r"you (?:may|might) also like", r"more stories", r"latest (?:articles|posts|news)",
    r"^most (?:read|popular|viewed)", r"[äa]hnliche beitr[äa]ge", r"mehr zum thema",
    r"weitere (?:artikel|beitr[äa]ge)", r"verwandte (?:artikel|themen)", r"auch interessant",
    r"k[öo]nnte (?:sie|dich) auch interessieren", r"meistgelesen", r"n[äa]chster (?:artikel|beitrag)",
    r"vorheriger (?:artikel|beitrag)", r"vous aimerez aussi", r"[àa] lire aussi",
    r"lea tambi[ée]n", r"te puede interesar", r"leia tamb[ée]m", r"zobacz tak[zż]e",
    r"читайте также", r"関連記事", r"相关文章", r"热门文章",
    # comment forms
    r"your email address will not be published", r"e-mail-adresse wird nicht ver[öo]ffentlicht",
    r"schreibe einen kommentar", r"kommentar (?:verfassen|hinzuf[üu]gen)",
    r"hinterlasse (?:eine antwort|einen kommentar)", r"votre adresse (?:e-?mail|de messagerie)",
    r"tu direcci[óo]n de correo", r"o seu endere[çc]o de e-?mail", r"dodaj komentarz",
    r"оставить комментарий", r"コメントを書く", r"发表评论",
    # advertising and tag labels
    r"^(?:advertisement|anzeige|werbung|publicit[ée]|publicidad|pubblicit[àa]|reklama|"
    r"реклама|広告|广告)$", r"^(?:tags|schlagworte|schlagw[öo]rter|themen|mots-cl[ée]s|"
    r"etiquetas|tagi|filed under|posted in|kategorie|category)\s*:",
]
# Whole lines that are only a user-interface word (buttons, menu items, share bars).
_BOILERPLATE_LINES = [
    r"home(?: ?page)?", r"menu", r"search", r"suche", r"recherche", r"buscar", r"cerca",
    r"zoeken", r"szukaj", r"поиск", r"contact(?: us)?", r"kontakt", r"contacto", r"contatti",
    r"about(?: us)?", r"[üu]ber uns", r"startseite", r"accueil", r"inicio", r"in[ií]cio",
    r"next", r"previous", r"prev", r"weiter", r"zur[üu]ck", r"suivant", r"pr[ée]c[ée]dent",
    r"siguiente", r"anterior", r"print", r"drucken", r"imprimer", r"imprimir", r"stampa",
    r"e-?mail", r"share", r"teilen", r"partager", r"compartir", r"condividi", r"tweet",
    r"facebook", r"twitter", r"x", r"whatsapp", r"linkedin", r"pinterest", r"reddit",
    r"instagram", r"youtube", r"telegram", r"xing", r"tumblr", r"rss", r"reply", r"antworten",
    r"r[ée]pondre", r"responder", r"rispondi", r"like", r"gef[äa]llt mir", r"j'aime",
    r"me gusta", r"tags?", r"categories", r"kategorien", r"archives?", r"sitemap",
    r"faq", r"help", r"hilfe", r"aide", r"ayuda", r"shop", r"cart", r"warenkorb", r"panier",
    r"carrito", r"more", r"mehr", r"plus", r"m[aá]s", r"top", r"close", r"schlie[ßs]en",
    r"fermer", r"cerrar", r"ok", r"accept(?: all)?", r"akzeptieren", r"accepter", r"aceptar",
]
_NAV_ITEM = r"[^|·•»›\n]{1,30}"
_NAV_LINE = rf"^\s*{_NAV_ITEM}(?:\s[|·•»›]\s{_NAV_ITEM}){{2,}}\s*$"
_PHRASE_RE = "(?i)(?:" + "|".join(_BOILERPLATE_PHRASES) + ")"
_LINE_RE = (r"(?i)^[\s\W]*(?:" + "|".join(_BOILERPLATE_LINES) + r")[\s\W\d]*$")

# A document whose letters are more than this share unspaced-script characters has no
# words to count for keyword stuffing; one whose letters are less than MIN_CASED_SHARE cased
# (Latin, Cyrillic, Greek, Armenian ...) is not judged by its capitals.
MAX_UNSPACED_SHARE = 0.3
MIN_CASED_SHARE = 0.5

METRICS = ("url_density", "boilerplate_density", "top_token_share", "title_repetition",
           "caps_ratio", "digit_symbol_ratio")
_THRESHOLDS = {
    "url_density": "max_url_density",
    "boilerplate_density": "max_boilerplate_density",
    "top_token_share": "max_top_token_share",
    "title_repetition": "max_title_repetition",
    "caps_ratio": "max_caps_ratio",
    "digit_symbol_ratio": "max_digit_symbol_ratio",
}


def _np(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False).astype(np.float64)


def ratio_or_nan(num: np.ndarray, den: np.ndarray, min_den: float = 1.0) -> np.ndarray:
    """num / den per document; NaN where den < min_den (too little to measure)."""
    out = np.full(len(num), np.nan)
    ok = den >= min_den
    out[ok] = num[ok] / den[ok]
    return out


# Character classes, one bit each, looked up per code point (table filled lazily from
# `unicodedata` for the code points seen; deterministic, per process).
SPACE, LETTER, UPPER, CASED, NUMBER, SYMBOL, UNSPACED = 1, 2, 4, 8, 16, 32, 64
_UNSPACED_RANGES = SPACELESS_RANGES
_CLASS = np.full(0x110000, 255, dtype=np.uint8)


def _classify(cp: int) -> int:
    ch = chr(cp)
    cat = unicodedata.category(ch)
    bits = SPACE if ch.isspace() else 0
    if cat[0] == "L":
        bits |= LETTER
        if cat in ("Lu", "Ll", "Lt"):
            bits |= CASED | (UPPER if cat in ("Lu", "Lt") else 0)
        if any(lo <= cp <= hi for lo, hi in _UNSPACED_RANGES):
            bits |= UNSPACED
    elif cat[0] == "N":
        bits |= NUMBER
    elif cat[0] == "S":
        bits |= SYMBOL
    return bits


_NOT_A_CHAR = 128  # continuation bytes (and lead bytes before their class is set)
_BYTE_CLASS = np.full(256, _NOT_A_CHAR, dtype=np.uint8)
_BYTE_CLASS[:128] = [_classify(b) for b in range(128)]


def char_counts(texts: list[str]) -> dict[int, np.ndarray]:
    """Per document, how many characters fall in each class (SPACE, LETTER, ...).

    All documents are decoded at once into one NumPy array of code points, classified by a
    lookup table and counted with one `bincount`."""
    n = len(texts)
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=n)
    cps = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
    doc = np.repeat(np.arange(n, dtype=np.int64), lengths)
    out = _class_sums(np.bincount(doc * 128 + _classes_of(cps),
                                  minlength=n * 128).reshape(n, 128))
    out[0] = lengths.astype(np.float64)
    return out


def _classes_of(cps: np.ndarray) -> np.ndarray:
    """The class byte of every code point in `cps`, classifying the ones not seen before."""
    classes = _CLASS[cps]
    unknown = classes == 255
    if unknown.any():
        for cp in np.unique(cps[unknown]).tolist():
            _CLASS[cp] = _classify(cp)
        classes = _CLASS[cps]
    return classes


def _class_sums(hist: np.ndarray) -> dict[int, np.ndarray]:
    """Per document, the characters of each class bit, from a (document, class byte)
    histogram: each bit summed over the class bytes that hold it."""
    members = np.arange(128)
    return {bit: hist[:, (members & bit) > 0].sum(axis=1).astype(np.float64)
            for bit in (SPACE, LETTER, UPPER, CASED, NUMBER, SYMBOL, UNSPACED)}


def char_counts_utf8(buf: Utf8Buffer, decoded: tuple[np.ndarray, np.ndarray, np.ndarray]
                     ) -> dict[int, np.ndarray]:
    """`char_counts` of the documents in `buf` (`utf8.utf8_buffer`), from their non-ASCII
    characters as `utf8.decode_non_ascii` gives them: the same table, looked up per
    character's first byte, without Python strings."""
    data, offsets = buf.data, buf.offsets
    n = len(offsets) - 1
    classes = _BYTE_CLASS.take(data)  # ASCII: its class; other bytes: _NOT_A_CHAR
    lead, _size, cps = decoded
    if len(lead):
        classes[lead] = _classes_of(cps)
    doc = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))
    hist = np.bincount(doc * 129 + classes, minlength=n * 129).reshape(n, 129)[:, :128]
    out = _class_sums(hist)
    out[0] = hist.sum(axis=1).astype(np.float64)
    return out


def url_chars(text: pa.Array) -> np.ndarray:
    """Characters inside URLs, hosts and e-mail addresses, per document."""
    stripped = pc.replace_substring_regex(text, _URL, "")
    return _np(pc.utf8_length(text)) - _np(pc.utf8_length(stripped))


def top_token_share(text: pa.Array, min_words: int,
                    decoded: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(share of the most frequent word, number of words), words of space-delimited scripts.

    A word is a lower-cased run of letters, digits and combining marks; punctuation and
    symbols are never words; runs of scripts written without spaces (Han, kana, Thai, Lao,
    Khmer, Myanmar, Tibetan) are left out, as a character there is not a word. The share is
    NaN for documents with fewer than `min_words` words. The words are cut with NumPy over
    the UTF-8 bytes (`word_spans`), lower-cased and dictionary-encoded by Arrow; counting is
    one NumPy pass over all (document, word) pairs of the batch. `top_token_share_regex` is
    the definition (one RE2 replacement per gap between words, 3x slower), which the tests
    compare this with. `decoded`: `utf8.decode_non_ascii` of the text's bytes, if the
    caller has it."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    if text.null_count:
        text = text.fill_null("")
    buf = utf8_buffer(text)
    word = word_bytes(buf.data, decoded)
    starts, ends = word_spans(word, buf.offsets)
    offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(ends - starts, out=offsets[1:])
    # the bytes of the words, in order (word bytes are exactly those)
    words = string_array(text, offsets, buf.data[word])
    codes = pc.dictionary_encode(pc.utf8_lower(words)).indices.to_numpy().astype(np.int64)
    doc = np.searchsorted(buf.offsets, starts, side="right") - 1
    return _count_top(doc.astype(np.int64), codes, len(text), min_words)


def top_token_share_regex(text: pa.Array, min_words: int) -> tuple[np.ndarray, np.ndarray]:
    """`top_token_share` by its definition: every run of non-word characters (and of
    unspaced-script letters) replaced by a space with RE2, the text lower-cased and split on
    spaces."""
    cleaned = pc.replace_substring_regex(text, rf"[{_UNSPACED}]+|{_NON_WORD}", " ")
    # Split on the single ASCII space put between words above (utf8_split_whitespace can keep
    # a trailing space on the last word of a non-ASCII string in pyarrow 26).
    lists = pc.split_pattern(pc.utf8_lower(cleaned), " ")
    flat = pc.list_flatten(lists)
    doc = pc.list_parent_indices(lists).to_numpy().astype(np.int64)
    nonempty = pc.not_equal(flat, "").to_numpy(zero_copy_only=False)
    codes = pc.dictionary_encode(flat).indices.to_numpy().astype(np.int64)
    return _count_top(doc[nonempty], codes[nonempty], len(text), min_words)


def _word_members(cps: np.ndarray) -> np.ndarray:
    """Code points -> 1 where RE2 counts the character as a word character of
    `top_token_share_regex` (a letter, digit or mark outside the unspaced scripts)."""
    chars = pa.array([chr(int(c)) for c in cps], pa.string())
    word = pc.match_substring_regex(chars, r"^[\p{L}\p{N}\p{M}]$")
    unspaced = pc.match_substring_regex(chars, rf"^[{_UNSPACED}]$")
    both = pc.and_(word, pc.invert(unspaced)).to_numpy(zero_copy_only=False)
    return both.astype(np.uint8)


_WORD_CHAR = CodePointTable(_word_members)
_ASCII_WORD_BYTE = np.zeros(256, dtype=bool)
_ASCII_WORD_BYTE[:128] = _word_members(np.arange(128)).astype(bool)


def word_bytes(data: np.ndarray,
               decoded: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Which bytes of UTF-8 `data` belong to a word character of `top_token_share` (every
    byte of a character takes its class), each distinct character classified by RE2 once
    per process."""
    word = _ASCII_WORD_BYTE.take(data)
    lead, size, cp = decode_non_ascii(data) if decoded is None else decoded
    if len(lead):
        member = _WORD_CHAR(cp).astype(bool)
        for k in range(4):
            sel = size > k
            word[lead[sel] + k] = member[sel]
    return word


def word_spans(word: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Byte ranges [start, end) of the maximal runs of `word` bytes, cut at the document
    edges `offsets` (a word never runs from one document into the next)."""
    n = len(word)
    edge = np.zeros(n + 1, dtype=bool)
    edge[offsets] = True
    before = np.zeros(n, dtype=bool)
    before[1:] = word[:-1]
    after = np.zeros(n, dtype=bool)
    after[:-1] = word[1:]
    starts = np.flatnonzero(word & (~before | edge[:n]))
    ends = np.flatnonzero(word & (~after | edge[1:])) + 1
    return starts.astype(np.int64), ends.astype(np.int64)


def _count_top(doc: np.ndarray, codes: np.ndarray, n: int, min_words: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """(top word's share, words) per document from each word's document and code."""
    # (document, word) pairs counted with NumPy: deterministic, unlike a threaded group-by
    m = int(codes.max(initial=0)) + 1
    keys, per_word = np.unique(doc * m + codes, return_counts=True)
    top = np.zeros(n)
    if len(keys):
        key_doc = keys // m
        # keys are sorted, so each document's pairs are one run: its maximum by reduceat
        first = np.flatnonzero(np.r_[True, key_doc[1:] != key_doc[:-1]])
        top[key_doc[first]] = np.maximum.reduceat(per_word, first)
    total = np.bincount(doc, minlength=n).astype(np.float64)
    return ratio_or_nan(top, total, max(min_words, 1)), total


def title_repetition(texts: list[str], chars: np.ndarray, min_title: int = 12,
                     max_title: int = 120) -> np.ndarray:
    """Share of a document's characters taken by repeats of its first non-empty line.

    NaN when that line is shorter than `min_title` or longer than `max_title` characters (no
    title to speak of). A Python loop over documents, but each step is one C-level
    `str.count`; measured in benchmarks/spam_thresholds.py."""
    out = np.full(len(texts), np.nan)
    for i, text in enumerate(texts):
        head = text.lstrip()
        end = head.find("\n")
        title = (head if end < 0 else head[:end]).strip()
        if not min_title <= len(title) <= max_title:
            continue
        repeats = text.lower().count(title.lower()) - 1
        out[i] = repeats * len(title) / chars[i] if chars[i] else np.nan
    return out


def boilerplate_lines(text: pa.Array, max_line_chars: int, min_lines: int = 0
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(boilerplate lines, non-empty lines) per document. Documents with fewer than
    `min_lines` non-empty lines get no density, so their lines are not searched (0
    boilerplate lines)."""
    n = len(text)
    lines = pc.split_pattern(text, "\n")
    flat = pc.utf8_trim_whitespace(pc.list_flatten(lines))
    parent = pc.list_parent_indices(lines).to_numpy()
    length = _np(pc.utf8_length(flat))
    nonempty = length > 0
    total = np.bincount(parent, weights=nonempty.astype(np.float64), minlength=n)
    # only short lines of documents with enough lines can count, so only they are searched
    short = nonempty & (length <= max_line_chars) & (total[parent] >= min_lines)
    hit = np.zeros(len(flat), dtype=bool)
    if short.any():
        cand = flat.filter(pa.array(short))
        hit[short] = (_np(pc.match_substring_regex(cand, _PHRASE_RE))
                      + _np(pc.match_substring_regex(cand, _LINE_RE))
                      + _np(pc.match_substring_regex(cand, _NAV_LINE))) > 0
    bp = np.bincount(parent, weights=(short & hit).astype(np.float64), minlength=n)
    return bp, total


@register
class Spam(Filter):
    """Remove obvious spam and boilerplate-dominated documents.

    Rules, in order (the first one violated is the reason): ``spam.url_density``,
    ``spam.boilerplate_density``, ``spam.top_token_share``, ``spam.title_repetition``,
    ``spam.caps_ratio``, ``spam.digit_symbol_ratio``. Every metric is a ratio in [0, 1]; a
    document is removed when it is strictly above the limit. Sources of each rule are in the
    module docstring; the defaults were chosen on real data to remove about 1% or less of good
    pages (docs/spam.md, `benchmarks/spam_thresholds.py`).

    Args:
        max_url_density: remove when more than this share of non-whitespace characters is in
            URLs or e-mail addresses (None: off).
        max_boilerplate_density: remove when more than this share of non-empty lines are
            boilerplate lines (UI phrases, lone UI words, navigation bars) (None: off).
        max_top_token_share: remove when the most frequent word is more than this share of
            all words (keyword stuffing) (None: off).
        max_title_repetition: remove when repeats of the first line (title) cover more than
            this share of the characters (None: off).
        max_caps_ratio: remove when more than this share of cased letters is upper case
            (None: off).
        max_digit_symbol_ratio: remove when more than this share of non-whitespace characters
            are digits or symbols (None: off).
        min_chars: ratios are computed only for documents with at least this many
            non-whitespace characters (shorter ones are kept: too little evidence).
        min_lines: boilerplate density needs at least this many non-empty lines.
        min_words: top-token share needs at least this many words of space-delimited scripts.
        min_cased_letters: caps ratio needs at least this many cased letters.
        max_boilerplate_line_chars: longer lines are never boilerplate lines.
        overrides: per-language values of the ``max_*`` parameters, ``{lang: {max_caps_ratio:
            0.4, ...}}`` (null switches the rule off for that language), chosen by the
            document's ``lang`` column; ``de`` also applies to ``de-AT`` (core/langparams.py,
            the mechanism of every stage).
        source_overrides: the same per source (by the `source` column), which win over
            `overrides`.
    """

    name = "spam"
    # 2: per_lang renamed overrides; de reaches de-AT (issue 16)
    version = 2

    def __init__(self, max_url_density: Fraction | None = 0.3,
                 max_boilerplate_density: Fraction | None = 0.3,
                 max_top_token_share: Fraction | None = 0.2,
                 max_title_repetition: Fraction | None = 0.2,
                 max_caps_ratio: Fraction | None = 0.7,
                 max_digit_symbol_ratio: Fraction | None = 0.4,
                 min_chars: Count = 20, min_lines: Count = 10, min_words: Count = 50,
                 min_cased_letters: Count = 20, max_boilerplate_line_chars: Count = 100,
                 overrides: Mapping[str, Mapping[str, float | None]] | None = None,
                 source_overrides: Mapping[str, Mapping[str, float | None]] | None = None):
        limits = {"max_url_density": max_url_density,
                  "max_boilerplate_density": max_boilerplate_density,
                  "max_top_token_share": max_top_token_share,
                  "max_title_repetition": max_title_repetition,
                  "max_caps_ratio": max_caps_ratio,
                  "max_digit_symbol_ratio": max_digit_symbol_ratio}
        self.limits = limits
        # No default language: a document without one takes the top-level limits.
        self.lang_params = LangParams(self.name, limits, overrides,
                                      source_overrides=source_overrides)
        check_entries(self, self.lang_params.entries())
        self.min_chars, self.min_lines, self.min_words = min_chars, min_lines, min_words
        self.min_cased_letters = min_cased_letters
        self.max_boilerplate_line_chars = max_boilerplate_line_chars

    def _active(self, metric: str) -> bool:
        return self.lang_params.is_set(_THRESHOLDS[metric])

    def score(self, docs: Docs) -> dict[str, np.ndarray]:
        text = docs.text
        if docs.num_rows == 0:
            return {m: np.zeros(0) for m in METRICS}
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        # the text's bytes and non-ASCII characters, decoded once for two metrics
        buf = utf8_buffer(text)
        decoded = decode_non_ascii(buf.data)
        counts = char_counts_utf8(buf, decoded)
        chars = counts[0] - counts[SPACE]  # non-whitespace characters
        letters = counts[LETTER]
        small = chars < max(self.min_chars, 1)
        scores: dict[str, np.ndarray] = {}
        if self._active("url_density"):
            scores["url_density"] = ratio_or_nan(url_chars(text), chars)
        if self._active("boilerplate_density"):
            bp, lines = boilerplate_lines(text, self.max_boilerplate_line_chars,
                                          max(self.min_lines, 1))
            scores["boilerplate_density"] = ratio_or_nan(bp, lines, max(self.min_lines, 1))
        if self._active("top_token_share"):
            share, _ = top_token_share(text, self.min_words, decoded)
            # Mostly Chinese/Japanese/Thai/...: no word boundaries, the rule does not apply.
            unsupported = ~small & (counts[UNSPACED] > MAX_UNSPACED_SHARE * letters)
            docs.count("top_token_share.skipped_unsupported_script", int(unsupported.sum()))
            share[unsupported] = np.nan
            scores["top_token_share"] = share
        if self._active("title_repetition"):
            scores["title_repetition"] = title_repetition(docs.texts, counts[0])
        if self._active("caps_ratio"):
            cased = counts[CASED]
            caps = ratio_or_nan(counts[UPPER], cased, max(self.min_cased_letters, 1))
            # Latin words inside Japanese, Korean, Arabic ... text are mostly acronyms.
            caps[cased < MIN_CASED_SHARE * letters] = np.nan
            scores["caps_ratio"] = caps
        if self._active("digit_symbol_ratio"):
            scores["digit_symbol_ratio"] = ratio_or_nan(counts[NUMBER] + counts[SYMBOL], chars)
        for values in scores.values():
            values[small] = np.nan
        return scores

    def rules(self, docs: Docs) -> list[Rule]:
        return [Rule(metric, metric, max=self.lang_params.values(key, docs))
                for metric, key in _THRESHOLDS.items()]

    def decide(self, docs: Docs, scores: Mapping[str, np.ndarray]) -> Outcome:
        # Rules whose metric was not computed (switched off everywhere) are skipped.
        return super().decide(docs, {**{m: np.full(docs.num_rows, np.nan) for m in METRICS},
                                     **scores})

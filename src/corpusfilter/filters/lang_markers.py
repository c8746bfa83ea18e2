"""Word markers that separate standard Bosnian from standard Croatian, and Serbian ekavian
from ijekavian text: the evidence the ensemble adds where lid.176 and CLD2 cannot tell
these languages apart (`langid_backends.Ensemble`).

Sources (linguistic descriptions of the standards, not the evaluation data): the lexical and
orthographic pairs listed in comparisons of standard Bosnian, Croatian, Montenegrin and
Serbian (e.g. Croatian *tko / tisuća / povijest / tjedan / glazba / znanost / sveučilište /
tijekom / Europa*, Croatian month names *siječanj … prosinac*, against Bosnian *ko / hiljada /
historija / sedmica / muzika / nauka / univerzitet / tokom / Evropa* and the international
month names), and the reflex of Proto-Slavic *jat*: standard Serbian is ekavian (*vreme,
mesto, dete, reč*), Bosnian and Croatian are ijekavian (*vrijeme, mjesto, dijete, riječ*).
Only whole words count (lower-cased), so a marker never fires inside another word.

The lists were written from those descriptions once and measured on the development
sentences of ``langid.parquet`` without editing them to fit (docs/language.md). Markers
for Malay against Indonesian (*bahawa/bahwa, kerana/karena, wang/uang, -iti/-itas*) are
deliberately absent: in that data most of the Malay sentences that carry any marker carry
Indonesian ones, so they could not be measured (docs/language.md, "Bosnian and Malay").
"""

from __future__ import annotations

import re


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())

# Croatian standard forms whose Bosnian counterpart differs
CROATIAN = _words("""
tko netko nitko svatko tisuća tisuću povijest povijesti kazalište glazba glazbe znanost
znanosti sveučilište sveučilišta tjedan tjedna vlak kruh obitelj obitelji nogomet zrakoplov
izvješće ravnatelj točka točno siječanj veljača ožujak travanj svibanj lipanj srpanj kolovoz
rujan listopad studeni prosinac siječnja veljače ožujka travnja svibnja lipnja srpnja kolovoza
rujna listopada studenog studenoga prosinca europa europe europi europski europske europskog
europskoj tijekom uvjet uvjeti uvjeta sudjelovati mirovina suradnja suradnje suradnji obrana
obrane osobno osobni osobne tvrtka tvrtke računalo računala uporaba uporabe gospodarstvo
gospodarstva kemija kava otok otoka uopće primjerice veleposlanstvo liječnik plaća
""")

# Bosnian standard forms whose Croatian counterpart differs (many are shared with Serbian,
# hence the ekavian check before they are read as Bosnian)
BOSNIAN = _words("""
ko neko niko svako hiljada hiljade hiljadu historija historije historiji pozorište muzika
muzike nauka nauke univerzitet univerziteta sedmica sedmice voz hljeb porodica porodice
porodici fudbal avion izvještaj direktor tačka tačno januar februar mart maj juni juli avgust
august septembar oktobar novembar decembar januara februara marta aprila maja juna jula
augusta avgusta septembra oktobra novembra decembra evropa evrope evropi evropski evropske
evropskog evropskoj tokom uslov uslovi uslova učestvovati penzija saradnja saradnje saradnji
odbrana odbrane lično lični lične firma kompjuter kompjutera upotreba upotrebe privreda
privrede hemija kahva kafa ostrvo ostrva uopšte naprimjer ambasada ljekar plata šta takođe
""")

# Jat reflex: the ekavian (standard Serbian) and ijekavian forms of the same common words
EKAVIAN = _words("""
gde ovde onde negde vreme mesto mesta mestu deca dece deci dete deteta reč reči svet sveta
svetu uvek posle pre predsednik predsednika lepo lep lepa mleko reka reke pesma pesme vek
veka telo tela cena cene nedelja nedelje primer primera deo ceo celog cela verovatno videti
živeti želeti voleti hteti razumeti sedeti lek leka beli bela belo sneg leto leta cvet hleb
mera mere
""")
IJEKAVIAN = _words("""
gdje ovdje ondje negdje vrijeme mjesto mjesta mjestu djeca djece djeci dijete djeteta riječ
riječi svijet svijeta svijetu uvijek poslije prije predsjednik predsjednika lijepo lijep
lijepa mlijeko rijeka rijeke pjesma pjesme vijek vijeka tijelo tijela cijena cijene nedjelja
nedjelje primjer primjera dio cijeli cijelog cijela vjerovatno vjerojatno vidjeti živjeti
željeti voljeti htjeti razumjeti sjediti lijek lijeka bijeli bijela bijelo snijeg ljeto ljeta
cvijet mjera mjere
""")

_WORD = re.compile(r"[^\W\d_]+")


def count(text: str, first: frozenset[str], second: frozenset[str]) -> tuple[int, int]:
    """How many words of `text` (lower-cased, whole words) are in `first` and in `second`."""
    a = b = 0
    for w in _WORD.findall(text.lower()):
        if w in first:
            a += 1
        elif w in second:
            b += 1
    return a, b


def mostly_latin(text: str) -> bool:
    """More Latin letters than Cyrillic ones (Serbian is written in both scripts)."""
    if not _CYRILLIC.search(text):
        return _LATIN.search(text) is not None
    return len(_LATIN.findall(text)) > len(_CYRILLIC.findall(text))


_CYRILLIC = re.compile("[\u0400-\u04ff]")
# Basic Latin and Latin-1/Extended-A/B letters (č, ć, đ, š, ž are in Extended-A)
_LATIN = re.compile("[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]")

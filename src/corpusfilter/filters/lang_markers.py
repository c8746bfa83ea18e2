"""Word markers that separate standard Bosnian from standard Croatian, Serbian ekavian from
ijekavian text, and standard Malay from standard Indonesian: the evidence the ensemble adds
where lid.176 and CLD2 cannot tell these languages apart (`langid_backends.Ensemble`).

Sources (descriptions of the standard languages, not the evaluation data):

* Bosnian / Croatian / Serbian: the lexical and orthographic pairs listed in comparisons of
  the standards (e.g. Croatian *tko / tisuća / povijest / tjedan / glazba / znanost /
  sveučilište / tijekom / Europa / sustav / tajnik / tvornica / knjižnica / proračun*, the
  Croatian month names *siječanj … prosinac*, against Bosnian
  *ko / hiljada / historija / sedmica / muzika / nauka / univerzitet / tokom / Evropa / sistem
  / sekretar / fabrika / biblioteka / budžet*, the international month names, and the
  Bosnian *h* in *lahko, sahat, kahva*), and the reflex of Proto-Slavic *jat*: standard
  Serbian is ekavian (*vreme, mesto, dete, reč*), Bosnian and Croatian are ijekavian
  (*vrijeme, mjesto, dijete, riječ*).
* Malay / Indonesian: the spelling and vocabulary of Dewan Bahasa dan Pustaka (Kamus Dewan,
  Malaysia) against KBBI and EYD / PUEBI (Indonesia). The 1972 common spelling (Ejaan Rumi
  Baharu / EYD) left words such as *kerana / karena, bahawa / bahwa, iaitu / yaitu, wang /
  uang, cuba / coba, mahu / mau* distinct; loanwords are adapted differently (Malay from
  English: *universiti, kualiti, teksi, telefon, muzik*; Indonesian from Dutch: *universitas,
  kualitas, taksi, telepon, musik*); month and day names differ (*Ogos / Agustus, Isnin /
  Senin*); and each standard has its own everyday words (*kenderaan / kendaraan, bahagian /
  bagian, peratus / persen, sihat / sehat, selepas*, Indonesian *kantor, pabrik, mobil*, the
  Jakarta particles *nggak, banget, sih, dong*).

Only whole words count (lower-cased), so a marker never fires inside another word. A word
that exists in both standards with another meaning is left out (Malay *kerajaan*
"government" is Indonesian "kingdom"; Indonesian *pejabat* "official" is Malay "office").

Each list was written from those descriptions before it was measured on the development
sentences of ``langid.parquet`` and not edited to fit them, with one exception: *udruženje*
and *direktno* left the Bosnian list when a Croatian test sentence showed that Croatian uses
them too (docs/language.md, "Bosnian and Malay").
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
sustav sustava sustavu tajnik tajnica tvornica tvornice knjižnica knjižnice kolodvor izravno
izravni glede nazočan nazočni udruga udruge izvanredan izvanredno tisak vojarna zapovjednik
postrojba postrojbe priopćenje priopćenja prosvjed prosvjeda zemljopis momčad izbornik
nogometaš nogometni dragovoljac dragovoljci dužnosnik dužnosnici časnik proračun proračuna
gospodarski gospodarstvu tjedno tjedana glazbeni glazbenik znanstveni znanstvenik
sveučilišni povijesni kazališni kazališta obiteljski računalni europskih europsku europskom
europska putovnica putovnice veleposlanik umirovljenik umirovljenici
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
sistem sistema sistemu sekretar sekretarka fabrika fabrike biblioteka biblioteke vanredan
vanredno štampa kasarna komandant saopćenje
saopćenja geografija fudbaler fudbalski dobrovoljac dobrovoljci funkcioner funkcioneri
zvaničnik zvaničnici oficir budžet budžeta privredni obavještenje historijski muzički
muzičar naučni naučnik univerzitetski pozorišni pozorišta porodični kompjuterski hemijski
sedmično lahko sahat saobraćaj saobraćaja sprat sprata spratu pasoš ambasador aerodrom
aerodroma penzioner penzioneri selektor evropskih evropsku evropskom evropska
""")

# Jat reflex: the ekavian (standard Serbian) and ijekavian forms of the same common words
EKAVIAN = _words("""
gde ovde onde negde vreme mesto mesta mestu deca dece deci dete deteta reč reči svet sveta
svetu uvek posle pre predsednik predsednika lepo lep lepa mleko reka reke pesma pesme vek
veka telo tela cena cene nedelja nedelje primer primera deo ceo celog cela verovatno videti
živeti želeti voleti hteti razumeti sedeti lek leka beli bela belo sneg leto leta cvet hleb
mera mere
sledeći sledeće sledećeg poslednji poslednje poslednjeg devojka devojke čovek čoveka vest
vesti seća sećam veruje verujem vera verovati mesec meseca meseci zahtev zahteva pobeda
pobede sreda seme delo dela delovati deliti podela sedište pevač pevati pesnik zvezda zvezde
vredno vrednost vrednosti celo menja promena promene smer svetlo svetski svetskog svetskom
letnji vetar bežati dvesta nigde svugde primetio primetiti odeljenje koleno
""")
IJEKAVIAN = _words("""
gdje ovdje ondje negdje vrijeme mjesto mjesta mjestu djeca djece djeci dijete djeteta riječ
riječi svijet svijeta svijetu uvijek poslije prije predsjednik predsjednika lijepo lijep
lijepa mlijeko rijeka rijeke pjesma pjesme vijek vijeka tijelo tijela cijena cijene nedjelja
nedjelje primjer primjera dio cijeli cijelog cijela vjerovatno vjerojatno vidjeti živjeti
željeti voljeti htjeti razumjeti sjediti lijek lijeka bijeli bijela bijelo snijeg ljeto ljeta
cvijet mjera mjere
sljedeći sljedeće sljedećeg posljednji posljednje posljednjeg djevojka djevojke čovjek
čovjeka vijest vijesti sjeća sjećam vjeruje vjerujem vjera vjerovati mjesec mjeseca mjeseci
zahtjev zahtjeva pobjeda pobjede srijeda sjeme djelo djela djelovati dijeliti podjela
sjedište pjevač pjevati pjesnik zvijezda zvijezde vrijedno vrijednost vrijednosti cijelo
mijenja promjena promjene smjer svjetlo svjetski svjetskog svjetskom ljetni vjetar bježati
dvjesta nigdje svugdje primijetio primijetiti odjeljenje koljeno
""")


# Standard Malay (Malaysia; Dewan Bahasa dan Pustaka's spelling and vocabulary, Kamus Dewan)
# against standard Indonesian (KBBI / EYD-PUEBI): pairs that the 1972 common spelling
# (Ejaan Rumi Baharu / EYD) left distinct, loanword adaptations (Malay -iti after English
# -ity, Indonesian -itas after Dutch -iteit; *teksi/taksi, telefon/telepon*), month and day
# names, and words of the everyday vocabulary where each standard uses its own. Words that exist in both standards with
# another meaning (Malay *kerajaan* "government" is Indonesian "kingdom", Indonesian *pejabat*
# "official" is Malay "office", *boleh*, *percuma*, *kereta*, *polisi*, *semalam*, *daripada*,
# *ialah*, *saja*) are left out: they would fire on the other standard. Jakarta colloquial
# particles (*nggak, banget, udah, sih, dong*) count for Indonesian.
MALAY = _words("""
kerana bahawa iaitu sahaja wang cuba mencuba dicuba mahu universiti kualiti aktiviti
komuniti fasiliti identiti realiti kapasiti prioriti integriti kreativiti produktiviti
teksi doktor kerusi telefon televisyen muzik muzium filem akaun akhbar syarikat kenderaan
basikal perlembagaan disember ogos julai isnin khamis jumaat berbeza beza perbezaan faham
fikir berfikir fikiran sedar kesedaran menyedari disedari rasmi moden tarikh kempen projek
antarabangsa perisian maklumat mesyuarat pelbagai bahagian sebahagian peratus bilion
trilion jawatan jawatankuasa pengarah setiausaha tempoh jenama selepas encik sebarang
kakitangan pentadbiran kewangan pelancongan pelancong perniagaan peniaga berkongsi
perkongsian tandas hospital bertanggungjawab tanggungjawab kemaskini jururawat juruterbang
jurucakap jurulatih pensyarah cikgu peperiksaan kolej ubat ubatan perubatan berubat sihat
kesihatan tingkap beg pasaraya sukan kejohanan mengandungi jangkaan justeru sentiasa baharu
biasiswa saintis siasatan peguam pertuduhan kemalangan bomba
""")
INDONESIAN = _words("""
karena karna bahwa yaitu uang coba mencoba dicoba mau universitas kualitas aktivitas
komunitas fasilitas identitas realitas kapasitas prioritas integritas kreativitas
produktivitas listrik taksi dokter kursi telepon televisi musik film akun koran kendaraan
sepeda desember agustus juli maret juni senin kamis jumat berbeda beda perbedaan paham
pikir berpikir pikiran sadar kesadaran menyadari disadari resmi modern tanggal kampanye
proyek internasional kantor berbagai bagian sebagian persen miliar triliun direktur
sekretaris merek pabrik sembarang keuangan pariwisata wisata wisatawan bisnis bandara
pemilu memperbarui diperbarui pembaruan dosen obat pengobatan berobat sehat kesehatan
kacamata toko swalayan olahraga kejuaraan justru beasiswa kecelakaan mobil gratis kemarin
bisa nggak enggak gak banget udah aja sih dong deh nih gimana
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


def malay_or_indonesian(text: str) -> str | None:
    """``ms`` where `text` has more Malay than Indonesian marker words, ``id`` for the
    reverse, None for a tie (most sentences have neither)."""
    malay, indonesian = count(text, MALAY, INDONESIAN)
    if malay == indonesian:
        return None
    return "ms" if malay > indonesian else "id"


def mostly_latin(text: str) -> bool:
    """More Latin letters than Cyrillic ones (Serbian is written in both scripts)."""
    if not _CYRILLIC.search(text):
        return _LATIN.search(text) is not None
    return len(_LATIN.findall(text)) > len(_CYRILLIC.findall(text))


_CYRILLIC = re.compile("[\u0400-\u04ff]")
# Basic Latin and Latin-1/Extended-A/B letters (č, ć, đ, š, ž are in Extended-A)
_LATIN = re.compile("[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]")

"""The whole default recipe, end to end: CPU per document, workers 2 vs 1, and datatrove.

Run: ``.venv/bin/python benchmarks/pipeline.py [--sizes 10000 100000] [--rounds 3]
[--workers 2] [--datatrove-docs 10000] [--workers-check 10000] [--profile 2000]
[--lines-check 5640 100000]``

Corpus: the real pages of ``../shared/data/web_docs.parquet`` cut into ~2 KB chunks at line
breaks (5,640 chunks: the first lap), cycled with new ids up to the size, plus 5% exact copies
and 10% near copies (1% of words replaced by other words of the same text) of one of the
last 5,640 documents, in shards of 5,000 documents. In every later lap a chunk's own lines
(those in fewer than 5 chunks of the first lap) are new: one word in 20, at least one, is
replaced by another word of the same chunk (seeded by lap and line), so the words, languages,
line structure and the lines shared across pages stay those of the real pages while
``boilerplate_lines`` does not see the laps as repeated lines (it reads digits as 0, so the
lap number the corpus once put in front of a chunk made no line new: from ~28k documents on
it removed most of them). ``--lines-check`` prints what ``boilerplate_lines`` takes at each
size (documents, lines, characters). Every system runs as a subprocess on the same
Parquet shards with the same worker count; CPU is user + system time of the subprocess and
all its children (pool workers included). Rounds are interleaved (ours, peer, ours, peer...)
and each ratio is printed as min / median / max over rounds.

1. ``--sizes``: CPU seconds, documents per CPU-second and CPU µs per document of
   ``corpusfilter run default`` at each size (the cost per document should not grow), and
   the peak RSS of the largest single process so far (driver or pool worker).
2. ``--workers-check N``: the same run at N documents with ``--workers 2`` and ``--workers 1``
   (issue #22's bar: ≤ 1.2×).
3. ``--datatrove-docs N``: datatrove's closest chain (printed before the ratio) on the same
   shards: FTFYFormatter, language labelling (datatrove's LanguageFilter label-only steps in a
   LambdaFilter, on the lid.176.ftz shipped in corpusfilter: nothing downloaded), GopherRepetition, GopherQuality, C4Quality
   (FineWeb's options), FineWebQuality, MinHash dedup in its four steps (5-grams, 14 × 8),
   PIIFormatter, ParquetWriter. Ours also runs spam, toxicity and exact_dedup, which that
   chain does not have. datatrove's pool runs under a forkserver that outlives the main
   process and is never waited for, so RUSAGE_CHILDREN alone missed its workers' CPU (a
   5,000-document run once printed 1.9 CPU-s): this benchmark makes itself the subreaper of
   its descendants (Linux prctl) and reaps every orphan before reading the counters, for
   both systems alike. Wall seconds are printed beside CPU as a cross-check. On this
   machine (2026-12-03) datatrove's pool hung with ``--workers 2`` and two or more shards
   (its tasks logged "Reading input file" and then used no CPU for 20 minutes, also on 200
   documents outside this script): compare with ``--workers 1`` (both in one process), which
   favours the peer (no pool start-up).
4. ``--profile N``: cProfile of the default recipe in process on N documents: the top
   functions by own time (where the next speed-up is).
5. ``--before SRC``: at each of ``--sizes``, also run the source tree SRC (e.g.
   ``/work/main/src``) in turn with this one, and print the CPU ratio before / after
   (min / median / max over the interleaved rounds).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
SHARD_DOCS = 5000
CHUNK = 2000
# lines in this many chunks of the first lap are boilerplate there (boilerplate_lines'
# min_docs); later laps keep them as they are
SHARED = 5
PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "RAY_USAGE_STATS_ENABLED": "0"}


def chunks() -> list[str]:
    """The real pages cut into ~2 KB chunks at line breaks."""
    out = []
    for doc in pq.read_table(DATA / "web_docs.parquet", columns=["text"])["text"].to_pylist():
        cur: list[str] = []
        size = 0
        for line in doc.split("\n"):
            cur.append(line)
            size += len(line) + 1
            if size >= CHUNK:
                out.append("\n".join(cur))
                cur, size = [], 0
        if size >= CHUNK // 4:
            out.append("\n".join(cur))
    return out


# A word, or one character of a script written without spaces (CJK, kana, Thai, Lao, Khmer,
# Myanmar): the unit a later lap replaces. Digits are not words here: boilerplate_lines reads
# every digit as 0, so changing one would not make a line new.
_SPACELESS = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff" \
             "\uf900-\ufaff"
UNIT = re.compile(rf"[{_SPACELESS}]|\b[^\W\d_{_SPACELESS}]+\b")


def line_key(line: str) -> str:
    """A line as `boilerplate_lines` compares lines (CCNet's normalisation: trimmed,
    lower-cased, digits as 0, runs of whitespace as one space)."""
    return re.sub(r"\s+", " ", re.sub(r"\d", "0", line.strip().lower()))


def shared_lines(src: list[str]) -> set[str]:
    """Lines (as `line_key`) found in two or more chunks of the first lap: menus, footers,
    share buttons, one site's template. Later laps keep them verbatim, as a larger crawl
    meets them again."""
    seen: dict[str, int] = {}
    for chunk in src:
        for key in {line_key(line) for line in chunk.split("\n") if line.strip()}:
            seen[key] = seen.get(key, 0) + 1
    return {key for key, count in seen.items() if count >= SHARED}


def new_lap(chunk: str, lap: int, shared: set[str]) -> str:
    """The chunk for lap `lap` >= 1: every line found in this chunk only gets one word in 20
    (at least one) replaced by another word of the same chunk, drawn with a RNG seeded by
    (lap, line), so the line is new in every lap and a line repeated within the chunk stays
    repeated. Lines, their order, lengths (to a word), languages and the shared lines stay
    those of the real page."""
    counts: dict[str, int] = {}
    for m in UNIT.finditer(chunk):
        counts[m.group()] = counts.get(m.group(), 0) + 1
    vocab = sorted(counts)
    # a one-word line takes a word found once in the chunk: common words ("the", "и") are in
    # every page, and as lines of their own they would recur across documents
    rare = sorted(w for w, c in counts.items() if c == 1)
    out = []
    for line in chunk.split("\n"):
        spans = [m.span() for m in UNIT.finditer(line)]
        if not spans or len(vocab) < 2 or line_key(line) in shared:
            out.append(line)
            continue
        words = rare if len(spans) == 1 and len(rare) >= 2 else vocab
        rng = random.Random(f"{lap}\n{line}")  # str seeds are hashed with SHA-512: stable
        pieces, end = [], 0
        for a, b in sorted(rng.sample(spans, max(1, len(spans) // 20))):
            word = rng.choice(words)
            for _ in range(8):  # line_key reads case as the same: another word, if any
                if word.lower() != line[a:b].lower():
                    break
                word = rng.choice(words)
            pieces += [line[end:a], word]
            end = b
        out.append("".join(pieces) + line[end:])
    return "\n".join(out)


def write_corpus(n: int, d: Path) -> None:
    src = chunks()
    shared = shared_lines(src)
    rng = random.Random(0)
    texts: list[str] = []
    for i in range(n):
        r = rng.random()
        # copies are of one of the last len(src) documents: drawn from all before them, the
        # first documents gathered copies of copies as the corpus grew (~n ** 0.15 of them:
        # 5 and more at 100k), so their lines crossed boilerplate_lines' min_docs
        recent = max(0, len(texts) - len(src))
        if r < 0.05 and texts:
            texts.append(texts[rng.randrange(recent, len(texts))])
        elif r < 0.15 and texts:
            words = texts[rng.randrange(recent, len(texts))].split(" ")
            # 1% of the words replaced by other words of the same text (three fixed words
            # made the same short lines, "charlie Twitter", in more documents as n grew)
            vocab = sorted(set(words))
            for k in rng.sample(range(len(words)), max(1, len(words) // 100)):
                words[k] = rng.choice(vocab)
            texts.append(" ".join(words))
        else:  # a chunk as it is in the first lap, its own lines made new in later laps
            lap, j = divmod(i, len(src))
            texts.append(src[j] if not lap else new_lap(src[j], lap, shared))
    d.mkdir(parents=True)
    for k, start in enumerate(range(0, n, SHARD_DOCS)):
        part = texts[start:start + SHARD_DOCS]
        ids = [f"d{i:09d}" for i in range(start, start + len(part))]
        pq.write_table(pa.table({"id": ids, "text": part}), d / f"part-{k:04d}.parquet")


_PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux), so that the CPU of
    a grandchild whose parent exits without waiting for it (datatrove's forkserver and its
    pool workers: the forkserver outlives the main process and is never waited for) is
    still counted by RUSAGE_CHILDREN once `reap_orphans` waits for it."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def reap_orphans(timeout: float = 120.0) -> int:
    """Wait for every descendant reparented to this process (their CPU then counts in
    RUSAGE_CHILDREN); after `timeout` seconds the stragglers are killed and reaped. Returns
    how many were reaped."""
    deadline = time.monotonic() + timeout
    reaped = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid:
            reaped += 1
            continue
        if time.monotonic() > deadline:
            for child in _children():
                os.kill(child, signal.SIGKILL)
            print(f"warning: killed orphaned processes after {timeout:.0f} s", file=sys.stderr)
            deadline = float("inf")
        time.sleep(0.05)


def _children() -> list[int]:
    me = str(os.getpid())
    out = []
    for st in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = st.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:  # field 4 of stat: the parent's pid
            out.append(int(st.parent.name))
    return out


WALL: list[float] = []  # wall seconds of each timed command, in order


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    """CPU seconds (user + system) of a subprocess and all its descendants, orphans included
    (see `become_subreaper`)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env or ENV, stdout=subprocess.DEVNULL)
    reap_orphans()
    WALL.append(time.perf_counter() - t0)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def ours(inp: Path, out: Path, workers: int, src: str | None = None) -> float:
    """CPU seconds of the default recipe (`src`: another source tree, e.g. main's)."""
    shutil.rmtree(out, ignore_errors=True)
    env = {**ENV, "PYTHONPATH": str(Path(src).resolve())} if src else None
    return timed([PY, "-m", "corpusfilter.cli", "run", "default", str(inp), "-o", str(out),
                  "--workers", str(workers), "--no-progress", "-q"], env)


_MODEL: list = []


def _label(doc: Any) -> bool:
    """datatrove's LanguageFilter(label_only=True) with FT176LID.predict's steps, on the
    lid.176.ftz shipped in corpusfilter (loaded once per datatrove worker): the real class
    downloads lid.176.bin and requires fasteners and the fasttext wheel (ours:
    fasttext-predict)."""
    if not _MODEL:
        import fasttext

        _MODEL.append(fasttext.load_model(str(ROOT / "src/corpusfilter/resources/langid/"
                                                     "lid.176.ftz")))
    labels, scores = _MODEL[0].predict(doc.text.replace("\n", " "), k=-1)
    pairs = {lb.split("__")[2]: float(s) for lb, s in zip(labels, scores, strict=True)}
    doc.metadata["language"], doc.metadata["language_score"] = max(pairs.items(),
                                                                   key=lambda x: x[1])
    return True


def datatrove_chain(inp: str, work: str, workers: int) -> None:
    """Datatrove's closest chain to the default recipe (run in a subprocess by `peer`)."""
    import xxhash
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.filters import LambdaFilter
    from datatrove.utils.hashes import xxhash as dt_xxhash

    # datatrove 0.10 passes str to xxhash, which recent xxhash releases refuse (as in
    # benchmarks/minhash.py): encode first, so datatrove runs its default configuration.
    dt_xxhash.xxhash64 = lambda data: xxhash.xxh64_intdigest(  # type: ignore[assignment]
        data.encode("utf-8") if isinstance(data, str) else data)
    lang = LambdaFilter(_label)
    for i, (pipe, n) in enumerate(datatrove_steps(inp, work, lang)):
        LocalPipelineExecutor(pipeline=pipe, tasks=n, workers=workers,
                              logging_dir=str(Path(work) / f"logs{i}")).run()


def datatrove_steps(inp: str, work: str, lang: Any) -> list[tuple[list[Any], int]]:
    """The chain's five executor runs: (pipeline steps, tasks). One task per input shard
    (datatrove's unit of parallelism), one per MinHash bucket, one for the clustering: the
    layout of datatrove's own MinHash example, with as many workers as ours."""
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.pipeline.formatters import FTFYFormatter, PIIFormatter
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter

    cfg = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8)
    tasks = len(list(Path(inp).glob("*.parquet")))
    w = Path(work)
    return [
        ([ParquetReader(inp, glob_pattern="*.parquet", text_key="text", id_key="id"),
          FTFYFormatter(), lang, GopherRepetitionFilter(), GopherQualityFilter(),
          C4QualityFilter(filter_no_terminal_punct=False), FineWebQualityFilter(),
          ParquetWriter(str(w / "filtered"))], tasks),
        ([ParquetReader(str(w / "filtered")), MinhashDedupSignature(str(w / "sigs"), config=cfg)],
         tasks),
        ([MinhashDedupBuckets(str(w / "sigs"), str(w / "buckets"), config=cfg)],
         cfg.num_buckets),
        ([MinhashDedupCluster(str(w / "buckets"), str(w / "remove"), config=cfg)], 1),
        ([ParquetReader(str(w / "filtered")), MinhashDedupFilter(str(w / "remove")),
          PIIFormatter(), ParquetWriter(str(w / "out"))], tasks),
    ]


def describe_datatrove(inp: Path, workers: int) -> str:
    """The peer's configuration as run (printed next to its figures)."""
    from importlib.metadata import version

    from datatrove.executor import LocalPipelineExecutor

    lang = type("LanguageLabel", (), {"name": "LambdaFilter(LanguageFilter steps, label "
                                              "only, lid.176.ftz)"})()
    ex = LocalPipelineExecutor(pipeline=[], tasks=1, workers=workers)
    lines = [f"datatrove {version('datatrove')}, LocalPipelineExecutor(workers={workers}, "
             f"start_method={ex.start_method!r}), one executor run per step:"]
    for i, (pipe, tasks) in enumerate(datatrove_steps(str(inp), "/nonexistent", lang), 1):
        names = [lang.name if step is lang else type(step).__name__ for step in pipe]
        names = [f"{x}(filter_no_terminal_punct=False)" if x == "C4QualityFilter" else x
                 for x in names]
        lines.append(f"  {i}. tasks={tasks}: " + " > ".join(names))
        cfgs = {str(step.config) for step in pipe if hasattr(step, "config")}
        lines += [f"     {c}" for c in cfgs if i == 2]
    return "\n".join(lines)


def peer(inp: Path, work: Path, workers: int) -> float:
    shutil.rmtree(work, ignore_errors=True)
    return timed([PY, __file__, "--_datatrove", str(inp), str(work), str(workers)])


def spread(xs: list[float]) -> str:
    return f"{min(xs):.2f} / {statistics.median(xs):.2f} / {max(xs):.2f}"


def interleaved(first: Callable[[], float], second: Callable[[], float], rounds: int
                ) -> tuple[list[float], list[float]]:
    """CPU seconds of two commands run in turn, `rounds` times (ratios taken pair by pair
    cancel a drift of the shared machine's speed)."""
    a, b = [], []
    for _ in range(rounds):
        a.append(first())
        b.append(second())
    return a, b


def profile(n: int, tmp: Path, top: int = 25) -> None:
    from corpusfilter import Pipeline

    inp = tmp / f"prof-{n}"
    write_corpus(n, inp)
    table = pq.read_table(sorted(inp.glob("*.parquet")))
    pipeline = Pipeline("default", max_removal_rate=1.0)
    pipeline.run(table.slice(0, 200))  # models and word lists loaded before profiling
    prof = cProfile.Profile()
    prof.enable()
    res = pipeline.run(table, batch_size=1000)
    prof.disable()
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(top)
    print(f"\n## Profile: default recipe in process, {n:,} documents "
          f"({res.kept.num_rows:,} kept), top {top} by own time\n")
    print(s.getvalue())
    for name, st in res.stats.data["stages"].items():
        print(f"  {name:20s} {st.get('seconds', 0):7.2f} s")


def lines_check(sizes: list[int], tmp: Path) -> None:
    """What `boilerplate_lines` (the default recipe's parameters) takes from the generated
    corpus at each size: if later laps repeated lines of the first, these shares would grow
    with the size (they did: 80% of documents removed at 100k)."""
    sys.path.insert(0, str(ROOT / "src"))  # this tree's corpusfilter, as the runs use
    from corpusfilter import Pipeline
    from corpusfilter.dedup.lines import BoilerplateLines

    print("\n## boilerplate_lines alone on the generated corpus (min_docs 5, "
          "min_doc_repeats 2)\n")
    print(f"{'docs':>9} {'docs removed':>13} {'lines stripped':>24} {'chars stripped':>15}")
    for n in sizes:
        inp = tmp / f"lines-{n}"
        write_corpus(n, inp)
        table = pq.read_table(sorted(inp.glob("*.parquet")))
        res = Pipeline([BoilerplateLines(min_doc_repeats=2)], max_removal_rate=1.0).run(
            table, batch_size=SHARD_DOCS)
        st = res.stats.data["stages"]["boilerplate_lines"]
        lines = sum(sum(1 for line in t.split("\n") if line.strip())
                    for t in table["text"].to_pylist())
        stripped = st["counters"].get("lines_removed", 0)
        chars = st["chars_in"] - st["chars_out"]
        print(f"{n:>9,} {st['removed'] / n:>13.2%} {stripped:>11,} / {lines:>9,} "
              f"{stripped / lines:>6.1%} {chars / st['chars_in']:>14.1%}", flush=True)
        shutil.rmtree(inp)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--datatrove-docs", type=int, default=0)
    ap.add_argument("--workers-check", type=int, default=0)
    ap.add_argument("--profile", type=int, default=0)
    ap.add_argument("--lines-check", type=int, nargs="*", default=[])
    ap.add_argument("--before", help="another source tree to run in turn (before/after)")
    ap.add_argument("--_datatrove", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._datatrove:
        datatrove_chain(args._datatrove[0], args._datatrove[1], int(args._datatrove[2]))
        return
    if not become_subreaper():
        print("warning: not Linux: CPU of orphaned grandchildren is not counted",
              file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="cf-pipeline-"))
    try:
        if args.profile:
            profile(args.profile, tmp)
        if args.lines_check:
            lines_check(args.lines_check, tmp)
        if args.sizes:
            print(f"\n## Default recipe, local engine, --workers {args.workers}, "
                  f"{args.rounds} rounds\n")
            print(f"{'docs':>9} {'CPU s (min/med/max)':>24} {'docs/CPU-s':>11} {'µs/doc':>8} "
                  f"{'max RSS MiB':>11}")
            for n in args.sizes:
                inp = tmp / f"in-{n}"
                write_corpus(n, inp)
                if args.before:
                    old, cpu = interleaved(
                        lambda d=inp: ours(d, tmp / "out", args.workers, args.before),
                        lambda d=inp: ours(d, tmp / "out", args.workers), args.rounds)
                else:
                    cpu = [ours(inp, tmp / "out", args.workers) for _ in range(args.rounds)]
                med = statistics.median(cpu)
                # largest single process so far (Linux: KiB; a high-water mark over the run)
                rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
                print(f"{n:>9,} {spread(cpu):>24} {n / med:>11,.0f} {med / n * 1e6:>8.0f} "
                      f"{rss:>11,.0f}", flush=True)
                if args.before:
                    ratios = [b / a for b, a in zip(old, cpu, strict=True)]
                    print(f"{'':>9} before ({args.before}): CPU s {spread(old)}, "
                          f"{n / statistics.median(old):,.0f} docs/CPU-s; CPU before / after "
                          f"(min/median/max): {spread(ratios)}", flush=True)
                shutil.rmtree(inp)
        if args.workers_check:
            n = args.workers_check
            inp = tmp / f"wc-{n}"
            write_corpus(n, inp)
            w2s, w1s = interleaved(lambda: ours(inp, tmp / "out", 2),
                                   lambda: ours(inp, tmp / "out", 1), args.rounds)
            ratios = [w2 / w1 for w2, w1 in zip(w2s, w1s, strict=True)]
            print(f"\n## --workers 2 vs --workers 1 at {n:,} documents ({args.rounds} rounds)\n")
            print(f"CPU s workers 1: {spread(w1s)}; workers 2: {spread(w2s)}")
            print(f"CPU ratio workers 2 / workers 1 (min/median/max): {spread(ratios)}")
            shutil.rmtree(inp)
        if args.datatrove_docs:
            n = args.datatrove_docs
            inp = tmp / f"dt-{n}"
            write_corpus(n, inp)
            ocpu, dcpu = interleaved(lambda: ours(inp, tmp / "out", args.workers),
                                     lambda: peer(inp, tmp / "dt", args.workers), args.rounds)
            ratios = [d / o for o, d in zip(ocpu, dcpu, strict=True)]
            print(f"\n## Default recipe vs datatrove's closest chain, {n:,} documents, "
                  f"--workers {args.workers} both, {args.rounds} interleaved rounds\n")
            print(describe_datatrove(inp, args.workers))
            walls = WALL[-2 * args.rounds:]
            print(f"wall s ours: {spread(walls[0::2])}; datatrove: {spread(walls[1::2])}")
            print(f"ours CPU s: {spread(ocpu)}  ({n / statistics.median(ocpu):,.0f} docs/CPU-s)")
            print(f"datatrove CPU s: {spread(dcpu)}  "
                  f"({n / statistics.median(dcpu):,.0f} docs/CPU-s)")
            print(f"datatrove CPU / ours (min/median/max): {spread(ratios)}")
            shutil.rmtree(inp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

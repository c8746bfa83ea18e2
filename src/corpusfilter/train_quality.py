"""``corpusfilter train-quality``: train a quality model offline, with seeded cross-validation.

Input: labelled Parquet (``--label-column`` and the value of the good class), or positives
and negatives as two inputs (``--positives``/``--negatives``, the DCLM recipe: reference-
quality text against random crawl). Output: a quantised ``.cfq`` model for
`quality_classifier` (`filters/quality_model.py`). Printed: ROC AUC and, at the recall of
good documents you ask for (``--recall``), the precision of "keep" and the share of bad
documents kept, from out-of-fold scores of stratified k-fold CV with a fixed seed.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpusfilter.core.errors import CorpusFilterError
from corpusfilter.filters.quality_model import SUFFIX, HashedLogReg


@dataclass
class CVResult:
    auc: float
    recall: float  # recall of good documents at the chosen threshold
    precision: float  # precision of "keep" at that threshold
    bad_kept: float  # share of bad documents kept at that threshold
    threshold: float
    oof: np.ndarray  # out-of-fold scores (quantised models)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney AUC (ties count half)."""
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    s = scores[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = labels == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def folds_of(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Stratified fold number per example, from a seeded shuffle of each class."""
    rng = np.random.default_rng(seed)
    out = np.zeros(len(labels), dtype=np.int64)
    for cls in (0, 1):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        out[idx] = np.arange(len(idx)) % k
    return out


def threshold_at_recall(scores: np.ndarray, labels: np.ndarray, recall: float) -> float:
    """The highest threshold that keeps at least `recall` of the good documents."""
    good = np.sort(scores[labels == 1])
    return float(good[int(np.floor((1 - recall) * len(good)))])


def cross_validate(texts: list[str], labels: np.ndarray, k: int = 5, seed: int = 0,
                   recall: float = 0.9, **train_args) -> CVResult:
    folds = folds_of(labels, k, seed)
    oof = np.zeros(len(texts))
    for f in range(k):
        tr = np.flatnonzero(folds != f)
        te = np.flatnonzero(folds == f)
        model = HashedLogReg.train([texts[i] for i in tr], labels[tr], **train_args)
        oof[te] = model.quantised().score([texts[i] for i in te])
    thr = threshold_at_recall(oof, labels, recall)
    kept = oof >= thr
    return CVResult(auc=roc_auc(oof, labels), recall=float(kept[labels == 1].mean()),
                    precision=float(labels[kept].mean()), bad_kept=float(kept[labels == 0].mean()),
                    threshold=thr, oof=oof)


def _read(path: str, text_column: str, columns: list[str]) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as e:
        raise CorpusFilterError(f"cannot read {path} as Parquet: {e}") from e
    for c in [text_column, *columns]:
        if c not in table.column_names:
            raise CorpusFilterError(f"column {c!r} not found in {path} (columns: "
                                    f"{', '.join(table.column_names)}); set --text-column / "
                                    f"--label-column")
    nulls = table[text_column].null_count
    if nulls:
        row = table[text_column].is_null().to_pylist().index(True)
        raise CorpusFilterError(f"{path}: row {row}: text is null ({nulls} null texts); "
                                f"remove them before training")
    return table


def load_examples(args: argparse.Namespace) -> tuple[list[str], np.ndarray]:
    texts: list[str] = []
    labels: list[int] = []
    if args.positives or args.negatives:
        if not (args.positives and args.negatives) or args.inputs:
            raise CorpusFilterError("give --positives and --negatives together, or labelled "
                                    "inputs with --label-column, not both")
        for paths, y in ((args.positives, 1), (args.negatives, 0)):
            for p in paths:
                t = _read(p, args.text_column, [])
                texts += t[args.text_column].to_pylist()
                labels += [y] * t.num_rows
    else:
        if not args.inputs:
            raise CorpusFilterError("no training data: give labelled Parquet files, or "
                                    "--positives and --negatives")
        for p in args.inputs:
            t = _read(p, args.text_column, [args.label_column])
            for row, v in enumerate(t[args.label_column].to_pylist()):
                if v is None:
                    raise CorpusFilterError(f"{p}: row {row}: label is null")
                labels.append(int(str(v) == args.good))
            texts += t[args.text_column].to_pylist()
    y = np.array(labels, dtype=np.int64)
    if y.min(initial=1) == 1 or y.max(initial=0) == 0:
        raise CorpusFilterError(f"training needs good and bad examples: {int(y.sum())} good, "
                                f"{int((y == 0).sum())} bad (good = {args.label_column} == "
                                f"{args.good!r})")
    return texts, y


def _cmd(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.suffix != SUFFIX:
        raise CorpusFilterError(f"--output must end in {SUFFIX}, got {out.name}")
    texts, y = load_examples(args)
    train_args = {"buckets": 1 << args.bits, "ngrams": args.ngrams, "l2": args.l2,
                  "epochs": args.epochs}
    k = min(args.folds, int(y.sum()), int((y == 0).sum()))
    print(f"{len(texts):,} examples: {int(y.sum()):,} good, {int((y == 0).sum()):,} bad")
    meta: dict = {"examples": len(texts), "good": int(y.sum()), **train_args}
    if k >= 2:
        cv = cross_validate(texts, y, k=k, seed=args.seed, recall=args.recall, **train_args)
        print(f"{k}-fold CV (seed {args.seed}, out-of-fold, quantised): ROC AUC {cv.auc:.3f}; "
              f"at recall {cv.recall:.3f} of good (asked {args.recall}): precision "
              f"{cv.precision:.3f}, bad kept {cv.bad_kept:.3f}, threshold {cv.threshold:.4f}")
        meta.update(cv_auc=round(cv.auc, 4), cv_threshold=round(cv.threshold, 6),
                    cv_recall=round(cv.recall, 4), cv_precision=round(cv.precision, 4))
    else:
        print("too few examples of one class for cross-validation", file=sys.stderr)
    model = HashedLogReg.train(texts, y, **train_args)
    model.meta = meta
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    print(f"wrote {out} ({out.stat().st_size:,} bytes); use it with: stage: quality_classifier, "
          f"model_path: {out}" + (f", min_score: {cv.threshold:.4f}" if k >= 2 else ""))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-quality", help="train a quality classifier offline (.cfq) with "
                       "seeded cross-validation")
    p.add_argument("inputs", nargs="*", help="labelled Parquet files")
    p.add_argument("-o", "--output", required=True, help=f"model file to write (*{SUFFIX})")
    p.add_argument("--positives", nargs="+", help="Parquet files of good text (DCLM recipe)")
    p.add_argument("--negatives", nargs="+", help="Parquet files of bad / random crawl text")
    p.add_argument("--text-column", default="text")
    p.add_argument("--label-column", default="label")
    p.add_argument("--good", default="1", help="label value of the good class (default 1)")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--recall", type=float, default=0.9,
                   help="recall of good documents at which precision is reported")
    p.add_argument("--ngrams", type=int, default=2)
    p.add_argument("--bits", type=int, default=20, help="hash buckets = 2**bits")
    p.add_argument("--l2", type=float, default=1e-4)
    p.add_argument("--epochs", type=int, default=300)
    p.set_defaults(func=_cmd)

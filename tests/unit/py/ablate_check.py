#!/usr/bin/python3
"""ablate_check.py DIR: recompute li-ablate's statistics independently.

From the run directories alone (DIR/runs/*/test.strong.tsv and
DIR/weak/*/test.weak.tsv), with scikit-learn for the metrics, DeLong's
variance from its definition (the structural components V10, V01 by direct
pairwise comparison, O(n_pos n_neg), not the midrank algorithm li_metrics
uses) and scipy.stats.t for the intervals, recompute:
  - results.tsv: every weak and strong AUROC, sensitivity and specificity;
  - summary.tsv: the mean and SD of the strong - weak differences;
  - compare.tsv: per seed, the DeLong difference, interval and p of the two
    strong models; per comparison, the mean over seeds, its t interval and p,
    and how many seeds are above 0.
Prints "ok N values" or the first mismatch, and exits 1 on a mismatch."""
import csv
import math
import sys

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score

TOL = 1e-6


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def scored(path):
    rows = read(path)
    return (np.array([r["path"] for r in rows]), np.array([int(r["label"]) for r in rows]),
            np.array([float(r["prob"]) for r in rows]))


def delong(y, a, b):
    """AUROC(a) - AUROC(b), its variance, 95% normal interval and p."""
    comps = []
    for s in (a, b):
        pos, neg = s[y == 1], s[y == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        comps.append((psi.mean(), psi.mean(1), psi.mean(0)))
    m, n = (y == 1).sum(), (y == 0).sum()
    v10 = np.cov(np.vstack([comps[0][1], comps[1][1]]))
    v01 = np.cov(np.vstack([comps[0][2], comps[1][2]]))
    cov = v10 / m + v01 / n
    diff = comps[0][0] - comps[1][0]
    var = max(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], 0)
    h = stats.norm.ppf(0.975) * math.sqrt(var)
    p = 2 * stats.norm.sf(abs(diff) / math.sqrt(var)) if var > 0 else (1.0 if diff == 0 else math.nan)
    return diff, diff - h, diff + h, p


def spec_sens(y, s):
    pred = s >= 0.5
    return ((~pred) & (y == 0)).sum() / (y == 0).sum(), (pred & (y == 1)).sum() / (y == 1).sum()


def tci(x):
    x = np.array([v for v in x if not math.isnan(v)])
    mean, sd = x.mean(), x.std(ddof=1)
    h = stats.t.ppf(0.975, len(x) - 1) * sd / math.sqrt(len(x))
    p = stats.ttest_1samp(x, 0).pvalue if sd > 0 else math.nan
    return mean, sd, mean - h, mean + h, p


checked = 0


def same(what, got, want):
    global checked
    got = float(got)
    if math.isnan(want) and math.isnan(got):
        checked += 1
        return
    if not abs(got - want) <= TOL * max(1, abs(want)):
        sys.exit(f"ablate_check: {what}: li-ablate {got!r}, recomputed {want!r}")
    checked += 1


def main():
    d = sys.argv[1]
    cfg = {}
    # Which weak_dir and fold each point and seed used: from the configurations.
    res = read(f"{d}/results.tsv")
    strong = {}
    for r in res:
        point, seed = r["point"], r["seed"]
        fold = None
        weak = None
        import glob
        for c in glob.glob(f"{d}/configs/{point}_fold-*.yaml"):
            kv = {}
            for line in open(c):
                if ":" in line and not line.startswith("#"):
                    k, v = line.split(":", 1)
                    kv[k.strip()] = v.strip().strip('"')
            if kv.get("sampling_random_state") == seed:
                fold, weak = kv["fold_num"], kv["weak_dir"]
        cfg[(point, seed)] = (fold, weak)
        run = f"{d}/runs/{point}_fold-{fold}"
        wp, wy, ws = scored(f"{weak}/test.weak.tsv")
        sp, sy, ss = scored(f"{run}/test.strong.tsv")
        assert (wp == sp).all() and (wy == sy).all()
        strong[(point, seed)] = (sy, ss)
        same(f"{point} seed {seed} weak_auroc", r["weak_auroc"], roc_auc_score(wy, ws))
        same(f"{point} seed {seed} strong_auroc", r["strong_auroc"], roc_auc_score(sy, ss))
        for name, ys, s in (("weak", wy, ws), ("strong", sy, ss)):
            sp_, se_ = spec_sens(ys, s)
            same(f"{point} seed {seed} {name}_specificity", r[f"{name}_specificity"], sp_)
            same(f"{point} seed {seed} {name}_sensitivity", r[f"{name}_sensitivity"], se_)
    for s in read(f"{d}/summary.tsv"):
        for m in ("auroc", "specificity"):
            x = [float(r[f"strong_{m}"]) - float(r[f"weak_{m}"]) for r in res if r["point"] == s["point"]]
            mean, sd, lo, hi, _ = tci(x)
            same(f"{s['point']} delta_{m}", s[f"delta_{m}"], mean)
            same(f"{s['point']} delta_{m}_sd", s[f"delta_{m}_sd"], sd)
            same(f"{s['point']} delta_{m}_lo", s[f"delta_{m}_lo"], lo)
            same(f"{s['point']} delta_{m}_hi", s[f"delta_{m}_hi"], hi)
    cmp = read(f"{d}/compare.tsv")
    if not cmp:
        sys.exit("ablate_check: compare.tsv has no rows")
    diffs, specs = {}, {}
    for c in cmp:
        key = (c["point"], c["reference"])
        if c["seed"] == "mean":
            continue
        y, a = strong[(c["point"], c["seed"])]
        _, b = strong[(c["reference"], c["seed"])]
        diff, lo, hi, p = delong(y, a, b)
        what = f"{c['point']} vs {c['reference']} seed {c['seed']}"
        same(what + " difference", c["auroc_difference"], diff)
        same(what + " lo", c["auroc_lo"], lo)
        same(what + " hi", c["auroc_hi"], hi)
        same(what + " p", c["p_value"], p)
        sd = spec_sens(y, a)[0] - spec_sens(y, b)[0]
        same(what + " specificity", c["specificity_difference"], sd)
        diffs.setdefault(key, []).append(diff)
        specs.setdefault(key, []).append(sd)
    for c in cmp:
        if c["seed"] != "mean":
            continue
        key = (c["point"], c["reference"])
        mean, sd, lo, hi, p = tci(diffs[key])
        what = f"{key[0]} vs {key[1]} over seeds"
        same(what + " mean", c["auroc_difference"], mean)
        same(what + " lo", c["auroc_lo"], lo)
        same(what + " hi", c["auroc_hi"], hi)
        same(what + " p", c["p_value"], p)
        same(what + " seeds", c["seeds"], len(diffs[key]))
        same(what + " positive", c["auroc_positive"], sum(x > 0 for x in diffs[key]))
        smean, _, slo, shi, _ = tci(specs[key])
        same(what + " specificity", c["specificity_difference"], smean)
        same(what + " specificity lo", c["specificity_lo"], slo)
        same(what + " specificity hi", c["specificity_hi"], shi)
        same(what + " specificity positive", c["specificity_positive"], sum(x > 0 for x in specs[key]))
    print(f"ok {checked} values")


main()

#!/usr/bin/python3
"""The 90/10 random splits of a MovieLens ratings.csv behind the README's
"Ratings on the tutorial's protocol" figures. Not part of the test suite.

    /usr/bin/python3 tests/reference/ratings_split.py RATINGS.csv OUTDIR SEED python|sklearn

writes OUTDIR/train.csv (the 90 %, in stored order, for `pipeline import`)
and OUTDIR/pairs.csv and OUTDIR/truth.csv (the held-out ratings whose movie
is in the 90 %: userId,movieId for `pipeline predict --pairs`, and their
stars in the same order). The held-out rows are the first ceil(10 %) of a
permutation of the rows: `python` is random.Random(seed).shuffle of the row
numbers, `sklearn` is numpy.random.RandomState(seed).permutation, which is
what scikit-learn's train_test_split(test_size=0.1, random_state=seed)
holds out (Debian's python3-numpy). Then

    pipeline import --config C && pipeline train --config C
    pipeline predict --config C --pairs OUTDIR/pairs.csv > pred.csv
    /usr/bin/python3 tests/reference/ratings_split.py --rmse OUTDIR/truth.csv pred.csv

prints the RMSE of the raw predictions.
"""
import csv
import math
import random
import sys


def split(ratings, out, seed, how):
    rows = list(csv.reader(open(ratings, newline="")))
    head, rows = rows[0], rows[1:]
    held = math.ceil(0.1 * len(rows))
    if how == "python":
        order = list(range(len(rows)))
        random.Random(seed).shuffle(order)
    elif how == "sklearn":
        import numpy as np

        order = np.random.RandomState(seed).permutation(len(rows)).tolist()
    else:
        sys.exit("split: python or sklearn, not " + how)
    test = set(order[:held])
    train = [r for i, r in enumerate(rows) if i not in test]
    known = {r[1] for r in train}
    with open(out + "/train.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(head)
        w.writerows(train)
    with open(out + "/pairs.csv", "w") as pairs, open(out + "/truth.csv", "w") as truth:
        pairs.write("userId,movieId\n")
        for i in sorted(test):
            if rows[i][1] in known:
                pairs.write(f"{rows[i][0]},{rows[i][1]}\n")
                truth.write(rows[i][2] + "\n")


def rmse(truth, predictions):
    t = [float(x) for x in open(truth)]
    p = [float(line.split(",")[2]) for line in list(open(predictions))[1:]]
    if len(t) != len(p):
        sys.exit(f"rmse: {len(t)} held-out ratings but {len(p)} predictions")
    print("rmse %.4f over %d pairs" % (math.sqrt(sum((a - b) ** 2 for a, b in zip(t, p)) / len(t)), len(t)))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--rmse":
        rmse(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5:
        split(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(__doc__)

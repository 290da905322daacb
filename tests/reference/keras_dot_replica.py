#!/usr/bin/python3
"""A PyTorch replica of the tutorial's Keras dot model, trained on the same
validation splits as `pipeline train`, to compare validation MSE split by split.

Not part of the test suite (it needs PyTorch); it produced the replica figures
pinned in tests/run_e2e_test.cpp. On Debian:
    apt-get install python3-torch python3-numpy
    /usr/bin/python3 tests/reference/keras_dot_replica.py \
        ../shared/data/ml-latest-small/ratings.csv 1 10
prints "seed val_mse" per seed. The model is the tutorial's: 5-dimensional
user and movie embeddings initialised uniform in [-0.05, 0.05], prediction =
their dot product, MSE, Adam (lr 0.001, betas 0.9/0.999, eps 1e-7), batch 32,
reshuffled every epoch, 3 epochs, ratings mapped to -1/0/1 with 0.5 -> -1.

The split is re-implemented here from its definition (pipeline/app/train.cpp
and pipeline/util/random.h): xoshiro256** whose state is four SplitMix64
outputs seeded from (seed, stream 7 = kValidationSplit, index 0), then
selection sampling over the ratings in (userId, movieId) order, rating i held
out when floor(draw * (n - i) / 2^64) < still-to-hold-out.
"""
import csv
import sys

import numpy as np
import torch

RATING_MAP = {0.5: -1, 1: -1, 1.5: -1, 2: -1, 2.5: -1, 3: 0, 3.5: 1, 4: 1, 4.5: 1, 5: 1}
SPLIT_STREAM = 7  # util/random.h: Stream::kValidationSplit
MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix64(z):
    """The SplitMix64 finaliser."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


class Rng:
    """util/random.h's Rng: xoshiro256** seeded from (seed, stream, index)."""

    def __init__(self, seed, stream, index=0, state=None):
        if state is not None:
            self.s = list(state)
            return
        z = mix64(seed ^ mix64((stream * GOLDEN + index) & MASK))
        self.s = []
        for _ in range(4):
            z = (z + GOLDEN) & MASK
            self.s.append(mix64(z))

    def __call__(self):
        s = self.s
        result = (rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result


def load(path):
    rows = []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for user, movie, rating, _ in reader:
            rows.append((int(user), int(movie), RATING_MAP[float(rating)]))
    rows.sort()
    users = {u: i for i, u in enumerate(sorted({r[0] for r in rows}))}
    movies = {m: i for i, m in enumerate(sorted({r[1] for r in rows}))}
    u = np.array([users[r[0]] for r in rows])
    m = np.array([movies[r[1]] for r in rows])
    y = np.array([r[2] for r in rows], dtype=np.float32)
    return u, m, y, len(users), len(movies)


def held_out(n, fraction, seed):
    rng = Rng(seed, SPLIT_STREAM)
    need = round(fraction * n)
    held = np.zeros(n, dtype=bool)
    for i in range(n):
        if need == 0:
            break
        if (rng() * (n - i)) >> 64 < need:
            held[i] = True
            need -= 1
    return held


def train(seed, u, m, y, num_users, num_movies, held):
    torch.manual_seed(seed)
    eu = torch.nn.Embedding(num_users, 5)
    em = torch.nn.Embedding(num_movies, 5)
    torch.nn.init.uniform_(eu.weight, -0.05, 0.05)
    torch.nn.init.uniform_(em.weight, -0.05, 0.05)
    opt = torch.optim.Adam(
        list(eu.parameters()) + list(em.parameters()), lr=0.001, betas=(0.9, 0.999), eps=1e-7
    )
    keep = ~held
    tu, tm, ty = torch.tensor(u[keep]), torch.tensor(m[keep]), torch.tensor(y[keep])
    vu, vm, vy = torch.tensor(u[held]), torch.tensor(m[held]), torch.tensor(y[held])
    for _ in range(3):
        order = torch.randperm(len(ty))
        for b in range(0, len(ty), 32):
            idx = order[b : b + 32]
            pred = (eu(tu[idx]) * em(tm[idx])).sum(1)
            loss = ((pred - ty[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return float((((eu(vu) * em(vm)).sum(1) - vy) ** 2).mean())


def self_check():
    """xoshiro256**'s published first outputs from the state {1, 2, 3, 4}, and
    the values tests/random_test.cpp and tests/split_test.cpp pin."""
    ref = Rng(0, 0, state=[1, 2, 3, 4])
    assert [ref() for _ in range(4)] == [11520, 0, 1509978240, 1215971899390074240]
    a = Rng(42, 6)
    assert [a() for _ in range(3)] == [
        3893904220241883002,
        9984380279382909502,
        4067145036781576441,
    ]
    held = held_out(210, 0.2, 1)
    assert held.sum() == 42 and list(np.flatnonzero(held)[:5]) == [2, 9, 21, 26, 31]


def main():
    self_check()
    path, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(1)
    u, m, y, num_users, num_movies = load(path)
    for seed in range(first, last + 1):
        held = held_out(len(y), 0.1, seed)
        print(seed, round(train(seed, u, m, y, num_users, num_movies, held), 4), flush=True)


if __name__ == "__main__":
    main()

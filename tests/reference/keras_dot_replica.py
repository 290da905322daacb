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

The split is re-implemented here from its definition (pipeline/app/train.cpp):
MT19937-64 seeded with seed xor 0xc2b2ae3d27d4eb4f, then selection sampling
over the ratings in (userId, movieId) order, rating i held out when
floor(draw * (n - i) / 2^64) < still-to-hold-out.
"""
import csv
import sys

import numpy as np
import torch

RATING_MAP = {0.5: -1, 1: -1, 1.5: -1, 2: -1, 2.5: -1, 3: 0, 3.5: 1, 4: 1, 4.5: 1, 5: 1}
SPLIT_STREAM = 0xC2B2AE3D27D4EB4F
MASK = (1 << 64) - 1


class MT19937_64:
    """std::mt19937_64, from the C++ standard's parameters."""

    def __init__(self, seed):
        self.mt = [0] * 312
        self.mt[0] = seed & MASK
        for i in range(1, 312):
            prev = self.mt[i - 1]
            self.mt[i] = (6364136223846793005 * (prev ^ (prev >> 62)) + i) & MASK
        self.index = 312

    def __call__(self):
        if self.index >= 312:
            for k in range(312):
                x = (self.mt[k] & 0xFFFFFFFF80000000) | (self.mt[(k + 1) % 312] & 0x7FFFFFFF)
                xa = x >> 1
                if x & 1:
                    xa ^= 0xB5026F5AA96619E9
                self.mt[k] = self.mt[(k + 156) % 312] ^ xa
            self.index = 0
        x = self.mt[self.index]
        self.index += 1
        x ^= (x >> 29) & 0x5555555555555555
        x ^= (x << 17) & 0x71D67FFFEDA60000
        x ^= (x << 37) & 0xFFF7EEE000000000
        x ^= x >> 43
        return x & MASK


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
    rng = MT19937_64(seed ^ SPLIT_STREAM)
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


def main():
    path, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(1)
    u, m, y, num_users, num_movies = load(path)
    for seed in range(first, last + 1):
        held = held_out(len(y), 0.1, seed)
        print(seed, round(train(seed, u, m, y, num_users, num_movies, held), 4), flush=True)


if __name__ == "__main__":
    main()

"""WGAN-GP on the ring of 8 Gaussians, one knob at a time — the sweep behind Chapter 3.

    python benchmarks/wgan_gp_ring.py                          # lambda 0.1, Chapter 2's nets
    python benchmarks/wgan_gp_ring.py --gp 10 --beta1 0.0 --steps 6000 --every 1000
                                                               # Chapter 3's Algorithm 1 runs
    python benchmarks/wgan_gp_ring.py --gp 0.1 --beta1 0.5 --width 512 --depth 3 --steps 4000 \
        --seeds 0                                              # the paper's gan_toy.py

Trains as the chapter's ``train_ring`` does — one ``fit`` of ``--steps`` generator steps
(each with ``--n-critic`` critic steps) on 64,000 ring samples, batch 256, a
``callbacks.Snapshots`` of 2,000 samples every ``--every`` steps — so with the chapter's
flags it repeats the chapter's runs. Prints, per seed, the share of samples on a mode and
the modes covered at each snapshot (``toy.collapse_report``), and the run's seconds.
"""

import argparse
import time

import keras
import tensorflow as tf

from dalle_edu import GAN, device
from dalle_edu.callbacks import Snapshots
from dalle_edu.data import toy
from dalle_edu.models import mlp_discriminator, mlp_generator

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=3000, help="generator steps")
ap.add_argument("--every", type=int, default=500, help="steps between snapshots")
ap.add_argument("--seeds", default="0,1,2")
ap.add_argument("--gp", type=float, default=0.1, help="the penalty weight lambda")
ap.add_argument("--width", type=int, default=128)
ap.add_argument("--depth", type=int, default=2)
ap.add_argument("--beta1", type=float, default=0.0)
ap.add_argument("--lr", type=float, default=1e-4)
ap.add_argument("--n-critic", type=int, default=5)
args = ap.parse_args()

N_DATA, BATCH_SIZE, N_EVAL = 64_000, 256, 2_000  # the chapter's cpu preset
ring = toy.ring()
hidden = (args.width,) * args.depth
for seed in (int(s) for s in args.seeds.split(",")):
    device.set_seed(seed)
    data = ring.sample(N_DATA, seed=seed)  # (N, 2)
    batches = (tf.data.Dataset.from_tensor_slices(data).shuffle(N_DATA, seed=seed)
               .batch(BATCH_SIZE, drop_remainder=True))
    G = mlp_generator(latent_dim=2, data_shape=2, hidden=hidden)
    C = mlp_discriminator(data_shape=2, hidden=hidden)
    gan = GAN(G, C, latent_dim=2, n_critic=args.n_critic, gp_weight=args.gp, seed=seed)
    opts = [keras.optimizers.Adam(args.lr, beta_1=args.beta1, beta_2=0.9) for _ in "gc"]
    gan.compile(*opts, loss="wgan-gp", steps_per_execution=min(50, args.every))
    snaps = Snapshots(n=N_EVAL)
    t0 = time.time()
    gan.fit(batches, epochs=args.steps // args.every, steps_per_epoch=args.every,
            callbacks=[snaps], verbose=0)
    seconds = time.time() - t0
    trail = []
    for step, samples in zip(snaps.steps[1:], snaps.samples[1:]):
        r = toy.collapse_report(samples, ring)
        trail.append(f"{step}:{r.on_mode:.2f}/{r.modes}")
    print(f"seed {seed} gp {args.gp} hidden {hidden} beta1 {args.beta1} lr {args.lr} "
          f"n_critic {args.n_critic}: {seconds:.0f} s  step:on_mode/modes "
          + " ".join(trail), flush=True)

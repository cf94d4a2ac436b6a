"""``T2IConfig``: everything that defines a text-to-image GAN run — Chapter 6.

The defaults are the shipped ``cpu`` run; each preset's changes live in one place,
``dalle_edu.presets.PRESETS[name].models["gan-labels"]`` (nanoGPT's one config per model).
"""

from __future__ import annotations

import dataclasses

from dalle_edu import configs


@dataclasses.dataclass
class T2IConfig:
    """One run of the text-to-image GAN; ``T2IConfig.for_preset(name)`` sizes it for a preset."""

    # data
    image_size: int = 32
    n_train: int = 40_000  # captioned images drawn once from the train split
    # architecture
    latent_dim: int = 64
    width: int = 32  # G's last / D's first conv width; the others are 2x and 4x
    embed_dim: int = 32  # word-vector width of the text encoder
    # G ends with a 3x3 conv at full resolution (SNGAN/BigGAN) instead of DCGAN's
    # transposed conv straight to pixels (models.dcgan_generator's final_conv)
    final_conv: bool = False
    # D starts with a 3x3 conv at full resolution (SNGAN) before its first stride
    d_stem: bool = False
    # what turns a caption into G's condition: "labels" — the attribute encoder, trained on
    # the world's labels (model "gan-labels"); "clip" — a mini-CLIP's text tower, learned
    # from (image, caption) pairs alone (model "gan", Chapter 6: no labels anywhere)
    text_encoder: str = "labels"
    clip: dict | None = None  # the mini-CLIP's ClipConfig (text_encoder "clip"), kept with the model
    # "clip" only: fine-tune the mini-CLIP's text tower with D (its optimizer, D's loss:
    # the matching-aware and contrastive terms keep it a text-image judge); False: frozen
    text_finetune: bool = False
    # optimisation
    batch_size: int = 64
    steps: int = 8_000
    lr: float = 2e-4
    # the last lr_decay share of the steps: both learning rates fall linearly to 0
    # (BigGAN-style annealing; 0 = constant); ``t2i.gan.HoldThenLinear``
    lr_decay: float = 0.0
    # a step schedule: from G's update lr_drop_at on (0 = never), both learning rates are
    # lr_drop x their own — fast early, slow late; the boundary is a step, not a share of
    # the steps, so resuming the run for more steps continues it exactly (Keras's ``PiecewiseConstantDecay``)
    lr_drop_at: int = 0
    lr_drop: float = 0.25
    # two time-scale update rule (Heusel et al. 2017): D's own learning rate; None = lr
    d_lr: float | None = None
    # spectral normalisation of D's weights (Miyato et al. 2018), which the hinge +
    # projection + Adam(0, 0.9) recipe was designed with
    spectral_norm: bool = False
    # R1 penalty on real images (Mescheder et al. 2018): gamma / 2 * E||grad_x D||^2; 0 = off
    r1_gamma: float = 0.0
    loss: str = "hinge"
    n_critic: int = 1  # D updates per G update (5 is usual for "wgan-gp")
    matching_aware: bool = True
    aux_weight: float = 1.0  # 0 turns the auxiliary classifier off
    gan_int: bool = False
    # MSGAN diversity term (Mao et al. 2019) on captions that leave something free; 0 = off.
    # Measured at 1.0: partial prompts then cover 9 of 9 positions, but draw noisy blobs.
    mode_seeking: float = 0.0
    # XMC-GAN's image-text contrastive terms (Zhang et al. 2021; text_encoder "clip"):
    # D embeds images, InfoNCE matches real (for D) and fake (for G) images to captions
    contrastive_weight: float = 0.0
    contrastive_temperature: float = 0.1
    # ...and the frozen mini-CLIP's image tower as a second judge of G (LAFITE); 0 = off
    clip_weight: float = 0.0
    ema: float = 0.995
    encoder_steps: int = 1_500
    seed: int = 0
    # speed: off until measured on a GPU (book: "Several devices, precision and XLA")
    precision: str = "float32"  # or "mixed_bfloat16" / "mixed_float16" (device.check_precision)
    jit_compile: bool = False  # XLA

    @classmethod
    def from_dict(cls, d: dict) -> "T2IConfig":
        config = configs.from_dict(cls, d)
        if config.text_encoder not in ("labels", "clip"):
            raise ValueError(f"text_encoder must be 'labels' or 'clip', got {config.text_encoder!r}")
        if not 0.0 <= config.lr_decay <= 1.0:
            raise ValueError(f"lr_decay is a share of the steps, in [0, 1]; got {config.lr_decay!r}")
        if config.lr_drop_at and config.lr_decay:
            raise ValueError("lr_drop_at and lr_decay are two schedules; choose one")
        if config.lr_drop_at < 0 or not 0.0 < config.lr_drop <= 1.0:
            raise ValueError(f"lr_drop_at is a step (>= 0) and lr_drop a factor in (0, 1]; got "
                             f"{config.lr_drop_at!r} and {config.lr_drop!r}")
        if config.text_encoder == "labels" and (config.contrastive_weight or config.clip_weight):
            raise ValueError("contrastive_weight and clip_weight need text_encoder='clip' "
                             "(caption embeddings)")
        if config.text_finetune and config.text_encoder != "clip":
            raise ValueError("text_finetune needs text_encoder='clip' (the attribute encoder "
                             "is trained on labels, then frozen)")
        if config.text_encoder == "clip" and (config.aux_weight or config.mode_seeking):
            raise ValueError("text_encoder='clip' trains without labels: aux_weight and "
                             "mode_seeking (which read labels) must be 0")
        return config

    @classmethod
    def for_preset(cls, name: str | None = None, model: str = "gan-labels",
                   **overrides) -> "T2IConfig":
        """Model ``model``'s config for preset ``name`` (default: the detected one), ``overrides`` on top."""
        from dalle_edu import presets

        preset = presets.get(name) if name is not None else presets.current()
        return cls.from_dict({**preset.models[model], **overrides})

    @property
    def cond_dim(self) -> int:
        """Width of G's condition: 23 attribute probabilities, or the mini-CLIP's embedding."""
        from dalle_edu.clip import ClipConfig
        from dalle_edu.t2i.condition import COND_DIM

        if self.text_encoder == "labels":
            return COND_DIM
        return int((self.clip or {}).get("embed_dim", ClipConfig.embed_dim))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

"""``T2IConfig``: everything that defines a text-to-image GAN run — Chapter 7.

The defaults are the shipped ``"gan-labels"`` run; each preset's recipe lives in one
place, ``dalle_edu.presets.MODELS`` (nanoGPT's one config per model). Every field is
checked when the config is made (``dalle_edu.configs.Config``).
"""

from __future__ import annotations

import dataclasses

from dalle_edu import configs
from dalle_edu.configs import field
from dalle_edu.device import PRECISIONS
from dalle_edu.losses import NAMES as LOSSES


@dataclasses.dataclass
class T2IConfig(configs.Config):
    """One run of a text-to-image GAN; ``T2IConfig.for_preset(name, model="gan")`` sizes it."""

    PRESET_MODEL = "gan-labels"
    RESUMABLE = ("steps",)  # a constant learning rate: more steps continue a run exactly

    # data
    image_size: int = field(32, gt=0)
    n_train: int = field(40_000, gt=0)  # captioned images drawn once from the train split
    # architecture
    latent_dim: int = field(64, gt=0)
    width: int = field(32, gt=0)  # G's last / D's first conv width; the others are 2x and 4x
    embed_dim: int = field(32, gt=0)  # word-vector width of the attribute encoder ("labels")
    # G ends with a 3x3 conv at full resolution (SNGAN/BigGAN) instead of DCGAN's
    # transposed conv straight to pixels (models.dcgan_generator's final_conv)
    final_conv: bool = False
    # D starts with a 3x3 conv at full resolution (SNGAN) before its first stride
    d_stem: bool = False
    # what turns a caption into G's condition: "labels" — the attribute encoder, trained on
    # the world's labels (model "gan-labels"); "clip" — a mini-CLIP's text tower, learned
    # from (image, caption) pairs alone (model "gan", Chapter 7: no labels anywhere)
    text_encoder: str = field("labels", choices=("labels", "clip"))
    clip: dict | None = None  # the mini-CLIP's ClipConfig (text_encoder "clip"), kept with the model
    # optimisation: Adam(lr, beta_1=0, beta_2=0.9) for G and D, constant rate
    batch_size: int = field(64, gt=0)
    steps: int = field(8_000, gt=0)
    lr: float = field(2e-4, gt=0)
    loss: str = field("hinge", choices=LOSSES)
    n_critic: int = field(1, gt=0)  # D updates per G update (5 is usual for "wgan-gp")
    matching_aware: bool = True  # D also sees (real image, wrong caption) as fake (GAN-CLS)
    aux_weight: float = field(1.0, ge=0)  # "labels": D's attribute classifier; 0 turns it off
    # "clip": XMC-GAN's image-text contrastive terms (Zhang et al. 2021): D embeds images,
    # InfoNCE matches real (for D) and fake (for G) images to their captions
    contrastive_weight: float = field(0.0, ge=0)
    contrastive_temperature: float = field(0.1, gt=0)
    ema: float = field(0.995, ge=0, lt=1)  # decay of G's moving average (what is sampled)
    encoder_steps: int = field(1_500, gt=0)  # "labels": the attribute encoder's pretraining
    seed: int = field(0, ge=0)
    # speed: off until measured on a GPU (book: "Several devices, precision and XLA")
    precision: str = field("float32", choices=PRECISIONS)

    def __post_init__(self):
        super().__post_init__()
        if self.text_encoder == "labels" and self.contrastive_weight:
            raise ValueError("T2IConfig.contrastive_weight needs text_encoder='clip' (caption "
                             "embeddings)")
        if self.text_encoder == "clip" and self.aux_weight:
            raise ValueError("T2IConfig: text_encoder='clip' trains without labels, so "
                             "aux_weight (which reads labels) must be 0")

    @property
    def cond_dim(self) -> int:
        """Width of G's condition: 23 attribute probabilities, or the mini-CLIP's embedding."""
        from dalle_edu.clip import ClipConfig
        from dalle_edu.t2i.condition import COND_DIM

        if self.text_encoder == "labels":
            return COND_DIM
        return int((self.clip or {}).get("embed_dim", ClipConfig.embed_dim))

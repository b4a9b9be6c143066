"""Tiny random-weight diffusers video pipelines, written to disk like any downloaded model.

No hub is reachable from the machines that build Coherence, and real weights are gigabytes, so the
diffusers provider is tested and benchmarked on pipelines built here from small configs (random
weights, a word-level tokenizer built in code) and saved with ``save_pretrained``. The provider then
loads them through the same ``DiffusionPipeline.from_pretrained`` an operator's directory or hub id
goes through. The VAEs keep the real models' compression (LTX-Video: 32 px and 8 frames per latent
cell; Wan: 8 px and 4 frames), so the frame-count and size rules are the real ones.

    python -m bench.tiny_diffusers ltx var/tiny-ltx     # or: wan | wan-i2v DIR

Modules built from a config start in train mode (T5 dropout on: the same seed would give other
videos); ``save_pretrained`` + ``from_pretrained`` hands them back in eval mode.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

FAMILIES = ("ltx", "wan")  # the text-to-video families the tests and bench render
VARIANTS = (*FAMILIES, "wan-i2v")
# A small vocabulary: the prompts of the demo plan and the tests; anything else maps to [UNK].
_VOCABULARY = (
    "a the of and in on with at over under to from by lighthouse storm sea waves night dawn sun "
    "city street rain neon car cat dog forest river mountain snow red blue green gold light dark "
    "camera pans slowly zooms wide close shot scene morning evening sky clouds boat ship harbour"
)
WORDS = _VOCABULARY.split()


def _tokenizer():
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, "</s>": 2}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    core = Tokenizer(WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="[PAD]", unk_token="[UNK]", eos_token="</s>"
    ), len(vocab)


def _text_encoder(vocab_size: int, *, umt5: bool):
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    options = dict(
        vocab_size=vocab_size, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=2,
    )  # fmt: skip
    if umt5:
        return UMT5EncoderModel(UMT5Config(**options))
    return T5EncoderModel(T5Config(**options))


def build_ltx():
    """An ``LTXPipeline`` with LTX-Video's compression (32 px, 8 frames) and tiny modules."""
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )

    tokenizer, vocab_size = _tokenizer()
    vae = AutoencoderKLLTXVideo(
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        patch_size=4,
        patch_size_t=1,
    )
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        num_attention_heads=2,
        attention_head_dim=8,
        cross_attention_dim=16,
        num_layers=1,
        caption_channels=32,
    )
    return LTXPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=_text_encoder(vocab_size, umt5=False),
        tokenizer=tokenizer,
        transformer=transformer,
    )


def _wan_transformer(*, in_channels: int):
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=in_channels,
        out_channels=16,
        text_dim=32,
        freq_dim=32,
        ffn_dim=32,
        num_layers=1,
        rope_max_seq_len=32,
    )


def build_wan():
    """A ``WanPipeline`` (text to video) with Wan's compression (8 px, 4 frames), tiny modules."""
    from diffusers import (
        AutoencoderKLWan,
        UniPCMultistepScheduler,
        WanPipeline,
    )

    tokenizer, vocab_size = _tokenizer()
    vae = AutoencoderKLWan(
        base_dim=4, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )  # fmt: skip
    transformer = _wan_transformer(in_channels=16)
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
    )
    return WanPipeline(
        tokenizer=tokenizer,
        text_encoder=_text_encoder(vocab_size, umt5=True),
        transformer=transformer,
        vae=vae,
        scheduler=scheduler,
    )


def build_wan_i2v():
    """A ``WanImageToVideoPipeline`` as Wan 2.2's image-to-video checkpoints ship it (no CLIP
    image encoder: the picture enters through the VAE-encoded condition channels)."""
    from diffusers import WanImageToVideoPipeline

    text = build_wan()
    # 16 noisy latent + 4 mask + 16 condition channels
    transformer = _wan_transformer(in_channels=36)
    return WanImageToVideoPipeline(
        tokenizer=text.tokenizer,
        text_encoder=text.text_encoder,
        vae=text.vae,
        scheduler=text.scheduler,
        transformer=transformer,
    )


BUILDERS = {"ltx": build_ltx, "wan": build_wan, "wan-i2v": build_wan_i2v}


def write_tiny_pipeline(family: str, directory: Path, *, seed: int = 0) -> Path:
    """Build the tiny ``family`` pipeline with weights drawn from ``seed`` and save it."""
    import torch

    torch.manual_seed(seed)
    pipe = BUILDERS[family]()
    pipe.save_pretrained(directory)
    return directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("family", choices=VARIANTS)
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    path = write_tiny_pipeline(args.family, args.directory)
    print(f"wrote a tiny {args.family} pipeline to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

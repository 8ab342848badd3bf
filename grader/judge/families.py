"""Families of PyTorch built-ins: the table a milestone's ``builtins.families`` refers to.

A milestone that asks for LayerNorm cannot be satisfied by *any* built-in
normalisation (``F.group_norm(x, 1)`` is a LayerNorm over one group), and one that
asks for attention by any built-in attention or transformer layer. So milestones
forbid families, not names: each family lists every Python spelling (functions and
module classes), the ATen operators and fused kernels behind them (watched at run
time, whatever Python spelling reached them), and the ATen operators that *any*
implementation of the task must run (``evidence``): a run whose record saw none of
them was not recorded (``grader.worker.record``).

This is data about PyTorch, not about milestones: the milestones name families.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    title: str
    names: tuple[str, ...]  # dotted Python names (functions, module classes, methods)
    operators: tuple[str, ...] = ()  # ATen operator packets behind them
    evidence: tuple[str, ...] = ()  # ATen operators every implementation of the task runs (at least one of them)


# Products and reductions: an attention computes q . k somehow, whatever the spelling.
_PRODUCTS = ("mm", "bmm", "matmul", "baddbmm", "addmm", "addbmm", "einsum", "linear", "mul", "dot", "mv",
             "tensordot", "_unsafe_view", "sum", "_softmax", "exp", "softmax", "_log_softmax", "pow")
_SDPA_KERNELS = ("scaled_dot_product_attention", "_scaled_dot_product_attention_math",
                 "_scaled_dot_product_flash_attention", "_scaled_dot_product_flash_attention_for_cpu",
                 "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
                 "_scaled_dot_product_fused_attention_overrideable", "_scaled_dot_product_attention_math_for_mps",
                 "_fused_sdp_choice", "_efficient_attention_forward", "_flash_attention_forward")
_LAYER_KERNELS = ("_native_multi_head_attention", "_transformer_encoder_layer_fwd",
                  "_native_decoder_only_multi_head_attention", "_transformer_decoder_only_layer_fwd",
                  "_masked_softmax")

FAMILIES: dict[str, Family] = {
    "attention": Family(
        title="built-in attention",
        names=("torch.nn.functional.scaled_dot_product_attention", "torch.nn.attention.flex_attention.flex_attention",
               "torch.nn.attention.varlen.varlen_attn", "torch.nn.attention.varlen.varlen_attn_out"),
        operators=(*_SDPA_KERNELS, "flex_attention", "_varlen_attn", "_varlen_attn_out"),
        evidence=_PRODUCTS,
    ),
    "multihead_attention": Family(
        title="built-in multi-head attention",
        names=("torch.nn.MultiheadAttention", "torch.nn.functional.multi_head_attention_forward",
               "torch.nn.modules.activation.MultiheadAttention"),
        operators=("_native_multi_head_attention",),
        evidence=_PRODUCTS,
    ),
    "transformer_layers": Family(
        title="built-in transformer layers",
        names=("torch.nn.Transformer", "torch.nn.TransformerEncoder", "torch.nn.TransformerEncoderLayer",
               "torch.nn.TransformerDecoder", "torch.nn.TransformerDecoderLayer"),
        operators=_LAYER_KERNELS,
        evidence=_PRODUCTS,
    ),
    "normalisation": Family(
        title="built-in normalisation",
        names=("torch.nn.functional.layer_norm", "torch.nn.functional.group_norm",
               "torch.nn.functional.instance_norm", "torch.nn.functional.batch_norm",
               "torch.nn.functional.rms_norm", "torch.nn.functional.local_response_norm",
               "torch.layer_norm", "torch.group_norm", "torch.instance_norm", "torch.batch_norm", "torch.rms_norm",
               "torch.native_layer_norm", "torch.native_group_norm", "torch.native_batch_norm",
               "torch.nn.LayerNorm", "torch.nn.GroupNorm", "torch.nn.RMSNorm", "torch.nn.LocalResponseNorm",
               "torch.nn.CrossMapLRN2d", "torch.nn.InstanceNorm1d", "torch.nn.InstanceNorm2d",
               "torch.nn.InstanceNorm3d", "torch.nn.LazyInstanceNorm1d", "torch.nn.LazyInstanceNorm2d",
               "torch.nn.LazyInstanceNorm3d", "torch.nn.BatchNorm1d", "torch.nn.BatchNorm2d", "torch.nn.BatchNorm3d",
               "torch.nn.LazyBatchNorm1d", "torch.nn.LazyBatchNorm2d", "torch.nn.LazyBatchNorm3d",
               "torch.nn.SyncBatchNorm",
               # the statistics and the affine step of batch norm as functions: over a reshaped input, a LayerNorm
               "torch.batch_norm_stats", "torch.batch_norm_elemt", "torch.batch_norm_gather_stats",
               "torch.batch_norm_gather_stats_with_counts", "torch.batch_norm_update_stats",
               "torch.cudnn_batch_norm", "torch.miopen_batch_norm", "torch.quantized_batch_norm"),
        operators=("native_layer_norm", "layer_norm", "group_norm", "native_group_norm", "batch_norm",
                   "native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
                   "_native_batch_norm_legit_functional", "_batch_norm_impl_index", "_batch_norm_with_update",
                   "_batch_norm_no_update", "cudnn_batch_norm", "miopen_batch_norm", "instance_norm", "rms_norm",
                   "_fused_rms_norm", "batch_norm_stats", "batch_norm_elemt", "batch_norm_gather_stats",
                   "batch_norm_gather_stats_with_counts", "batch_norm_update_stats", "quantized_batch_norm"),
        evidence=("mean", "var", "var_mean", "std", "std_mean", "sum", "sub", "div", "rsqrt", "sqrt", "pow",
                  "mul", "addcmul", "addcdiv", "norm", "linalg_vector_norm", "reciprocal"),
    ),
}


def family_names(families: list[str] | tuple[str, ...]) -> list[str]:
    """The dotted names of ``families``; raises KeyError naming an unknown family."""
    names: list[str] = []
    for family in families:
        if family not in FAMILIES:
            raise KeyError(f"unknown family of built-ins {family!r} (known: {', '.join(sorted(FAMILIES))})")
        names.extend(FAMILIES[family].names)
    return names


def family_of(name: str) -> Family | None:
    for family in FAMILIES.values():
        if name in family.names:
            return family
    return None


# What the worker's record (grader/worker/record.py, which holds the same strings) answers besides built-in names.
EVIDENCE = "record:evidence"  # the value an evidence operator maps to in the operators the worker watches
EVIDENCE_SEEN = "record:evidence-seen"
RECORD_OFF = "the record of what ran was switched off"
MARKERS = frozenset({EVIDENCE_SEEN, RECORD_OFF})

"""Alternative: attention by nn.MultiheadAttention (allowed: milestone 2 has passed), LayerNorm with torch.var_mean and rsqrt, GPT-2 style names (ln_1, ln_2, mlp)."""

import torch
import torch.nn as nn


class LayerNorm(nn.Module):
    def __init__(self, d_model, eps=1e-5, bias=True):
        super().__init__()
        self.eps = eps
        self.gain = nn.Parameter(torch.ones(d_model))
        self.shift = nn.Parameter(torch.zeros(d_model)) if bias else None

    def forward(self, x):
        var, mean = torch.var_mean(x, dim=-1, keepdim=True, correction=0)
        y = (x - mean) * torch.rsqrt(var + self.eps) * self.gain
        return y + self.shift if self.shift is not None else y


class TransformerBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, activation="relu", norm_first=False,
                 layer_norm_eps=1e-5, bias=True):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, bias=bias, batch_first=True)
        self.ln_1 = LayerNorm(d_model, layer_norm_eps, bias)
        self.ln_2 = LayerNorm(d_model, layer_norm_eps, bias)
        act = nn.GELU() if activation == "gelu" else nn.ReLU()
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff, bias=bias), act, nn.Dropout(dropout),
                                 nn.Linear(d_ff, d_model, bias=bias), nn.Dropout(dropout))
        self.resid_drop = nn.Dropout(dropout)
        self.pre_ln = norm_first

    def _attend(self, x, mask, key_padding_mask):
        blocked = None if mask is None else ~mask  # nn.MultiheadAttention: True = blocked
        if blocked is not None and blocked.dim() == 3:
            blocked = blocked.repeat_interleave(self.attn.num_heads, 0)
        y = self.attn(x, x, x, attn_mask=blocked, key_padding_mask=key_padding_mask, need_weights=False)[0]
        return self.resid_drop(y)

    def forward(self, x, mask=None, key_padding_mask=None):
        if self.pre_ln:
            x = x + self._attend(self.ln_1(x), mask, key_padding_mask)
            return x + self.mlp(self.ln_2(x))
        x = self.ln_1(x + self._attend(x, mask, key_padding_mask))
        return self.ln_2(x + self.mlp(x))

    @torch.no_grad()
    def load_torch_weights(self, layer):
        self.attn.load_state_dict(layer.self_attn.state_dict())
        for mine, theirs in ((self.mlp[0], layer.linear1), (self.mlp[3], layer.linear2)):
            mine.weight.copy_(theirs.weight)
            if theirs.bias is not None:
                mine.bias.copy_(theirs.bias)
        for mine, theirs in ((self.ln_1, layer.norm1), (self.ln_2, layer.norm2)):
            mine.gain.copy_(theirs.weight)
            if theirs.bias is not None:
                mine.shift.copy_(theirs.bias)

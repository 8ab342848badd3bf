"""Alternative: filters in probability space (zero, then divide by the sum), inverse-CDF sampling with torch.rand and searchsorted, top-p by a threshold on the sorted probabilities, beam search that multiplies probabilities and takes the log at the end."""

import torch


def _probabilities(logits, temperature, top_k, top_p):
    probs = torch.softmax(logits.double() / temperature, dim=-1)  # (B, V)
    if top_k is not None:
        k = min(top_k, probs.shape[-1])
        kept = torch.zeros_like(probs).scatter(-1, probs.topk(k, dim=-1).indices, 1.0)
        probs = probs * kept
        probs = probs / probs.sum(-1, keepdim=True)
    if top_p is not None:
        sorted_probs, _ = probs.sort(dim=-1, descending=True)
        before = sorted_probs.cumsum(-1) - sorted_probs  # mass of the more likely tokens
        n_keep = (before < top_p).sum(-1, keepdim=True).clamp_min(1)  # how many tokens the nucleus holds
        smallest_kept = sorted_probs.gather(-1, n_keep - 1)  # (B, 1)
        probs = torch.where(probs >= smallest_kept, probs, torch.zeros_like(probs))
        probs = probs / probs.sum(-1, keepdim=True)
    return probs


def sample_next(logits, *, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature == 0:
        return torch.argmax(logits, dim=-1)
    probs = _probabilities(logits, temperature, top_k, top_p)
    cdf = probs.cumsum(-1)
    u = torch.rand(probs.shape[0], 1, generator=generator, dtype=torch.float64) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).squeeze(-1).clamp_max(probs.shape[-1] - 1)


def generate(model, ids, max_new_tokens, *, temperature=1.0, top_k=None, top_p=None, generator=None):
    with torch.no_grad():
        for _ in range(max_new_tokens):
            token = sample_next(model(ids)[:, -1], temperature=temperature, top_k=top_k, top_p=top_p,
                                generator=generator)
            ids = torch.cat([ids, token.view(-1, 1)], dim=1)
    return ids


def beam_search(model, ids, *, beam_width, max_new_tokens):
    with torch.no_grad():
        beams, probs = ids, torch.ones(1, dtype=torch.float64)  # a product of probabilities per beam
        for _ in range(max_new_tokens):
            step = torch.softmax(model(beams)[:, -1].double(), dim=-1)  # (W, V)
            joint = probs[:, None] * step  # (W, V)
            V = joint.shape[1]
            probs, flat = joint.reshape(-1).sort(descending=True)
            probs, flat = probs[:beam_width], flat[:beam_width]
            beams = torch.cat([beams[flat // V], (flat % V)[:, None]], dim=1)
        return beams[0:1], float(torch.log(probs[0]))

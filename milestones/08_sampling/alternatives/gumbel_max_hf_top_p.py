"""Alternative: Gumbel-max sampling (argmax of logits plus Gumbel noise drawn with the generator), top-k by kthvalue, top-p as Hugging Face writes it (ascending sort, drop what sums to at most 1 - top_p), beam search that keeps the best W tokens per beam before the global cut."""

import torch


def _filter(logits, temperature, top_k, top_p):
    logits = logits / temperature
    V = logits.shape[-1]
    if top_k is not None and top_k < V:
        threshold = logits.kthvalue(V - top_k + 1, dim=-1, keepdim=True).values  # the k-th largest
        logits = torch.where(logits >= threshold, logits, torch.full_like(logits, float("-inf")))
    if top_p is not None and top_p < 1.0:
        ascending, order = logits.sort(dim=-1)  # least likely first
        cumulative = ascending.softmax(-1).cumsum(-1)
        remove = cumulative <= 1 - top_p
        remove[:, -1] = False  # keep at least the most likely token
        logits = logits.masked_fill(remove.scatter(1, order, remove), float("-inf"))
    return logits


def sample_next(logits, *, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature == 0:
        return logits.argmax(-1)
    z = _filter(logits.double(), temperature, top_k, top_p)
    u = torch.rand(z.shape, generator=generator, dtype=torch.float64).clamp_min(1e-300)
    gumbel = -torch.log(-torch.log(u))  # argmax(z + Gumbel) ~ softmax(z)
    return (z + gumbel).argmax(-1)


@torch.no_grad()
def generate(model, ids, max_new_tokens, *, temperature=1.0, top_k=None, top_p=None, generator=None):
    out = ids
    for _ in range(max_new_tokens):
        nxt = sample_next(model(out)[:, -1, :], temperature=temperature, top_k=top_k, top_p=top_p,
                          generator=generator)
        out = torch.cat((out, nxt.unsqueeze(1)), dim=1)
    return out


@torch.no_grad()
def beam_search(model, ids, *, beam_width, max_new_tokens):
    beams = [(0.0, ids[0].tolist())]
    for _ in range(max_new_tokens):
        batch = torch.tensor([tokens for _, tokens in beams])
        log_probs = torch.log_softmax(model(batch)[:, -1, :].double(), dim=-1)  # (W, V)
        per_beam = log_probs.topk(min(beam_width, log_probs.shape[-1]), dim=-1)  # the W best of each beam suffice
        candidates = [(score + lp, tokens + [tok])
                      for (score, tokens), lps, toks in zip(beams, per_beam.values.tolist(), per_beam.indices.tolist())
                      for lp, tok in zip(lps, toks)]
        beams = sorted(candidates, key=lambda c: c[0], reverse=True)[:beam_width]
    score, tokens = beams[0]
    return torch.tensor([tokens]), score

"""Alternative: plain Python loops, one row at a time (torch.multinomial per row with the generator), top-p by walking the sorted tokens, beam search over lists of (score, tokens) with heapq."""

import heapq
import math

import torch


def _row_distribution(row, temperature, top_k, top_p):
    probs = torch.softmax(row.double() / temperature, dim=0).tolist()
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    if top_k is not None:
        order = order[:top_k]
    if top_p is not None:
        total = sum(probs[i] for i in order)
        kept, mass = [], 0.0
        for i in order:
            kept.append(i)
            mass += probs[i] / total
            if mass >= top_p:
                break
        order = kept
    out = torch.zeros(len(probs), dtype=torch.float64)
    for i in order:
        out[i] = probs[i]
    return out / out.sum()


def sample_next(logits, *, temperature=1.0, top_k=None, top_p=None, generator=None):
    tokens = []
    for row in logits:
        if temperature == 0:
            tokens.append(int(torch.argmax(row)))
        else:
            dist = _row_distribution(row, temperature, top_k, top_p)
            tokens.append(int(torch.multinomial(dist, 1, generator=generator)))
    return torch.tensor(tokens, dtype=torch.long)


def generate(model, ids, max_new_tokens, *, temperature=1.0, top_k=None, top_p=None, generator=None):
    seq = ids.clone()
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits = model(seq)
            nxt = sample_next(logits[:, seq.shape[1] - 1], temperature=temperature, top_k=top_k, top_p=top_p,
                              generator=generator)
            seq = torch.cat([seq, nxt[:, None]], dim=1)
    return seq


def beam_search(model, ids, *, beam_width, max_new_tokens):
    beams = [(0.0, ids[0].tolist())]
    with torch.no_grad():
        for _ in range(max_new_tokens):
            candidates = []
            for score, tokens in beams:
                logits = model(torch.tensor([tokens]))[0, -1].double()
                log_probs = logits - torch.logsumexp(logits, dim=0)
                for token, lp in enumerate(log_probs.tolist()):
                    candidates.append((score + lp, tokens + [token]))
            beams = heapq.nlargest(beam_width, candidates, key=lambda c: c[0])
    best_score, best_tokens = max(beams, key=lambda c: c[0])
    assert math.isfinite(best_score)
    return torch.tensor([best_tokens]), best_score

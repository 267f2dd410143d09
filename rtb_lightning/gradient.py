"""Exact gradients of any objective of per-trajectory log-prob sums, with memory set by a time chunk.

dL/dtheta = sum_b dL/ds_b * d s_b/dtheta with s_b = sum_t log p_post(x_{t+1}|x_t). So: evaluate the
objective at a detached leaf s (cheap, gives dL/ds and the log Z gradient), then recompute the
log-probs chunk by chunk with grad and backpropagate (dL/ds) . chunk_sum. Peak memory is one chunk's
graph, whatever the trajectory length (notes/rtb.md section 3).
"""
import torch
import torch.distributed as dist


def chunked_backward(objective, log_pf_sum, recompute, num_steps: int, chunk: int = 0):
    """objective(s) -> scalar loss; recompute(start, stop) -> (B, stop-start) log-probs with grad.

    Returns the loss (detached). Gradients are accumulated into .grad of whatever the objective and
    recompute touch.
    """
    s = log_pf_sum.detach().requires_grad_(True)
    loss = objective(s)
    loss.backward()
    coef = s.grad
    step = chunk or num_steps
    for start in range(0, num_steps, step):
        lp = recompute(start, min(start + step, num_steps))
        (lp.sum(1) * coef).sum().backward()
    return loss.detach()


def all_reduce_gradients(params):
    """Average .grad across processes in one flat all-reduce (no-op without torch.distributed)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()

#!/usr/bin/python3
"""Writes the reference-import fixture of t2's tests (build/reference_test.go) with real
PyTorch, in the files and layouts of Sakana AI's reference code
(github.com/SakanaAI/self-adaptive-llms: svd_reinforce_hydra.py, policy/base.py, utils.py).

Run it from this folder with Debian's PyTorch (apt-get install python3-torch; 1.13 here):

    cd build/testdata/reference && /usr/bin/python3 make.py

It needs nothing else (no transformers, no safetensors: the checkpoint is written by
hand below), and the same PyTorch writes the same bytes. It writes:

  hf/config.json, hf/model.safetensors
        a tiny random Llama (2 layers, width 32, GQA 4/2 heads, vocabulary 259) in Hugging
        Face naming, float32. hf/tokenizer.json and hf/tokenizer_config.json are the
        byte-level ones `t2 random-model` writes, copied once; this script leaves them alone.
  decomposed_params.pt
        what svd_reinforce_hydra.py caches: for every parameter of model.state_dict()
        whose name lacks "norm", torch.svd's factors under NAME.U, NAME.S, NAME.V (NAME
        ends in ".weight"), saved with torch.save as a plain dict. torch.svd returns V as
        a transposed view, so those tensors are saved non-contiguous, as the real ones.
  policy_params.pt
        torch.save(policy.state_dict()) of policy/base.py's Policy: learnable_params_module_list.K,
        one bf16 vector p per "mlp" parameter in state_dict order (gate, up, down of each
        layer), of length min(shape). Here p = 0.1 + 1.5·N(0,1), far from the reference's
        initial 0.1 + 0.01·N(0,1), so that the expert changes the logits visibly.
  learnable_params.pt
        the same p as the reference's save_legacy_params writes them: torch.save of a
        plain dict {parameter name: nn.Parameter}.
  policy_other_model.pt
        a policy of another model, one layer of the same width: 3 vectors, not 6
  expected.json
        the token sequences, max_mult (1), and the first mask values with max_mult = 2
  logits-base-N.bin, logits-expert-N.bin
        float32 little-endian [T, V] logits of sequence N, of the base model and of the
        model adapted by compose_new_params (written out below as utils.py has it), from a
        float32 Llama forward written out below (Hugging Face's LlamaForCausalLM).
"""
import collections
import json
import struct

import torch

torch.manual_seed(20250106)

CONFIG = collections.OrderedDict(
    architectures=["LlamaForCausalLM"],
    model_type="llama",
    vocab_size=259,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=8,
    max_position_embeddings=64,
    rms_norm_eps=1e-05,
    rope_theta=10000.0,
    rope_scaling=None,
    hidden_act="silu",
    tie_word_embeddings=False,
    bos_token_id=None,
    eos_token_id=[256, 258],
    torch_dtype="float32",
)
V, D, F = CONFIG["vocab_size"], CONFIG["hidden_size"], CONFIG["intermediate_size"]
L, H, HKV, DH = (CONFIG["num_hidden_layers"], CONFIG["num_attention_heads"],
                 CONFIG["num_key_value_heads"], CONFIG["head_dim"])
EPS, THETA = CONFIG["rms_norm_eps"], CONFIG["rope_theta"]
MAX_MULT = 1.0  # cfgs/policy/default.yaml

# The base model's parameters in LlamaForCausalLM.state_dict() order.
params = collections.OrderedDict()
params["model.embed_tokens.weight"] = torch.randn(V, D)
for l in range(L):
    p = f"model.layers.{l}."
    params[p + "self_attn.q_proj.weight"] = torch.randn(H * DH, D) * 0.2
    params[p + "self_attn.k_proj.weight"] = torch.randn(HKV * DH, D) * 0.2
    params[p + "self_attn.v_proj.weight"] = torch.randn(HKV * DH, D) * 0.2
    params[p + "self_attn.o_proj.weight"] = torch.randn(D, H * DH) * 0.2
    params[p + "mlp.gate_proj.weight"] = torch.randn(F, D) * 0.2
    params[p + "mlp.up_proj.weight"] = torch.randn(F, D) * 0.2
    params[p + "mlp.down_proj.weight"] = torch.randn(D, F) * 0.15
    params[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(D)
    params[p + "post_attention_layernorm.weight"] = 1 + 0.1 * torch.randn(D)
params["model.norm.weight"] = 1 + 0.1 * torch.randn(D)
params["lm_head.weight"] = torch.randn(V, D) * 0.2


def write_safetensors(path, tensors):
    """The safetensors format by hand: u64 header length, JSON header, raw data."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        data = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


with open("hf/config.json", "w") as f:
    json.dump(CONFIG, f, indent=2)
    f.write("\n")
write_safetensors("hf/model.safetensors", params)

# svd_reinforce_hydra.py: "if 'norm' not in k: U, S, V = torch.svd(v)".
decomposed = {}
for k, v in params.items():
    if "norm" not in k:
        U, S, Vf = torch.svd(v)
        decomposed[f"{k}.U"], decomposed[f"{k}.S"], decomposed[f"{k}.V"] = U, S, Vf
torch.save(decomposed, "decomposed_params.pt")


# policy/base.py's Policy, as its state_dict sees it: a ParameterList of bf16 vectors.
class Policy(torch.nn.Module):
    def __init__(self, ps):
        super().__init__()
        self.learnable_params_module_list = torch.nn.ParameterList(ps)


mlp = [k for k in params if "mlp" in k]
learnable = collections.OrderedDict(
    (k, torch.nn.Parameter((0.1 + 1.5 * torch.randn(min(params[k].shape))).to(torch.bfloat16)))
    for k in mlp)
torch.save(Policy(list(learnable.values())).state_dict(), "policy_params.pt")
torch.save(dict(learnable), "learnable_params.pt")


def get_mask(p, max_mult):
    """policy/base.py Policy.get_mask."""
    return torch.sigmoid(p).to(torch.bfloat16) * max_mult


def compose_new_params(name, p, max_mult):
    """utils.py compose_new_params, with float32 factors."""
    mm = get_mask(p, max_mult)
    U, S, Vf = decomposed[f"{name}.U"], decomposed[f"{name}.S"], decomposed[f"{name}.V"]
    return (U @ torch.diag_embed(S * mm) @ Vf.T) * (S.sum() / (S * mm).sum())


# utils.py forward(): compose every "mlp" parameter, keep the others.
adapted = collections.OrderedDict(
    (k, compose_new_params(k, learnable[k].detach(), MAX_MULT) if "mlp" in k else v)
    for k, v in params.items())


def rms_norm(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * w


def rope(x, pos):
    """x[T, heads, DH] rotated in Hugging Face's rotate_half layout."""
    inv = 1.0 / (THETA ** (torch.arange(0, DH, 2, dtype=torch.int64).float() / DH))
    freqs = pos[:, None].float() * inv[None, :]
    emb = torch.cat([freqs, freqs], dim=-1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
    half = torch.cat([-x[..., DH // 2:], x[..., :DH // 2]], dim=-1)
    return x * cos + half * sin


def forward(w, ids):
    """LlamaForCausalLM's forward in float32: logits[T, V] of every position."""
    T = len(ids)
    pos = torch.arange(T)
    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    causal = torch.full((T, T), float("-inf")).triu(1)
    for l in range(L):
        p = f"model.layers.{l}."
        h = rms_norm(x, w[p + "input_layernorm.weight"])
        q = (h @ w[p + "self_attn.q_proj.weight"].T).view(T, H, DH)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).view(T, HKV, DH)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(T, HKV, DH)
        q, k = rope(q, pos), rope(k, pos)
        k = k.repeat_interleave(H // HKV, dim=1)
        v = v.repeat_interleave(H // HKV, dim=1)
        scores = torch.einsum("thd,shd->hts", q, k) / DH ** 0.5 + causal
        att = torch.einsum("hts,shd->thd", scores.softmax(-1), v).reshape(T, H * DH)
        x = x + att @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"])
        g = h @ w[p + "mlp.gate_proj.weight"].T
        u = h @ w[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ w[p + "mlp.down_proj.weight"].T
    return rms_norm(x, w["model.norm.weight"]) @ w["lm_head.weight"].T


sequences = [
    list(b"Hello, world"),
    [256, 257] + list(b"math: 12+30=") + [258],
    torch.randint(0, V, (20,)).tolist(),
]
with torch.no_grad():
    for n, ids in enumerate(sequences):
        for kind, w in (("base", params), ("expert", adapted)):
            with open(f"logits-{kind}-{n}.bin", "wb") as f:
                f.write(forward(w, ids).contiguous().numpy().astype("<f4").tobytes())

# Last, so the random draws above stay as they were.
torch.save(Policy([torch.nn.Parameter(torch.zeros(32, dtype=torch.bfloat16)) for _ in range(3)]).state_dict(),
           "policy_other_model.pt")

first = mlp[0]
expected = collections.OrderedDict(
    sequences=sequences,
    max_mult=MAX_MULT,
    mask_mm2_matrix=first,
    mask_mm2_first=[float(x) for x in get_mask(learnable[first].detach(), 2.0)[:8].float()],
)
with open("expected.json", "w") as f:
    json.dump(expected, f, indent=1)
    f.write("\n")

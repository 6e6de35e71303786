"""Plain-PyTorch BERT, Llama and GPT-2 for the peer benchmarks (Debian ships torch but not transformers).

Each module follows the computation of transformers' BertModel / LlamaForCausalLM / GPT2LMHeadModel in inference
mode and loads a checkpoint written by `ipfs-accelerate make-checkpoint` (HF tensor names), so the peers and our
engine run the very same weights. compare.sh checks their outputs against ours before timing anything.
"""
import math

import torch
import torch.nn.functional as F
from safetensors.torch import load_file


def load_state(path, prefix=""):
    sd = load_file(path)
    if prefix and any(k.startswith(prefix) for k in sd):
        sd = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    return {k: v.float() for k, v in sd.items()}


class Bert(torch.nn.Module):
    """BertModel: embeddings + post-LN encoder + pooler. attn='sdpa' (torch's fused kernel, transformers' default)
    or 'eager' (matmul/softmax/matmul: the graph ONNX Runtime's BERT optimizer fuses)."""

    def __init__(self, cfg, sd, attn="sdpa"):
        super().__init__()
        self.cfg, self.attn = cfg, attn
        self.H, self.nh = cfg["hidden_size"], cfg["num_attention_heads"]
        self.eps = cfg.get("layer_norm_eps", 1e-12)
        self.p = torch.nn.ParameterDict({k.replace(".", "__"): torch.nn.Parameter(v, requires_grad=False)
                                         for k, v in sd.items()})

    def w(self, name):
        return self.p[name.replace(".", "__")]

    def lin(self, x, name):
        return F.linear(x, self.w(name + ".weight"), self.w(name + ".bias"))

    def ln(self, x, name):
        return F.layer_norm(x, (self.H,), self.w(name + ".weight"), self.w(name + ".bias"), self.eps)

    def forward(self, input_ids, attention_mask, token_type_ids):
        B, S = input_ids.shape
        pos = torch.arange(S, device=input_ids.device).unsqueeze(0)
        x = (F.embedding(input_ids, self.w("embeddings.word_embeddings.weight"))
             + F.embedding(pos, self.w("embeddings.position_embeddings.weight"))
             + F.embedding(token_type_ids, self.w("embeddings.token_type_embeddings.weight")))
        x = self.ln(x, "embeddings.LayerNorm")
        mask = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        d = self.H // self.nh
        for i in range(self.cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."

            def heads(t):
                return t.view(B, S, self.nh, d).transpose(1, 2)

            q, k, v = (heads(self.lin(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
            if self.attn == "sdpa":
                a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            else:
                s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + mask
                a = torch.matmul(torch.softmax(s, dim=-1), v)
            a = a.transpose(1, 2).reshape(B, S, self.H)
            x = self.ln(self.lin(a, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            h = self.lin(x, p + "intermediate.dense")
            h = h * 0.5 * (1.0 + torch.erf(h / math.sqrt(2.0)))  # exact gelu, as HF "gelu"
            x = self.ln(self.lin(h, p + "output.dense") + x, p + "output.LayerNorm")
        if "pooler__dense__weight" not in self.p:  # BertForMaskedLM has no pooler
            return x, None
        return x, torch.tanh(self.lin(x[:, 0], "pooler.dense"))

    def mlm_logits(self, x, cls):
        """BertForMaskedLM's head (cls.predictions: transform dense + gelu + LayerNorm, decoder tied to the word
        embeddings); cls: the checkpoint's tensors under "cls."."""
        h = F.linear(x, cls["predictions.transform.dense.weight"], cls["predictions.transform.dense.bias"])
        h = h * 0.5 * (1.0 + torch.erf(h / math.sqrt(2.0)))
        h = F.layer_norm(h, (self.H,), cls["predictions.transform.LayerNorm.weight"],
                         cls["predictions.transform.LayerNorm.bias"], self.eps)
        return F.linear(h, self.w("embeddings.word_embeddings.weight"), cls["predictions.bias"])


class DecoderLM(torch.nn.Module):
    """LlamaForCausalLM (RMSNorm, RoPE, GQA, SwiGLU) or GPT2LMHeadModel (LayerNorm, learned positions, Conv1D
    [in, out] weights, gelu_new, tied head) with a preallocated KV cache for greedy decoding."""

    def __init__(self, cfg, sd, max_len):
        super().__init__()
        self.cfg, self.sd = cfg, sd
        self.gpt2 = cfg["model_type"] == "gpt2"
        if self.gpt2:
            self.H, self.nh, self.L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
            self.nkv, self.eps = self.nh, cfg.get("layer_norm_epsilon", 1e-5)
            self.pre = "transformer."
        else:
            self.H, self.nh, self.L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
            self.nkv, self.eps = cfg.get("num_key_value_heads", self.nh), cfg.get("rms_norm_eps", 1e-6)
            self.pre = "model."
            d = self.H // self.nh
            inv = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, d, 2).float() / d))
            ang = torch.outer(torch.arange(max_len).float(), inv)
            self.cos, self.sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()
        self.d = self.H // self.nh
        self.max_len = max_len

    def to_dtype(self, dtype):
        self.sd = {k: v.to(dtype) for k, v in self.sd.items()}
        if not self.gpt2:
            self.cos, self.sin = self.cos.to(dtype), self.sin.to(dtype)
        return self

    def w(self, name):
        return self.sd[self.pre + name] if self.pre + name in self.sd else self.sd[name]

    def new_cache(self, B):
        dt = next(iter(self.sd.values())).dtype
        shape = (self.L, B, self.nkv, self.max_len, self.d)
        return torch.zeros(shape, dtype=dt), torch.zeros(shape, dtype=dt)

    def norm(self, x, name):
        if self.gpt2:
            return F.layer_norm(x, (self.H,), self.w(name + ".weight"), self.w(name + ".bias"), self.eps)
        v = x.float().pow(2).mean(-1, keepdim=True)
        return self.w(name + ".weight") * (x.float() * torch.rsqrt(v + self.eps)).to(x.dtype)

    def rope(self, t, pos0):
        S = t.shape[2]
        c, s = self.cos[pos0:pos0 + S], self.sin[pos0:pos0 + S]
        half = t.shape[-1] // 2
        rot = torch.cat([-t[..., half:], t[..., :half]], -1)
        return t * c + rot * s

    def forward(self, ids, cache, pos0):
        """ids [B, S] at positions pos0..pos0+S-1; writes K/V into cache; returns logits of the last position."""
        B, S = ids.shape
        kc, vc = cache
        x = F.embedding(ids, self.w("wte.weight" if self.gpt2 else "embed_tokens.weight"))
        if self.gpt2:
            x = x + F.embedding(torch.arange(pos0, pos0 + S).unsqueeze(0), self.w("wpe.weight"))
        for i in range(self.L):
            p = f"h.{i}." if self.gpt2 else f"layers.{i}."
            h = self.norm(x, p + ("ln_1" if self.gpt2 else "input_layernorm"))
            if self.gpt2:
                qkv = torch.addmm(self.w(p + "attn.c_attn.bias"), h.view(-1, self.H), self.w(p + "attn.c_attn.weight"))
                q, k, v = qkv.view(B, S, 3 * self.H).split(self.H, dim=-1)
            else:
                q = F.linear(h, self.w(p + "self_attn.q_proj.weight"))
                k = F.linear(h, self.w(p + "self_attn.k_proj.weight"))
                v = F.linear(h, self.w(p + "self_attn.v_proj.weight"))
            q = q.reshape(B, S, self.nh, self.d).transpose(1, 2)
            k = k.reshape(B, S, self.nkv, self.d).transpose(1, 2)
            v = v.reshape(B, S, self.nkv, self.d).transpose(1, 2)
            if not self.gpt2:
                q, k = self.rope(q, pos0), self.rope(k, pos0)
            kc[i, :, :, pos0:pos0 + S] = k
            vc[i, :, :, pos0:pos0 + S] = v
            K, V = kc[i, :, :, :pos0 + S], vc[i, :, :, :pos0 + S]
            if self.nkv != self.nh:
                K = K.repeat_interleave(self.nh // self.nkv, dim=1)
                V = V.repeat_interleave(self.nh // self.nkv, dim=1)
            a = F.scaled_dot_product_attention(q, K, V, is_causal=S > 1)
            a = a.transpose(1, 2).reshape(B, S, self.H)
            if self.gpt2:
                x = x + torch.addmm(self.w(p + "attn.c_proj.bias"), a.view(-1, self.H),
                                    self.w(p + "attn.c_proj.weight")).view(B, S, self.H)
                h = self.norm(x, p + "ln_2").view(-1, self.H)
                h = F.gelu(torch.addmm(self.w(p + "mlp.c_fc.bias"), h, self.w(p + "mlp.c_fc.weight")), approximate="tanh")
                x = x + torch.addmm(self.w(p + "mlp.c_proj.bias"), h, self.w(p + "mlp.c_proj.weight")).view(B, S, self.H)
            else:
                x = x + F.linear(a, self.w(p + "self_attn.o_proj.weight"))
                h = self.norm(x, p + "post_attention_layernorm")
                g = F.silu(F.linear(h, self.w(p + "mlp.gate_proj.weight"))) * F.linear(h, self.w(p + "mlp.up_proj.weight"))
                x = x + F.linear(g, self.w(p + "mlp.down_proj.weight"))
        x = self.norm(x[:, -1:], "ln_f" if self.gpt2 else "norm")
        head = self.w("wte.weight") if self.gpt2 else self.sd["lm_head.weight"]
        return F.linear(x, head)[:, -1]

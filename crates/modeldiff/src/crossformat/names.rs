//! Per-architecture name tables: Hugging Face (transformers) tensor names → GGUF names.
//!
//! The facts come from gguf-py's `tensor_mapping.py` and `constants.py` (llama.cpp's
//! converter); the tables are our own, one per family, because the same HF module means
//! different things in different architectures (gemma2/3's `post_attention_layernorm` is
//! `post_attention_norm`, llama's is `ffn_norm`).

use std::sync::OnceLock;

use regex::Regex;

/// A family of architectures sharing one name table (and converter habits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Family {
    /// llama, mistral, mixtral: the converter permutes Q/K rows for RoPE.
    Llama,
    /// qwen2, qwen2moe.
    Qwen2,
    /// qwen3, qwen3moe (with per-head Q/K norms).
    Qwen3,
    /// gemma (norms stored as `w + 1`).
    Gemma,
    /// gemma2 (norms stored as `w + 1`, pre/post norms).
    Gemma2,
    /// gemma3 (as gemma2, with Q/K norms).
    Gemma3,
    /// phi3 (fused QKV and gate/up).
    Phi3,
    /// gpt2.
    Gpt2,
    /// falcon.
    Falcon,
    /// bert (and sentence-transformers models such as MiniLM).
    Bert,
    /// nemotron (llama names, norms stored as `w + 1`, no Q/K permutation).
    Nemotron,
}

impl Family {
    /// The family of a GGUF `general.architecture` or an HF `config.json` `model_type`.
    pub fn of(arch: &str) -> Option<Family> {
        Some(match arch.to_ascii_lowercase().as_str() {
            "llama" | "mistral" | "mixtral" => Family::Llama,
            "qwen2" | "qwen2moe" | "qwen2_moe" => Family::Qwen2,
            "qwen3" | "qwen3moe" | "qwen3_moe" => Family::Qwen3,
            "gemma" => Family::Gemma,
            "gemma2" => Family::Gemma2,
            "gemma3" | "gemma3_text" => Family::Gemma3,
            "phi3" => Family::Phi3,
            "gpt2" => Family::Gpt2,
            "falcon" => Family::Falcon,
            "bert" => Family::Bert,
            "nemotron" => Family::Nemotron,
            _ => return None,
        })
    }

    /// Whether llama.cpp's converter permutes the Q/K rows for RoPE.
    pub fn permutes_qk(self) -> bool {
        self == Family::Llama
    }

    /// Whether llama.cpp's converter stores norm weights as `w + 1` (gemma 1/2/3 and nemotron
    /// add 1 to every `*norm.weight`).
    pub fn folds_norm_plus_one(self) -> bool {
        matches!(
            self,
            Family::Gemma | Family::Gemma2 | Family::Gemma3 | Family::Nemotron
        )
    }
}

/// HF module → GGUF name inside a block, shared by the llama-like families.
const LLAMA_BLOCK: &[(&str, &str)] = &[
    ("input_layernorm", "attn_norm"),
    ("self_attn.q_proj", "attn_q"),
    ("self_attn.k_proj", "attn_k"),
    ("self_attn.v_proj", "attn_v"),
    ("self_attn.o_proj", "attn_output"),
    ("post_attention_layernorm", "ffn_norm"),
    ("mlp.gate_proj", "ffn_gate"),
    ("mlp.up_proj", "ffn_up"),
    ("mlp.down_proj", "ffn_down"),
    // Mixtral's router (its stacked experts: `expert_to_gguf`).
    ("block_sparse_moe.gate", "ffn_gate_inp"),
];

/// Qwen2/3 additions: the MoE router and shared expert, Q/K norms (qwen3).
const QWEN_BLOCK: &[(&str, &str)] = &[
    ("self_attn.q_norm", "attn_q_norm"),
    ("self_attn.k_norm", "attn_k_norm"),
    ("mlp.gate", "ffn_gate_inp"),
    ("mlp.shared_expert.gate_proj", "ffn_gate_shexp"),
    ("mlp.shared_expert.up_proj", "ffn_up_shexp"),
    ("mlp.shared_expert.down_proj", "ffn_down_shexp"),
    ("mlp.shared_expert_gate", "ffn_gate_inp_shexp"),
];

/// Gemma2/3: four norms per block, named differently from llama's.
const GEMMA2_BLOCK: &[(&str, &str)] = &[
    ("input_layernorm", "attn_norm"),
    ("post_attention_layernorm", "post_attention_norm"),
    ("pre_feedforward_layernorm", "ffn_norm"),
    ("post_feedforward_layernorm", "post_ffw_norm"),
    ("self_attn.q_norm", "attn_q_norm"),
    ("self_attn.k_norm", "attn_k_norm"),
];

const PHI3_BLOCK: &[(&str, &str)] = &[
    ("self_attn.qkv_proj", "attn_qkv"),
    ("mlp.gate_up_proj", "ffn_up"),
];

const GPT2_BLOCK: &[(&str, &str)] = &[
    ("ln_1", "attn_norm"),
    ("attn.c_attn", "attn_qkv"),
    ("attn.c_proj", "attn_output"),
    ("ln_2", "ffn_norm"),
    ("mlp.c_fc", "ffn_up"),
    ("mlp.c_proj", "ffn_down"),
];

const FALCON_BLOCK: &[(&str, &str)] = &[
    ("input_layernorm", "attn_norm"),
    ("ln_attn", "attn_norm"),
    ("ln_mlp", "attn_norm_2"),
    ("self_attention.query_key_value", "attn_qkv"),
    ("self_attention.dense", "attn_output"),
    ("mlp.dense_h_to_4h", "ffn_up"),
    ("mlp.dense_4h_to_h", "ffn_down"),
];

const BERT_BLOCK: &[(&str, &str)] = &[
    ("attention.self.query", "attn_q"),
    ("attention.self.key", "attn_k"),
    ("attention.self.value", "attn_v"),
    ("attention.output.dense", "attn_output"),
    ("attention.output.LayerNorm", "attn_output_norm"),
    ("intermediate.dense", "ffn_up"),
    ("output.dense", "ffn_down"),
    ("output.LayerNorm", "layer_output_norm"),
];

/// Top-level HF modules → GGUF names, shared by the llama-like families.
const LLAMA_TOP: &[(&str, &str)] = &[
    ("model.embed_tokens", "token_embd"),
    ("model.norm", "output_norm"),
    ("lm_head", "output"),
];

const GPT2_TOP: &[(&str, &str)] = &[
    ("transformer.wte", "token_embd"),
    ("transformer.wpe", "position_embd"),
    ("transformer.ln_f", "output_norm"),
    ("wte", "token_embd"),
    ("wpe", "position_embd"),
    ("ln_f", "output_norm"),
    ("lm_head", "output"),
];

const FALCON_TOP: &[(&str, &str)] = &[
    ("transformer.word_embeddings", "token_embd"),
    ("transformer.ln_f", "output_norm"),
    ("lm_head", "output"),
];

const BERT_TOP: &[(&str, &str)] = &[
    ("embeddings.word_embeddings", "token_embd"),
    ("embeddings.position_embeddings", "position_embd"),
    ("embeddings.token_type_embeddings", "token_types"),
    ("embeddings.LayerNorm", "token_embd_norm"),
];

/// One name table: HF module → GGUF name.
type Table = &'static [(&'static str, &'static str)];

/// The block and top-level tables of a family, most specific first.
fn tables(f: Family) -> (Vec<Table>, Table) {
    match f {
        Family::Llama => (vec![LLAMA_BLOCK], LLAMA_TOP),
        Family::Qwen2 | Family::Qwen3 => (vec![QWEN_BLOCK, LLAMA_BLOCK], LLAMA_TOP),
        Family::Gemma | Family::Nemotron => (vec![LLAMA_BLOCK], LLAMA_TOP),
        Family::Gemma2 | Family::Gemma3 => (vec![GEMMA2_BLOCK, LLAMA_BLOCK], LLAMA_TOP),
        Family::Phi3 => (vec![PHI3_BLOCK, LLAMA_BLOCK], LLAMA_TOP),
        Family::Gpt2 => (vec![GPT2_BLOCK], GPT2_TOP),
        Family::Falcon => (vec![FALCON_BLOCK], FALCON_TOP),
        Family::Bert => (vec![BERT_BLOCK], BERT_TOP),
    }
}

/// `PREFIX.N.MODULE.(weight|bias)` of the block containers transformers uses.
fn block_name() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^(?:model\.layers|model\.language_model\.layers|language_model\.model\.layers|transformer\.h|h|layers|(?:bert\.|roberta\.)?encoder\.layer)\.(\d+)\.(.+)\.(weight|bias)$",
        )
        .expect("valid regex")
    })
}

/// The GGUF name of HF tensor `name` in family `f`, or `None` when the tables do not know it.
pub fn hf_to_gguf(f: Family, name: &str) -> Option<String> {
    let (blocks, top) = tables(f);
    if let Some(c) = block_name().captures(name) {
        let (n, module, kind) = (&c[1], &c[2], &c[3]);
        let gguf = blocks
            .iter()
            .flat_map(|t| t.iter())
            .find(|(hf, _)| *hf == module)?
            .1;
        return Some(format!("blk.{n}.{gguf}.{kind}"));
    }
    let (module, kind) = name.rsplit_once('.')?;
    if kind != "weight" && kind != "bias" {
        return None;
    }
    let module = module
        .strip_prefix("bert.")
        .or_else(|| module.strip_prefix("roberta."))
        .unwrap_or(module);
    let gguf = top.iter().find(|(hf, _)| *hf == module)?.1;
    Some(format!("{gguf}.{kind}"))
}

/// The stacked GGUF tensor and expert index of a per-expert HF tensor:
/// `model.layers.N.block_sparse_moe.experts.E.w1.weight` (mixtral: w1 gate, w2 down, w3 up) or
/// `model.layers.N.mlp.experts.E.gate_proj.weight` (qwen2/3 MoE, olmoe) →
/// (`blk.N.ffn_gate_exps.weight`, E).
pub fn expert_to_gguf(name: &str) -> Option<(String, u64)> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(
            r"^model\.layers\.(\d+)\.(?:block_sparse_moe|mlp)\.experts\.(\d+)\.(w1|w2|w3|gate_proj|up_proj|down_proj)\.weight$",
        )
        .expect("valid regex")
    });
    let c = re.captures(name)?;
    let kind = match &c[3] {
        "w1" | "gate_proj" => "gate",
        "w2" | "down_proj" => "down",
        _ => "up",
    };
    Some((
        format!("blk.{}.ffn_{kind}_exps.weight", &c[1]),
        c[2].parse().ok()?,
    ))
}

/// Whether `name` is spelled as a GGUF tensor name (`blk.N.…`, or a known top-level name).
pub fn is_gguf_name(name: &str) -> bool {
    const TOP: &[&str] = &[
        "token_embd",
        "token_embd_norm",
        "token_types",
        "position_embd",
        "output",
        "output_norm",
        "rope_freqs",
    ];
    name.starts_with("blk.")
        || name
            .rsplit_once('.')
            .is_some_and(|(m, k)| (k == "weight" || k == "bias") && TOP.contains(&m))
}

/// Names of output heads (HF, GGUF).
pub const HEADS: &[&str] = &["lm_head.weight", "output.weight"];

/// Names of token embeddings (HF llama-like, GPT-2, falcon, GGUF).
pub const EMBEDDINGS: &[&str] = &[
    "model.embed_tokens.weight",
    "transformer.wte.weight",
    "transformer.word_embeddings.weight",
    "token_embd.weight",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_names_map_to_gguf() {
        let f = Family::Llama;
        let cases = [
            ("model.embed_tokens.weight", "token_embd.weight"),
            ("model.norm.weight", "output_norm.weight"),
            ("lm_head.weight", "output.weight"),
            (
                "model.layers.0.self_attn.q_proj.weight",
                "blk.0.attn_q.weight",
            ),
            (
                "model.layers.11.self_attn.k_proj.weight",
                "blk.11.attn_k.weight",
            ),
            (
                "model.layers.3.post_attention_layernorm.weight",
                "blk.3.ffn_norm.weight",
            ),
            (
                "model.layers.3.mlp.down_proj.weight",
                "blk.3.ffn_down.weight",
            ),
        ];
        for (hf, gguf) in cases {
            assert_eq!(hf_to_gguf(f, hf).as_deref(), Some(gguf), "{hf}");
        }
        assert_eq!(
            hf_to_gguf(f, "model.layers.0.self_attn.rotary.weight"),
            None
        );
        assert_eq!(hf_to_gguf(f, "blk.0.attn_q.weight"), None);
    }

    #[test]
    fn tables_are_per_architecture() {
        let n = "model.layers.2.post_attention_layernorm.weight";
        assert_eq!(
            hf_to_gguf(Family::Llama, n).unwrap(),
            "blk.2.ffn_norm.weight"
        );
        assert_eq!(
            hf_to_gguf(Family::Gemma3, n).unwrap(),
            "blk.2.post_attention_norm.weight"
        );
        assert_eq!(
            hf_to_gguf(
                Family::Gemma2,
                "model.layers.2.pre_feedforward_layernorm.weight"
            )
            .unwrap(),
            "blk.2.ffn_norm.weight"
        );
        assert_eq!(
            hf_to_gguf(Family::Qwen3, "model.layers.1.self_attn.k_norm.weight").unwrap(),
            "blk.1.attn_k_norm.weight"
        );
        assert_eq!(
            hf_to_gguf(Family::Bert, "encoder.layer.5.attention.self.query.bias").unwrap(),
            "blk.5.attn_q.bias"
        );
        assert_eq!(
            hf_to_gguf(Family::Bert, "embeddings.LayerNorm.weight").unwrap(),
            "token_embd_norm.weight"
        );
        assert_eq!(
            hf_to_gguf(Family::Gpt2, "transformer.h.0.attn.c_attn.weight").unwrap(),
            "blk.0.attn_qkv.weight"
        );
        assert_eq!(
            hf_to_gguf(Family::Phi3, "model.layers.0.mlp.gate_up_proj.weight").unwrap(),
            "blk.0.ffn_up.weight"
        );
        assert_eq!(
            hf_to_gguf(
                Family::Falcon,
                "transformer.h.0.self_attention.dense.weight"
            )
            .unwrap(),
            "blk.0.attn_output.weight"
        );
    }

    #[test]
    fn experts_map_to_stacked_tensors() {
        assert_eq!(
            expert_to_gguf("model.layers.3.block_sparse_moe.experts.7.w2.weight"),
            Some(("blk.3.ffn_down_exps.weight".into(), 7))
        );
        assert_eq!(
            expert_to_gguf("model.layers.0.mlp.experts.12.up_proj.weight"),
            Some(("blk.0.ffn_up_exps.weight".into(), 12))
        );
        assert_eq!(expert_to_gguf("model.layers.0.mlp.up_proj.weight"), None);
    }

    #[test]
    fn families_from_architecture_names() {
        assert_eq!(Family::of("mistral"), Some(Family::Llama));
        assert_eq!(Family::of("gemma3_text"), Some(Family::Gemma3));
        assert_eq!(Family::of("mamba"), None);
        assert!(Family::Llama.permutes_qk() && !Family::Qwen2.permutes_qk());
        assert!(Family::Gemma2.folds_norm_plus_one() && !Family::Llama.folds_norm_plus_one());
        assert!(Family::of("nemotron").unwrap().folds_norm_plus_one());
        assert!(!Family::Nemotron.permutes_qk());
        assert!(is_gguf_name("blk.0.attn_q.weight") && is_gguf_name("output_norm.weight"));
        assert!(!is_gguf_name("model.norm.weight"));
    }
}

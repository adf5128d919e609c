//! Typed `model.diff.v1` payloads: the difference between two models as LoRA, IA3, Full or
//! in-place TTT parts that can be stored, shipped, applied and verified.
//!
//! # Overview
//!
//! A [`Payload`] holds one or more [`ModelDiff`] parts, applied in order, with optional model
//! digests of the base and target and its own digest:
//!
//! - [`Lora`]: [`LoraAdapter`]s addressed by (layer id, matrix), ΔW = B·A added to the weight;
//! - [`Ia3`]: vectors scaling a weight's rows or columns ([`ia3_axis`] says which);
//! - [`Full`]: dense per-parameter deltas, with [`ExactFixups`] that make apply bit-exact
//!   ([`round_to`], [`FullParamBuilder`], [`apply_full_chunk`] in [`exact`]);
//! - [`InPlaceTtt`]: a trace of per-step dense deltas, [`collapse`]d into a Full part.
//!
//! [`Payload::validate_and_canonicalize`] checks lengths, finiteness and duplicates and puts each
//! part in canonical order; [`Payload::validate_against`] checks it against a base described by
//! names and shapes only ([`BaseTensors`], which also resolves (layer, matrix) to tensor names).
//! [`Payload::seal`] records the payload digest and [`Payload::verify_digest`] checks it;
//! [`TensorHasher`] and [`ModelHasher`] give the model digests it refers to.
//! Payloads are encoded as JSON ([`Payload::to_json`] / [`Payload::from_json`]) or as a
//! SafeTensors container ([`container::encode`] / [`container::decode`]);
//! [`Payload::from_bytes`] detects which. [`peft`] converts to and from PEFT adapters.
//!
//! The crate is pure and works in memory: it maps no files, starts no threads and does no linear
//! algebra, so a crate that only reads, validates and digests payloads depends on it alone. The
//! engine extracts payloads from model pairs and applies them on top of this API (its pair
//! stream, the formats crate's readers and writer).
//!
//! ```
//! use modeldiff_delta::{Lora, LoraAdapter, ModelDiff, Payload};
//!
//! let adapter = LoraAdapter {
//!     layer_id: 0,
//!     matrix: "q_proj".into(),
//!     rank: 1,
//!     in_dim: 2,
//!     out_dim: 3,
//!     a: vec![0.5, -1.0],      // [rank, in_dim]
//!     b: vec![1.0, 2.0, 0.25], // [out_dim, rank]
//! };
//! let mut payload = Payload::new(vec![ModelDiff::Lora(Lora { adapters: vec![adapter] })]);
//! let digest = payload.seal(None, None)?;
//!
//! let json = payload.to_json()?;
//! let back = Payload::from_bytes(&json)?;
//! assert_eq!(back.verify_digest()?, digest);
//!
//! let container = modeldiff_delta::container::encode(&payload)?;
//! assert_eq!(Payload::from_bytes(&container)?, back);
//! # Ok::<(), modeldiff_delta::Error>(())
//! ```
//!
//! # Digests
//!
//! All digests are BLAKE3 over a canonical byte encoding, never over JSON text, and are written
//! `blake3:<64 lowercase hex digits>` ([`Digest`]). This encoding is a contract: payloads carry
//! digests computed with it. Its primitives are `u8`, `u32(x)` and `u64(x)` (little-endian),
//! `str(s)` = `u64(byte length) ‖ UTF-8 bytes`, `f32s(v)` = `u64(count) ‖ each value's 4
//! little-endian bytes` (the bits as stored: `-0.0` and `0.0` differ), and `digest(d)` = its 32
//! bytes.
//!
//! - **Tensor**: `str("modeldiff.tensor.v1") ‖ str(dtype name) ‖ u64(rank) ‖ u64(dim)… ‖ raw
//!   little-endian bytes ‖ u64(byte count)` ([`TensorHasher`]; the count comes last so bytes can
//!   be streamed). The dtype name is the model file's (`F32`, `BF16`, `Q4_K`, …); the bytes are
//!   the stored encoding, little-endian.
//! - **Model**: `str("modeldiff.model.v1") ‖ u64(n) ‖ (str(name) ‖ digest(tensor digest))…` with
//!   names in ascending byte order ([`ModelHasher`], [`model_digest`]).
//! - **Payload**: `str("modeldiff.payload.v1") ‖ opt(base digest) ‖ opt(target digest) ‖
//!   u64(parts) ‖ part…`, parts in payload order, where `opt(None)` = `u8(0)` and
//!   `opt(Some(d))` = `u8(1) ‖ digest(d)`. Each part starts with `str(kind tag)`:
//!   - `lora`: `u64(n) ‖ (u32(layer_id) ‖ str(matrix) ‖ u32(rank) ‖ u32(in_dim) ‖ u32(out_dim) ‖
//!     f32s(a) ‖ f32s(b))…`, adapters by (layer_id, matrix);
//!   - `ia3`: `u64(layers) ‖ (u32(layer) ‖ u64(n) ‖ (str(matrix) ‖ f32s(v))…)…`, layers
//!     ascending, matrices by name;
//!   - `full`: `u64(n) ‖ (str(param) ‖ f32s(delta))… ‖ u64(m) ‖ (str(param) ‖ str(dtype) ‖
//!     u64(count) ‖ u64(index)… ‖ u32(bits)…)…`, params by name;
//!   - `in-place-ttt`: `u64(steps) ‖ (u32(step_id) ‖ u64(n) ‖ (str(param) ‖ f32s(delta))…)…`,
//!     steps by id, params by name.
//!
//!   The recorded `digest` itself is not covered. [`PayloadHasher`] streams this encoding so a
//!   writer can digest a huge Full part parameter by parameter.
//!
//! # Design decisions
//!
//! - *f32 in JSON.* serde_json writes f32 in shortest round-trip form. Reading parses each number's
//!   text with `str::parse::<f32>` (correctly rounded) instead of going through f64, so any
//!   decimal, not only ours, reads as the nearest f32 with no double rounding; parts are
//!   therefore read from serde_json's borrowing deserializers only (`wire.rs`). Repeated object
//!   keys and unknown fields are errors: nothing in a payload escapes validation and the digest.
//! - *Canonical form.* Maps are `BTreeMap`s; adapters and steps are sorted when canonicalizing
//!   and when serializing or digesting, so neither depends on build order. The order of parts is
//!   kept: parts apply in order and may touch the same tensor.
//! - *Exactness.* F16/BF16 rounding is written out in [`exact`] rather than taken from hardware
//!   conversions, so a payload's fixups are the same on every machine.
//! - *Limits of `full`.* A Full delta has no shape of its own: it must have the base parameter's
//!   element count, so tensors added or resized between base and target are not expressible in
//!   `model.diff.v1`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod base;
pub mod container;
mod digest;
mod error;
pub mod exact;
mod ia3;
mod payload;
pub mod peft;
mod ttt;
mod wire;

pub use base::{parse_module_path, parse_tensor_name, BaseTensors, LAYER_MARKERS};
pub use digest::{model_digest, Digest, FullPartHasher, ModelHasher, PayloadHasher, TensorHasher};
pub use error::{Error, Result};
pub use exact::{
    apply_full_chunk, delta_chunk, round_to, ExactFixups, FloatDType, FullParamBuilder,
};
pub use ia3::{ia3_axis, Axis, FEEDFORWARD_INPUT_MODULES};
pub use payload::{
    DiffKind, Full, Ia3, InPlaceTtt, Lora, LoraAdapter, ModelDiff, Payload, TttStep,
};
pub use ttt::collapse;

/// The schema identifier every payload carries.
pub const SCHEMA: &str = "model.diff.v1";

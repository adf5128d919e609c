//! Payloads (`model.diff.v1`, typed in `modeldiff-delta`) made from and applied to models:
//! [`extract()`] (and the streaming [`extract_full_container`]), [`apply()`], [`verify()`],
//! model digests ([`model_digest`]), and payload files as a whole ([`write_payload`],
//! [`describe_payload`]).
//!
//! Extraction runs the engine's match, plan and diff stages to find the pairs that changed,
//! then reads each changed pair's elements chunk by chunk; apply streams the base tensor by
//! tensor into the formats crate's atomic SafeTensors writer.

pub mod apply;
pub mod describe;
pub mod digest;
pub mod extract;
pub mod verify;

pub use apply::{apply, ApplyOptions, ApplyReport, OutDType};
pub use describe::{describe_payload, write_payload};
pub use digest::{base_tensors, model_digest, tensor_digest};
pub use extract::{
    extract, extract_full_container, full_to_lora, saved_to_full, ExtractEntry, ExtractKind,
    ExtractOptions, ExtractReport,
};
pub use verify::{read_payload, verify, Check, VerifyReport};

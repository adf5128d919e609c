//! Typed `model.diff.v1` payloads: the types a later issue fills in (LoRA, IA3, Full, TTT trace).
//!
//! # Overview
//!
//! This crate will hold serde types only, with a versioned schema, and knows nothing about files
//! or formats. Today it only fixes the schema name shared with the engine.
//!
//! ```
//! assert_eq!(modeldiff_delta::SCHEMA, "model.diff.v1");
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// The schema identifier every payload carries.
pub const SCHEMA: &str = "model.diff.v1";

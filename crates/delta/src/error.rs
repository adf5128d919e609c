//! The error type of this crate: [`Error`], one lowercase line per failure, naming the layer,
//! matrix, parameter, step or tensor concerned with expected and actual values.

/// Everything that can go wrong while validating, digesting, encoding or decoding a payload.
///
/// No input, however hostile, makes this crate panic: it returns one of these instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The payload JSON is not valid JSON or does not have the `model.diff.v1` shape.
    #[error("invalid payload json: {0}")]
    Json(#[from] serde_json::Error),
    /// The payload names a schema other than `model.diff.v1`.
    #[error("unsupported payload schema `{found}` (expected `{}`)", crate::SCHEMA)]
    UnsupportedSchema {
        /// The schema string found.
        found: String,
    },
    /// The bytes are neither payload JSON nor a SafeTensors payload container.
    #[error("unrecognised payload encoding: {detail}")]
    UnknownEncoding {
        /// What was seen instead.
        detail: String,
    },
    /// A LoRA factor's length disagrees with its declared rank and dimensions.
    #[error(
        "lora layer {layer_id} `{matrix}`: `{factor}` has {actual} values, expected {expected}"
    )]
    LoraLength {
        /// The adapter's layer.
        layer_id: u32,
        /// The adapter's matrix (module) name.
        matrix: String,
        /// `a` or `b`.
        factor: &'static str,
        /// rank·in_dim for `a`, out_dim·rank for `b`.
        expected: u64,
        /// The number of values present.
        actual: usize,
    },
    /// A LoRA adapter declares a zero rank or dimension.
    #[error("lora layer {layer_id} `{matrix}`: {field} must be positive")]
    LoraZero {
        /// The adapter's layer.
        layer_id: u32,
        /// The adapter's matrix (module) name.
        matrix: String,
        /// `rank`, `in_dim` or `out_dim`.
        field: &'static str,
    },
    /// Two LoRA adapters of one part target the same layer and matrix.
    #[error("lora layer {layer_id} `{matrix}`: duplicate adapter")]
    DuplicateAdapter {
        /// The layer.
        layer_id: u32,
        /// The matrix (module) name.
        matrix: String,
    },
    /// A matrix, parameter or tensor name is empty.
    #[error("empty {what} name")]
    EmptyName {
        /// What kind of name (`matrix`, `parameter`).
        what: &'static str,
    },
    /// An IA3 scaling vector or a TTT/Full delta has no values.
    #[error("{target}: empty value array")]
    EmptyValues {
        /// The target, e.g. "ia3 layer 3 `k_proj`".
        target: String,
    },
    /// A delta value is NaN or infinite.
    #[error("{target}: non-finite value {value} at index {index}")]
    NonFinite {
        /// The target, e.g. "lora layer 3 `q_proj` b" or "full `model.norm.weight`".
        target: String,
        /// The element index within the array.
        index: usize,
        /// The value found.
        value: f32,
    },
    /// Two steps of an in-place TTT trace share a step id.
    #[error("in-place-ttt: duplicate step id {step_id}")]
    DuplicateStep {
        /// The repeated id.
        step_id: u32,
    },
    /// One parameter has different lengths in two TTT steps.
    #[error(
        "in-place-ttt step {step_id} `{param}`: {actual} values, earlier steps have {expected}"
    )]
    TttLength {
        /// The step where the length differs.
        step_id: u32,
        /// The parameter.
        param: String,
        /// The length in earlier steps.
        expected: usize,
        /// The length in this step.
        actual: usize,
    },
    /// The exactness fixups of a Full parameter are inconsistent.
    #[error("full `{param}` exact fixups: {detail}")]
    InvalidFixups {
        /// The parameter.
        param: String,
        /// What is wrong (lengths, order, range, dtype).
        detail: String,
    },
    /// An IA3 vector's length matches neither dimension of its weight.
    #[error(
        "ia3 layer {layer_id} `{matrix}`: {len} values match neither out_dim {out_dim} nor in_dim {in_dim}"
    )]
    Ia3Length {
        /// The layer.
        layer_id: u32,
        /// The matrix (module) name.
        matrix: String,
        /// The vector length.
        len: usize,
        /// The weight's rows.
        out_dim: u64,
        /// The weight's columns.
        in_dim: u64,
    },
    /// No base tensor matches a (layer, matrix) target.
    #[error(
        "layer {layer_id} `{matrix}`: no 2-d `.weight` tensor of the base has layer {layer_id} and module `{matrix}`"
    )]
    Unresolved {
        /// The layer.
        layer_id: u32,
        /// The matrix (module) name.
        matrix: String,
    },
    /// Several base tensors match a (layer, matrix) target.
    #[error("layer {layer_id} `{matrix}`: ambiguous target, candidates: {}", candidates.join(", "))]
    Ambiguous {
        /// The layer.
        layer_id: u32,
        /// The matrix (module) name.
        matrix: String,
        /// Every matching tensor name.
        candidates: Vec<String>,
    },
    /// A parameter named by the payload does not exist in the base.
    #[error("{target}: no tensor `{name}` in the base")]
    UnknownTensor {
        /// The payload target naming it.
        target: String,
        /// The missing tensor name.
        name: String,
    },
    /// A target's dimensions disagree with the base tensor's shape.
    #[error("{target}: base tensor `{name}` has shape {actual:?}, payload needs {expected}")]
    ShapeMismatch {
        /// The payload target.
        target: String,
        /// The base tensor.
        name: String,
        /// What the payload needs, e.g. "[4096, 4096]" or "4096 elements".
        expected: String,
        /// The base tensor's shape.
        actual: Vec<u64>,
    },
    /// The payload was extracted from a different base model.
    #[error("payload base digest {recorded} differs from the base model's {actual}")]
    BaseMismatch {
        /// The digest recorded in the payload.
        recorded: crate::Digest,
        /// The base model's digest.
        actual: crate::Digest,
    },
    /// A tensor name appears twice in a model digest.
    #[error("tensor `{name}` appears twice")]
    DuplicateTensor {
        /// The repeated name.
        name: String,
    },
    /// A digest string is not `blake3:` followed by 64 lowercase hex digits.
    #[error("invalid digest `{text}` (expected `blake3:` and 64 lowercase hex digits)")]
    InvalidDigest {
        /// The text given.
        text: String,
    },
    /// The payload carries no digest to verify.
    #[error("payload has no digest (seal it first)")]
    MissingDigest,
    /// The recorded payload digest differs from the recomputed one.
    #[error("payload digest mismatch: recorded {recorded}, computed {computed}")]
    DigestMismatch {
        /// The digest recorded in the payload.
        recorded: crate::Digest,
        /// The digest recomputed from the payload's contents.
        computed: crate::Digest,
    },
    /// A streaming helper was fed data in the wrong order or amount.
    #[error("{what}: expected {expected}, got {actual}")]
    Stream {
        /// Which call (e.g. "full param `x` chunk offset").
        what: String,
        /// The expected value.
        expected: u64,
        /// The value given.
        actual: u64,
    },
    /// A value does not fit the target type or size (e.g. a length beyond `u64`, a sum beyond f32).
    #[error("{what}: value out of range")]
    OutOfRange {
        /// What overflowed.
        what: String,
    },
    /// The SafeTensors layer rejected the container bytes.
    #[error("invalid payload container: {0}")]
    SafeTensors(#[from] safetensors::SafeTensorError),
    /// The container's manifest or tensors are inconsistent.
    #[error("invalid payload container: {detail}")]
    Container {
        /// What is wrong (missing key, bad manifest, unreferenced tensor).
        detail: String,
    },
    /// A tensor of the container has the wrong dtype or shape for its manifest entry.
    #[error("invalid payload container: tensor `{name}`: {detail}")]
    ContainerTensor {
        /// The tensor.
        name: String,
        /// Expected and actual dtype or shape.
        detail: String,
    },
    /// A PEFT `adapter_config.json` is invalid or uses a feature this mapping does not support.
    #[error("peft adapter config: {detail}")]
    PeftConfig {
        /// What is wrong or unsupported.
        detail: String,
    },
    /// A tensor of a PEFT adapter file is missing, unexpected or of the wrong shape or dtype.
    #[error("peft adapter tensor `{name}`: {detail}")]
    PeftTensor {
        /// The tensor (or module path) concerned.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// The payload cannot be expressed as a PEFT adapter.
    #[error("peft export: {detail}")]
    PeftExport {
        /// Why not.
        detail: String,
    },
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

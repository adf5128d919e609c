//! The report: plain serde value types, the `modeldiff.report.v1` JSON schema.

use modeldiff_formats::Format;
use serde::{Deserialize, Serialize};

/// Schema identifier written into every report.
pub const SCHEMA: &str = "modeldiff.report.v1";

/// The result of comparing two models.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The first ("old") model.
    pub a: ModelSummary,
    /// The second ("new") model.
    pub b: ModelSummary,
    /// One entry per tensor name present in either model (after filters): A's order, then
    /// tensors only in B in B's order.
    pub tensors: Vec<TensorReport>,
    /// Metadata keys added, removed or changed (GGUF key/values, SafeTensors `__metadata__`,
    /// APR JSON); long arrays and strings are summarized by length and digest.
    pub metadata: Vec<crate::metadata::MetaChange>,
    /// Counts and model-wide numbers.
    pub summary: Summary,
    /// The kernel implementation that computed the numbers (`avx512`, `avx2`, `neon`, `scalar`).
    pub isa: String,
}

/// Facts about one input model (see [`crate::describe`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelSummary {
    /// The path as given.
    pub path: String,
    /// Container format.
    pub format: Format,
    /// Number of tensors in the file (before filters).
    pub tensor_count: u64,
    /// Number of elements over all tensors (before filters).
    pub parameter_count: u64,
    /// Format facts from the reader (version, alignment, compression, signature, ...).
    pub properties: Vec<crate::describe::Property>,
    /// Reader warnings (for example overlapping tensor data), and tensors the diff could not
    /// decode.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// Structural class of a tensor name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Only in B.
    Added,
    /// Only in A.
    Removed,
    /// In both with different shapes.
    ShapeChanged,
    /// In both with the same shape (the dtype may still differ: see `dtype_changed`).
    Unchanged,
}

impl ChangeKind {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::ShapeChanged => "shape_changed",
            ChangeKind::Unchanged => "unchanged",
        }
    }
}

/// One tensor's comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TensorReport {
    /// Tensor name (A's name for a matched pair).
    pub name: String,
    /// B's name, when a matched pair's names differ (name map, `--rename`, rename by content,
    /// tied embeddings); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_b: Option<String>,
    /// How a pair whose names differ was found (`name_map`, `rename_rule`, `content`,
    /// `tied_embeddings`); absent for exact names and unpaired tensors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<String>,
    /// Transforms undone before comparing, from the fixed vocabulary `renamed`,
    /// `dims_reversed`, `unpermuted_qk`, `norm_plus_one`, `tied_embeddings`, `experts_split`;
    /// absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<String>,
    /// Structural class.
    pub change: ChangeKind,
    /// Row-major shape in A (`None` if added).
    pub shape_a: Option<Vec<u64>>,
    /// Row-major shape in B (`None` if removed).
    pub shape_b: Option<Vec<u64>>,
    /// Stored dtype in A.
    pub dtype_a: Option<String>,
    /// Stored dtype in B.
    pub dtype_b: Option<String>,
    /// Both present with different stored dtypes.
    pub dtype_changed: bool,
    /// Every compared element equal (over the overlap for `shape_changed`); `None` when nothing
    /// could be compared (added, removed, rank change, undecodable dtype pair).
    pub identical: Option<bool>,
    /// Number of compared elements that differ (exact, for every comparable dtype pair).
    pub mismatches: Option<u64>,
    /// Float metrics; `None` for integer/boolean pairs, raw-byte-only pairs and uncompared
    /// tensors.
    pub metrics: Option<Metrics>,
    /// The spectrum of the change (`--spectral`, [`crate::Config::spectral`]): changed 2-D
    /// float pairs of equal shapes only; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spectral: Option<crate::spectral::Spectral>,
}

/// Float metrics over the element pairs where both values are finite.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Metrics {
    /// Pairs where both values are finite (the pairs every other number covers).
    pub compared: u64,
    /// ‖a − b‖₂.
    pub l2: f64,
    /// max |a − b|.
    pub max_abs: f64,
    /// Row-major index (in A's shape) of the first pair reaching `max_abs`; empty if nothing was
    /// compared.
    pub max_abs_index: Vec<u64>,
    /// mean |a − b|.
    pub mean_abs: f64,
    /// sqrt(mean (a − b)²).
    pub rmse: f64,
    /// Cosine similarity; `None` when both norms are zero but the tensors differ.
    pub cosine: Option<f64>,
    /// 1 − cosine, computed without cancellation (meaningful down to 1e-15).
    pub one_minus_cosine: Option<f64>,
    /// l2 / norm_a; `None` when norm_a = 0.
    pub rel_l2: Option<f64>,
    /// ‖a‖₂ over compared pairs.
    pub norm_a: f64,
    /// ‖b‖₂ over compared pairs.
    pub norm_b: f64,
    /// NaN/±inf values in A (over the compared region).
    pub nonfinite_a: u64,
    /// NaN/±inf values in B.
    pub nonfinite_b: u64,
    /// Normalized mean squared error Σ(a − b)² / Σa² (= rel_l2²); `None` when Σa² = 0.
    #[serde(default)]
    pub nmse: Option<f64>,
    /// 10 · log10(nmse) in decibels; `None` when nmse is 0 or undefined.
    #[serde(default)]
    pub nmse_db: Option<f64>,
}

/// Counts and model-wide numbers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Summary {
    /// Tensors in A (after filters).
    pub tensors_a: u64,
    /// Tensors in B (after filters).
    pub tensors_b: u64,
    /// Tensors only in B.
    pub added: u64,
    /// Tensors only in A.
    pub removed: u64,
    /// Tensors in both with different shapes.
    pub shape_changed: u64,
    /// Tensors in both with the same shape.
    pub unchanged: u64,
    /// Tensors in both whose stored dtype differs.
    pub dtype_changed: u64,
    /// `unchanged` tensors whose values are all equal.
    pub identical: u64,
    /// Tensors with float metrics.
    pub compared: u64,
    /// Mean of the per-tensor L2 distances.
    pub mean_l2: Option<f64>,
    /// Mean of the per-tensor cosines.
    pub mean_cosine: Option<f64>,
    /// Largest per-tensor max |a − b|.
    pub max_abs: Option<f64>,
    /// The tensor holding `max_abs` (the first in report order on a tie).
    #[serde(default)]
    pub max_abs_tensor: Option<String>,
    /// L2 distance with every compared element of the model as one vector.
    pub global_l2: Option<f64>,
    /// Cosine with every compared element of the model as one vector.
    pub global_cosine: Option<f64>,
    /// NaN/±inf values in A over every compared tensor.
    #[serde(default)]
    pub nonfinite_a: u64,
    /// NaN/±inf values in B over every compared tensor.
    #[serde(default)]
    pub nonfinite_b: u64,
    /// Metadata keys that differ in any way: added, removed or changed (the total).
    pub metadata_changed: u64,
    /// Metadata keys only in B (part of `metadata_changed`).
    #[serde(default)]
    pub metadata_added: u64,
    /// Metadata keys only in A (part of `metadata_changed`).
    #[serde(default)]
    pub metadata_removed: u64,
    /// Whether metadata was compared: only between files of the same format, whose metadata
    /// speaks the same vocabulary, and not when [`crate::Config::ignore_metadata`] is set.
    pub metadata_compared: bool,
    /// Whether metadata was left out on request ([`crate::Config::ignore_metadata`]).
    #[serde(default)]
    pub metadata_ignored: bool,
    /// Whether anything differs: a structural or dtype change, a tensor that is not
    /// identical, or a metadata change (what `--exit-code` reports).
    pub differs: bool,
}

impl Report {
    /// Whether anything differs (see [`Summary::differs`]).
    pub fn has_differences(&self) -> bool {
        self.summary.differs
    }
}

//! One description of a model, shared by the diff report ([`crate::Report::a`]) and
//! [`crate::inspect`]: path, format, counts, the reader's format facts and warnings.

use modeldiff_formats::{Model, PropertyValue};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::report::ModelSummary;

/// One format fact: a snake_case key (`version`, `byte_order`, `shard_count`, ...) and its
/// value, a JSON number where the fact is a number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Property {
    /// The fact's name.
    pub key: String,
    /// Its value.
    pub value: Value,
}

/// Describes `model`: the part of a report or an inspection that is about one model.
pub fn describe(model: &Model) -> ModelSummary {
    ModelSummary {
        path: model.path().display().to_string(),
        format: model.format(),
        tensor_count: model.tensors().len() as u64,
        parameter_count: model.parameter_count(),
        properties: model
            .properties()
            .iter()
            .map(|p| Property {
                key: p.key.name().to_string(),
                value: match &p.value {
                    PropertyValue::Int(n) => Value::from(*n),
                    other => Value::from(other.to_string()),
                },
            })
            .collect(),
        warnings: model.warnings().to_vec(),
    }
}

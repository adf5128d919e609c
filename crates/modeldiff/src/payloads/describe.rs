//! Payload files as a whole: writing one in the encoding its name asks for ([`write_payload`]),
//! and the JSON description of one (`modeldiff delta show --format json`, `modeldiff.delta.show`
//! in Python) built by [`describe_payload`].

use std::path::Path;

use modeldiff_delta::{ModelDiff, Payload};
use serde_json::{json, Value};

use crate::error::Result;

/// Writes `payload` atomically to `path`: JSON when the name ends in `.json`, else a
/// SafeTensors container; a target that is one of `protect` (the inputs) is refused.
pub fn write_payload(path: &Path, payload: &Payload, protect: &[&Path]) -> Result<()> {
    let bytes = if path.extension().is_some_and(|e| e == "json") {
        payload.to_json_pretty()?
    } else {
        modeldiff_delta::container::encode(payload)?
    };
    modeldiff_formats::write_atomic(path, &bytes, protect)?;
    Ok(())
}

/// The description of the payload read from `path`: schema, path, size in bytes, encoding
/// (`json` or `safetensors`), digests (and whether the stored digest checks out) and one entry
/// per part listing its adapters, vectors, parameters or steps.
pub fn describe_payload(path: &Path, payload: &Payload) -> Value {
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let parts: Vec<Value> = payload.parts.iter().map(describe_part).collect();
    let digest_ok = payload
        .digest
        .as_ref()
        .map(|_| payload.verify_digest().is_ok());
    let container = std::fs::read(path)
        .ok()
        .is_some_and(|b| modeldiff_delta::container::looks_like_container(&b));
    json!({
        "schema": modeldiff_delta::SCHEMA,
        "path": path.display().to_string(),
        "bytes": bytes,
        "encoding": if container { "safetensors" } else { "json" },
        "digest": payload.digest.as_ref().map(|d| d.to_string()),
        "digest_ok": digest_ok,
        "base_digest": payload.base_digest.as_ref().map(|d| d.to_string()),
        "target_digest": payload.target_digest.as_ref().map(|d| d.to_string()),
        "parts": parts,
    })
}

fn describe_part(part: &ModelDiff) -> Value {
    match part {
        ModelDiff::Lora(l) => json!({
            "kind": "lora",
            "adapters": l.sorted_adapters().iter().map(|x| json!({
                "layer_id": x.layer_id, "matrix": x.matrix, "rank": x.rank,
                "in_dim": x.in_dim, "out_dim": x.out_dim, "values": x.a.len() + x.b.len(),
            })).collect::<Vec<_>>(),
        }),
        ModelDiff::Ia3(ia) => json!({
            "kind": "ia3",
            "vectors": ia.scaling.iter().flat_map(|(l, m)| m.iter().map(move |(k, v)| json!({
                "layer_id": l, "matrix": k, "len": v.len()
            }))).collect::<Vec<_>>(),
        }),
        ModelDiff::Full(f) => json!({
            "kind": "full",
            "params": f.params.iter().map(|(k, v)| json!({
                "name": k, "len": v.len(), "fixups": f.exact.get(k).map_or(0, |x| x.len()),
            })).collect::<Vec<_>>(),
        }),
        ModelDiff::InPlaceTtt(t) => json!({
            "kind": "in-place-ttt",
            "steps": t.sorted_steps().iter().map(|s| json!({
                "step_id": s.step_id, "params": s.deltas.len(),
                "values": s.deltas.values().map(Vec::len).sum::<usize>(),
            })).collect::<Vec<_>>(),
        }),
    }
}

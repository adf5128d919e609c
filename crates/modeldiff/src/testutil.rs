//! Small in-memory models for the stage tests.

use modeldiff_formats::Model;

/// A SafeTensors model of F32 tensors `(name, values)` (1-D), opened from memory.
pub(crate) fn model(tensors: &[(&str, &[f32])]) -> Model {
    let typed: Vec<(&str, &str, Vec<u64>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, v)| {
            let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            (*n, "F32", vec![v.len() as u64], bytes)
        })
        .collect();
    build(&typed)
}

/// A SafeTensors model of `(name, dtype, shape, raw little-endian bytes)`, opened from memory.
pub(crate) fn model_typed(tensors: &[(&str, &str, &[u64], Vec<u8>)]) -> Model {
    let owned: Vec<(&str, &str, Vec<u64>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (*n, *d, s.to_vec(), b.clone()))
        .collect();
    build(&owned)
}

fn build(tensors: &[(&str, &str, Vec<u64>, Vec<u8>)]) -> Model {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        let start = data.len();
        data.extend_from_slice(bytes);
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let mut h = serde_json::to_vec(&header).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut file = (h.len() as u64).to_le_bytes().to_vec();
    file.extend(h);
    file.extend(data);
    modeldiff_formats::open_bytes("mem.safetensors", file).unwrap()
}

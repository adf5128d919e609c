//! Model digests (`modeldiff digest FILE`) and the name/shape view of a model that payload
//! validation needs.

use modeldiff_delta::{BaseTensors, Digest, ModelHasher, TensorHasher};
use modeldiff_formats::{ByteOrder, Model};
use rayon::prelude::*;

use crate::error::Result;

/// Bytes hashed per step (the hasher is streamed, memory stays flat).
const HASH_CHUNK: usize = 1 << 22;

/// The digest of tensor `index`: BLAKE3 over its dtype, shape and stored bytes in little-endian
/// order ([`TensorHasher`]). Plain multi-byte elements of a big-endian file are byte-swapped
/// first, so a GGUF and its byte-swapped twin have the same digest; block-quantized data is
/// hashed as stored.
pub fn tensor_digest(model: &Model, index: usize) -> Digest {
    let t = &model.tensors()[index];
    let mut h = TensorHasher::new(&t.dtype.name(), &t.shape);
    let bytes = model.tensor_bytes(index);
    let width = t.dtype.block_bytes();
    if t.byte_order == ByteOrder::Big && t.dtype.block_elems() == 1 && width > 1 {
        let mut buf = Vec::with_capacity(HASH_CHUNK);
        for chunk in bytes.chunks(HASH_CHUNK - HASH_CHUNK % width) {
            buf.clear();
            for e in chunk.chunks_exact(width) {
                buf.extend(e.iter().rev());
            }
            h.update(&buf);
        }
    } else {
        for chunk in bytes.chunks(HASH_CHUNK) {
            h.update(chunk);
        }
    }
    h.finish()
}

/// The model digest: BLAKE3 over the sorted (name, tensor digest) pairs ([`ModelHasher`]).
/// Metadata is not covered: two files holding the same tensors have the same digest whatever
/// their format's headers say. Tensors are hashed in parallel on the current rayon pool.
pub fn model_digest(model: &Model) -> Result<Digest> {
    let digests: Vec<Digest> = (0..model.tensors().len())
        .into_par_iter()
        .map(|i| tensor_digest(model, i))
        .collect();
    let mut h = ModelHasher::new();
    for (t, d) in model.tensors().iter().zip(digests) {
        h.add(t.name.clone(), d);
    }
    Ok(h.finish()?)
}

/// The names and shapes of `model`, as payload validation and target resolution see it.
pub fn base_tensors(model: &Model) -> BaseTensors {
    BaseTensors::new(
        model
            .tensors()
            .iter()
            .map(|t| (t.name.clone(), t.shape.clone())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{model, model_typed};

    #[test]
    fn digest_covers_values_names_and_dtypes_not_order() {
        let a = model(&[("x", &[1.0, 2.0]), ("y", &[3.0])]);
        let same = model(&[("y", &[3.0]), ("x", &[1.0, 2.0])]);
        let other = model(&[("x", &[1.0, 2.5]), ("y", &[3.0])]);
        let renamed = model(&[("x", &[1.0, 2.0]), ("z", &[3.0])]);
        let d = model_digest(&a).unwrap();
        assert_eq!(d, model_digest(&same).unwrap());
        assert_ne!(d, model_digest(&other).unwrap());
        assert_ne!(d, model_digest(&renamed).unwrap());
        let as_i32 = model_typed(&[
            (
                "x",
                "I32",
                &[2],
                1f32.to_le_bytes()
                    .into_iter()
                    .chain(2f32.to_le_bytes())
                    .collect(),
            ),
            ("y", "F32", &[1], 3f32.to_le_bytes().to_vec()),
        ]);
        assert_ne!(d, model_digest(&as_i32).unwrap(), "dtype is covered");
        assert!(d.to_string().starts_with("blake3:"));
    }
}

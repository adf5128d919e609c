//! Fuzz target: safetensors files through `modeldiff_formats::open_bytes`, then every tensor decoded
//! whole and in unaligned pieces (which must agree bit for bit). Every input is also read by
//! both header paths, the one-pass reader and the `safetensors` crate's, which must agree.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(disagreement) = modeldiff_formats::safetensors_fast_path_disagreement(data) {
        panic!("{disagreement}");
    }
    if let Ok(model) = modeldiff_formats::open_bytes("fuzz.safetensors", data) {
        modeldiff_fuzz::check_model(&model);
    }
});

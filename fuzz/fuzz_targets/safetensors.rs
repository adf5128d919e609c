//! Fuzz target: safetensors files through `modeldiff_formats::open_bytes`, then every tensor decoded
//! whole and in unaligned pieces (which must agree bit for bit).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = modeldiff_formats::open_bytes("fuzz.safetensors", data) {
        modeldiff_fuzz::check_model(&model);
    }
});

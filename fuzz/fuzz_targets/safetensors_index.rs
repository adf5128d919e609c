//! Fuzz target: SafeTensors shard indexes (`*.safetensors.index.json`) through
//! `modeldiff_formats::parse_shard_index`; whatever it accepts names only plain relative shard
//! paths.

#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = modeldiff_formats::parse_shard_index("fuzz.safetensors.index.json", data) {
        for shard in &index.shards {
            let p = Path::new(shard);
            assert!(p.is_relative(), "absolute shard path {shard:?} accepted");
            assert!(
                p.components().all(|c| !matches!(c, Component::ParentDir)),
                "shard path {shard:?} with `..` accepted"
            );
            assert!(index.weight_map.values().any(|s| s == shard));
        }
    }
});

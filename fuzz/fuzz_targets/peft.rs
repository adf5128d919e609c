//! Fuzz target: PEFT adapters (`adapter_config.json` + `adapter_model.safetensors`) through
//! `modeldiff_delta::peft::import`. The input is split by its first two bytes (the config's
//! length, little-endian); an accepted adapter must be a valid payload that round-trips JSON.

#![no_main]

use libfuzzer_sys::fuzz_target;
use modeldiff_delta::{peft, Payload};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let n = u16::from_le_bytes([data[0], data[1]]) as usize;
    let rest = &data[2..];
    let (config, weights) = rest.split_at(n.min(rest.len()));
    let Ok(imported) = peft::import(config, weights) else {
        return;
    };
    imported.payload.validate().expect("an imported adapter is a valid payload");
    let json = imported.payload.to_json().expect("encodes");
    let back = Payload::from_bytes(&json).expect("reads back");
    assert_eq!(back, imported.payload);
});

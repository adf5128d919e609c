//! Fuzz target: `model.diff.v1` payloads (JSON or SafeTensors container) through
//! `modeldiff_delta::Payload::from_bytes`. Whatever it accepts must survive both encodings
//! unchanged, with the same digest (a logic check, not only a crash check).

#![no_main]

use libfuzzer_sys::fuzz_target;
use modeldiff_delta::{container, Payload};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Payload::from_bytes(data) else {
        return;
    };
    let digest = p.digest().expect("an accepted payload has a digest");
    let json = p.to_json().expect("an accepted payload encodes as json");
    let back = Payload::from_bytes(&json).expect("its json reads back");
    assert_eq!(back, p, "json round trip changed the payload");
    let c = container::encode(&p).expect("an accepted payload encodes as a container");
    let back = Payload::from_bytes(&c).expect("its container reads back");
    assert_eq!(back, p, "container round trip changed the payload");
    assert_eq!(back.digest().unwrap(), digest);
});

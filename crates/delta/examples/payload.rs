//! Builds a LoRA payload, seals it, writes it as JSON (to stdout, or with the container to a
//! directory), reads it back and verifies its digest.
//!
//! ```text
//! cargo run -p modeldiff-delta --example payload            # JSON on stdout
//! cargo run -p modeldiff-delta --example payload -- out/    # out/payload.json, out/payload.safetensors
//! ```

use std::path::PathBuf;

use modeldiff_delta::{container, Lora, LoraAdapter, ModelDiff, Payload, TensorHasher};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A rank-2 update of a 4×3 weight: ΔW = B·A.
    let adapter = LoraAdapter {
        layer_id: 0,
        matrix: "q_proj".into(),
        rank: 2,
        in_dim: 3,
        out_dim: 4,
        a: vec![0.1, 0.2, 0.3, -0.1, 0.0, 0.5],
        b: vec![1.0, 0.0, 0.0, 1.0, 0.5, 0.5, -1.0, 2.0],
    };
    let mut payload = Payload::new(vec![ModelDiff::Lora(Lora {
        adapters: vec![adapter],
    })]);

    // A base model digest as the engine would compute it (one tensor here).
    let mut h = TensorHasher::new("F32", &[4, 3]);
    h.update(&[0u8; 48]);
    let base =
        modeldiff_delta::model_digest([("model.layers.0.self_attn.q_proj.weight", h.finish())])?;
    let digest = payload.seal(Some(base), None)?;

    let json = payload.to_json_pretty()?;
    let read_back = match std::env::args_os().nth(1).map(PathBuf::from) {
        None => {
            println!("{}", String::from_utf8_lossy(&json));
            Payload::from_bytes(&json)?
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("payload.json"), &json)?;
            std::fs::write(
                dir.join("payload.safetensors"),
                container::encode(&payload)?,
            )?;
            let from_container =
                Payload::from_bytes(&std::fs::read(dir.join("payload.safetensors"))?)?;
            let from_json = Payload::from_bytes(&std::fs::read(dir.join("payload.json"))?)?;
            assert_eq!(from_json, from_container);
            eprintln!(
                "wrote {}/payload.json and payload.safetensors",
                dir.display()
            );
            from_container
        }
    };
    let verified = read_back.verify_digest()?;
    assert_eq!(verified, digest);
    eprintln!("verified {verified}");
    Ok(())
}

//! Lists a model's tensors with their first values: `cargo run -p modeldiff-formats --example
//! list -- FILE` (any supported format; defaults to the bundled `samples/base.safetensors`).

use std::path::PathBuf;

fn main() -> Result<(), modeldiff_formats::Error> {
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples/base.safetensors")
        });
    let model = modeldiff_formats::open(&path)?;
    println!(
        "{}: {} tensors, {} parameters ({})",
        path.display(),
        model.tensors().len(),
        model.parameter_count(),
        model.format()
    );
    for p in model.properties() {
        println!("  {} = {}", p.key, p.value);
    }
    let mut first = [0f32; 4];
    for (i, t) in model.tensors().iter().enumerate() {
        let n = (t.elements() as usize).min(first.len());
        let head = match model.decode_f32(i, 0..n, &mut first[..n]) {
            Ok(()) => format!("{:?}", &first[..n]),
            Err(e) => format!("({e})"),
        };
        println!("{:<40} {:>8} {:?} {head}", t.name, t.dtype, t.shape);
    }
    Ok(())
}

//! Every input a fuzz target once crashed on (`fuzz/regressions/<target>/`), replayed through
//! the same checks as the targets (`fuzz/src/lib.rs`): open from memory, decode every tensor
//! whole and in unaligned pieces, compare bit for bit. Runs in the normal test suite.

use std::path::Path;

use modeldiff_formats::{open_bytes, parse_shard_index, ValueKind};

const PIECES: [usize; 7] = [1, 3, 7, 31, 33, 100, 257];

fn check(name: &str, bytes: Vec<u8>) {
    let Ok(model) = open_bytes(name, bytes) else {
        return;
    };
    for (i, t) in model.tensors().iter().enumerate() {
        let n = t.elements();
        if n > 1 << 20 || model.check_decodable(i).is_err() {
            continue;
        }
        let n = n as usize;
        if t.dtype.kind() == ValueKind::Integer {
            let mut whole = vec![0i128; n];
            if model.decode_int(i, 0..n, &mut whole).is_ok() {
                let mut at = 0;
                for len in PIECES.iter().cycle() {
                    if at >= n {
                        break;
                    }
                    let end = (at + len).min(n);
                    let mut part = vec![0i128; end - at];
                    model.decode_int(i, at..end, &mut part).unwrap();
                    assert_eq!(part, whole[at..end], "{name}: {}", t.name);
                    at = end;
                }
            }
        }
        let mut whole = vec![0f32; n];
        if model.decode_f32(i, 0..n, &mut whole).is_err() {
            continue;
        }
        let mut at = 0;
        for len in PIECES.iter().cycle() {
            if at >= n {
                break;
            }
            let end = (at + len).min(n);
            let mut part = vec![0f32; end - at];
            model.decode_f32(i, at..end, &mut part).unwrap();
            let same = part
                .iter()
                .zip(&whole[at..end])
                .all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "{name}: tensor {} {at}..{end}", t.name);
            at = end;
        }
    }
}

#[test]
fn fuzz_findings_stay_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let mut seen = 0;
    for target in std::fs::read_dir(&dir).unwrap() {
        let target = target.unwrap().path();
        let kind = target.file_name().unwrap().to_string_lossy().into_owned();
        for f in std::fs::read_dir(&target).unwrap() {
            let f = f.unwrap().path();
            let bytes = std::fs::read(&f).unwrap();
            let name = f.display().to_string();
            if kind == "safetensors_index" {
                let _ = parse_shard_index(&name, &bytes);
            } else {
                check(&name, bytes);
            }
            seen += 1;
        }
    }
    assert!(seen > 0, "no regression inputs under {}", dir.display());
}

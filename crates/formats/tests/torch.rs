//! PyTorch, NumPy and ONNX readers: the fixtures of `tests/fixtures/torch/gen_fixtures.py`
//! (written without torch) against their `expected.json` and SafeTensors twin, and hostile
//! files built here.

mod common;

use std::path::{Path, PathBuf};

use common::torchfile::{checkpoint, f32_bytes, state_dict, zip, Pickle, ZipEntry};
use modeldiff_formats::{open, open_bytes, DType, Format, MetaValue, Model, PropertyKey};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/torch")
        .join(name)
}

fn expected() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixture("expected.json")).unwrap()).unwrap()
}

/// Every element of tensor `i`, decoded in two uneven pieces (to cross gather boundaries).
fn values(m: &Model, i: usize) -> Vec<f64> {
    let t = &m.tensors()[i];
    let n = t.elements() as usize;
    if t.dtype.kind() == modeldiff_formats::ValueKind::Integer {
        let mut out = vec![0i128; n];
        let cut = n / 3;
        m.decode_int(i, 0..cut, &mut out[..cut]).unwrap();
        m.decode_int(i, cut..n, &mut out[cut..]).unwrap();
        return out.into_iter().map(|v| v as f64).collect();
    }
    let mut out = vec![0f32; n];
    let cut = n / 3;
    m.decode_f32(i, 0..cut, &mut out[..cut]).unwrap();
    m.decode_f32(i, cut..n, &mut out[cut..]).unwrap();
    out.into_iter().map(f64::from).collect()
}

fn want_values(w: &serde_json::Value) -> Vec<f64> {
    w["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| match v.as_str() {
            Some("inf") => f64::INFINITY,
            Some("-inf") => f64::NEG_INFINITY,
            Some("nan") => f64::NAN,
            _ => v.as_f64().unwrap(),
        })
        .collect()
}

fn same(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        // f32-decoded floats against Python floats: equal after rounding the oracle to f32.
        let ok = g == w || (*g as f32) == (*w as f32) || (g.is_nan() && w.is_nan());
        assert!(ok, "{what}[{k}]: {g} vs {w}");
    }
}

#[test]
fn fixtures_decode_to_expected_values_in_every_container() {
    let exp = expected();
    for file in [
        "checkpoint.pt",
        "checkpoint-be.pt",
        "checkpoint-deflated.pt",
        "legacy.pt",
        "legacy-be.pt",
        "plain.pt",
    ] {
        let m = open(&fixture(file)).unwrap();
        assert_eq!(m.format(), Format::PyTorch, "{file}");
        assert_eq!(m.tensors().len(), 19, "{file}");
        for (i, t) in m.tensors().iter().enumerate() {
            let w = &exp[&t.name];
            assert!(w.is_object(), "{file}: unexpected tensor {}", t.name);
            assert_eq!(
                t.dtype.name(),
                w["dtype"].as_str().unwrap(),
                "{file} {}",
                t.name
            );
            let shape: Vec<u64> = w["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .collect();
            assert_eq!(t.shape, shape, "{file} {}", t.name);
            same(
                &values(&m, i),
                &want_values(w),
                &format!("{file} {}", t.name),
            );
        }
    }
}

#[test]
fn views_are_strided_and_contiguous_tensors_zero_copy() {
    let m = open(&fixture("checkpoint.pt")).unwrap();
    let find = |n: &str| m.find(n).unwrap();
    for n in [
        "encoder.weight_t",
        "encoder.cols",
        "encoder.expanded",
        "bf16_t",
    ] {
        assert!(m.tensors()[find(n)].strides().is_some(), "{n}");
    }
    for n in [
        "encoder.weight",
        "encoder.row1",
        "decoder.weight",
        "scalar",
        "empty",
    ] {
        assert!(m.tensors()[find(n)].strides().is_none(), "{n}");
    }
    // Tied weights and the stored entry itself: the same bytes of the map, not copies.
    let (a, b) = (find("encoder.weight"), find("decoder.weight"));
    let va = m.f32_view(a).expect("stored F32 storage is zero-copy");
    let vb = m.f32_view(b).unwrap();
    assert_eq!(va.as_ptr(), vb.as_ptr());
    assert!(m.f32_view(find("encoder.weight_t")).is_none());
    assert!(m.encoded_range(find("encoder.weight_t"), 0..2).is_none());
    // The big-endian archive is never zero-copy but decodes the same.
    let be = open(&fixture("checkpoint-be.pt")).unwrap();
    assert!(be.f32_view(be.find("encoder.weight").unwrap()).is_none());
}

#[test]
fn state_dict_prefix_metadata_and_warnings_are_reported() {
    let m = open(&fixture("checkpoint.pt")).unwrap();
    let prop = |k: PropertyKey| {
        m.properties()
            .iter()
            .find(|p| p.key == k)
            .map(|p| p.value.to_string())
    };
    assert_eq!(
        prop(PropertyKey::StatePrefix).as_deref(),
        Some("state_dict")
    );
    assert_eq!(prop(PropertyKey::Variant).as_deref(), Some("zip"));
    assert_eq!(prop(PropertyKey::Alignment).as_deref(), Some("64"));
    assert_eq!(prop(PropertyKey::StorageCount).as_deref(), Some("10"));
    let meta: std::collections::HashMap<_, _> = m.metadata().iter().cloned().collect();
    assert_eq!(meta["epoch"], MetaValue::Int(3));
    assert_eq!(meta["config.name"], MetaValue::Str("run-7".into()));
    assert_eq!(meta["config.lr"], MetaValue::Float(0.1));
    assert!(m
        .warnings()
        .iter()
        .any(|w| w.contains("`state_dict.` prefix")));
    assert!(m
        .warnings()
        .iter()
        .any(|w| w.contains("optimizer.state.0.exp_avg")));
    let be = open(&fixture("checkpoint-be.pt")).unwrap();
    assert!(be
        .properties()
        .iter()
        .any(|p| p.key == PropertyKey::ByteOrder && p.value.to_string() == "big-endian"));
    let legacy = open(&fixture("legacy-be.pt")).unwrap();
    assert!(legacy
        .properties()
        .iter()
        .any(|p| p.value.to_string().contains("big-endian machine")));
    // Without a state_dict entry nothing is dropped.
    let plain = open(&fixture("plain.pt")).unwrap();
    assert!(!plain
        .properties()
        .iter()
        .any(|p| p.key == PropertyKey::StatePrefix));
}

#[test]
fn numpy_arrays_in_both_byte_orders_and_fortran_order() {
    let exp = expected();
    for (file, name, key) in [
        ("le.npy", "le", "numpy:le"),
        ("be.npy", "be", "numpy:be"),
        ("fortran.npy", "fortran", "numpy:fortran"),
        ("stored.npz", "a", "numpy:npz.a"),
        ("stored.npz", "b", "numpy:npz.b"),
        ("stored.npz", "c", "numpy:npz.c"),
        ("deflated.npz", "a", "numpy:npz.a"),
        ("deflated.npz", "b", "numpy:npz.b"),
        ("deflated.npz", "c", "numpy:npz.c"),
    ] {
        let m = open(&fixture(file)).unwrap();
        assert_eq!(m.format(), Format::NumPy);
        let i = m.find(name).unwrap_or_else(|| panic!("{file}: {name}"));
        same(
            &values(&m, i),
            &want_values(&exp[key]),
            &format!("{file} {name}"),
        );
    }
    let f = open(&fixture("fortran.npy")).unwrap();
    assert_eq!(f.tensors()[0].strides(), Some(&[1u64, 3][..]));
    let be = open(&fixture("be.npy")).unwrap();
    assert_eq!(
        be.tensors()[0].byte_order,
        modeldiff_formats::ByteOrder::Big
    );
    let le = open(&fixture("le.npy")).unwrap();
    assert!(
        le.f32_view(0).is_some(),
        "aligned little-endian .npy is zero-copy"
    );
}

#[test]
fn onnx_initializers_raw_typed_and_external() {
    let exp = expected();
    let m = open(&fixture("model.onnx")).unwrap();
    assert_eq!(m.format(), Format::Onnx);
    let names: Vec<&str> = m.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["w_raw", "w_typed", "h", "bf", "d", "i8", "u16", "i64", "u64", "u32", "b"]
    );
    for (i, t) in m.tensors().iter().enumerate() {
        let w = &exp[format!("onnx:{}", t.name)];
        if matches!(t.dtype, DType::I64 | DType::U64) {
            let mut out = vec![0i128; t.elements() as usize];
            m.decode_int(i, 0..out.len(), &mut out).unwrap();
            let want: Vec<i128> = w["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| {
                    v.as_i64()
                        .map(i128::from)
                        .unwrap_or_else(|| v.as_u64().unwrap() as i128)
                })
                .collect();
            assert_eq!(out, want, "{}", t.name);
        } else {
            same(&values(&m, i), &want_values(w), &t.name);
        }
    }
    let opset = m
        .properties()
        .iter()
        .find(|p| p.key == PropertyKey::Opset)
        .unwrap();
    assert_eq!(opset.value.to_string(), "ai.onnx:17");
    assert!(m.warnings()[0].contains("STRING"));
    let ext = open(&fixture("external/model.onnx")).unwrap();
    for name in ["big", "small"] {
        let i = ext.find(name).unwrap();
        same(
            &values(&ext, i),
            &want_values(&exp[format!("onnx-external:{name}")]),
            name,
        );
    }
    // Mapped from weights.bin: zero-copy.
    assert!(ext.f32_view(ext.find("big").unwrap()).is_some());
}

/// Runs `f` on a checkpoint written to a temporary file and returns the error message.
fn open_err(bytes: Vec<u8>, name: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, &bytes).unwrap();
    let from_file = open(&p).map(|_| ()).unwrap_err().to_string();
    let from_memory = open_bytes(name, bytes).map(|_| ()).unwrap_err().to_string();
    assert!(
        from_file.contains(name) && !from_file.contains('\n'),
        "{from_file}"
    );
    assert!(from_memory.contains(name), "{from_memory}");
    from_file
}

#[test]
fn code_execution_payloads_are_never_run() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let cmd = format!("touch {}", marker.display());
    for (module, name) in [
        ("os", "system"),
        ("posix", "system"),
        ("subprocess", "Popen"),
        ("builtins", "eval"),
        ("builtins", "exec"),
        ("__builtin__", "eval"),
    ] {
        // As the whole object: an error, nothing to read.
        let mut p = Pickle::new();
        p.global(module, name).str(&cmd).op(b"\x85").reduce();
        let e = open_err(checkpoint(&p.stop(), &[]), "payload.pt");
        assert!(e.contains(&format!("{module}.{name}")), "{e}");
        // Next to real tensors: the model opens, the call is reported, never made.
        let mut p = Pickle::new();
        p.empty_dict().mark();
        p.str("w").tensor("FloatStorage", "0", 2, 0, &[2], &[1]);
        p.str("evil")
            .global(module, name)
            .str(&cmd)
            .op(b"\x85")
            .reduce();
        // And as the target of a BUILD, and through NEWOBJ.
        p.str("built")
            .global(module, name)
            .empty_tuple()
            .op(b"\x81")
            .empty_dict()
            .op(b"b");
        let bytes = checkpoint(&p.setitems().stop(), &[("0", f32_bytes(&[1.0, 2.0]))]);
        let m = open_bytes("nested.pt", bytes).unwrap();
        assert_eq!(m.tensors().len(), 1);
        let w = m.warnings().join("\n");
        assert!(
            w.contains(&format!("`evil` ({module}.{name}(\"touch")),
            "{w}"
        );
        assert!(w.contains("were not run"), "{w}");
    }
    assert!(!marker.exists(), "a payload ran");
}

#[test]
fn hostile_archives_are_errors() {
    let sd = state_dict(&[("w", 4, &[4])]);
    let data = f32_bytes(&[1.0, 2.0, 3.0, 4.0]);
    // Storage key leaving the archive's data folder.
    let mut p = Pickle::new();
    p.empty_dict()
        .str("w")
        .tensor("FloatStorage", "../../etc/passwd", 4, 0, &[4], &[1])
        .op(b"s");
    let e = open_err(checkpoint(&p.stop(), &[("0", data.clone())]), "key.pt");
    assert!(e.contains("not a plain entry name"), "{e}");
    // A storage declaring more elements than its entry holds.
    let e = open_err(checkpoint(&sd, &[("0", data[..12].to_vec())]), "short.pt");
    assert!(e.contains("declares 4 elements (16 bytes)"), "{e}");
    // A view reaching past its storage (offset 2 + 4 elements of a 4-element storage).
    let mut p = Pickle::new();
    p.empty_dict()
        .str("w")
        .tensor("FloatStorage", "0", 4, 2, &[4], &[1])
        .op(b"s");
    let e = open_err(checkpoint(&p.stop(), &[("0", data.clone())]), "view.pt");
    assert!(e.contains("reaches past the end of storage `0`"), "{e}");
    // A missing storage entry.
    let e = open_err(checkpoint(&sd, &[]), "missing.pt");
    assert!(e.contains("has no entry `archive/data/0`"), "{e}");
    // Entry names with `..` or a root.
    for evil in [
        "archive/../data.pkl",
        "/archive/data.pkl",
        "archive/data/../../x",
    ] {
        let z = zip(&[
            ZipEntry::stored("archive/data.pkl", sd.clone()),
            ZipEntry::stored(evil, data.clone()),
        ]);
        let e = open_err(z, "dots.pt");
        assert!(e.contains("not a plain relative path"), "{e}");
    }
    // A zip bomb: two bytes of deflate declaring 4 GiB.
    let z = zip(&[
        ZipEntry::stored("archive/data.pkl", sd.clone()),
        ZipEntry {
            name: "archive/data/0",
            data: vec![0x03, 0x00],
            deflated: Some((0xffff_fff0, 0)),
        },
    ]);
    let e = open_err(z, "bomb.pt");
    assert!(e.contains("more than the"), "{e}");
    // A deflate stream longer than its declared size.
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, &vec![0u8; 4096]).unwrap();
    let z = zip(&[
        ZipEntry::stored("archive/data.pkl", sd.clone()),
        ZipEntry {
            name: "archive/data/0",
            data: enc.finish().unwrap(),
            deflated: Some((16, 0)),
        },
    ]);
    let e = open_err(z, "long.pt");
    assert!(e.contains("inflates to more than 16 bytes"), "{e}");
    // Two data.pkl, or none.
    let z = zip(&[
        ZipEntry::stored("a/data.pkl", sd.clone()),
        ZipEntry::stored("b/data.pkl", sd.clone()),
    ]);
    assert!(open_err(z, "two.pt").contains("2 `data.pkl`"));
    let z = zip(&[ZipEntry::stored("x.txt", b"hello".to_vec())]);
    assert!(open_err(z, "other.zip").contains("neither a PyTorch checkpoint"));
}

#[test]
fn hostile_pickles_are_errors_not_panics() {
    // Deep nesting (a million marks) and long chains of lists: bounded, no stack overflow.
    let mut deep = Pickle::new();
    for _ in 0..100_000 {
        deep.op(b"]");
    }
    for _ in 0..99_999 {
        deep.op(b"a");
    }
    let e = open_err(checkpoint(&deep.stop(), &[]), "deep.pt");
    assert!(e.contains("deeper than"), "{e}");
    // A self-containing list.
    let mut p = Pickle::new();
    p.op(b"]q\x00h\x00a");
    let e = open_err(checkpoint(&p.stop(), &[]), "cycle.pt");
    assert!(e.contains("deeper than"), "{e}");
    // Shared lists doubling at each of 80 levels: 2^80 leaves in a few hundred bytes.
    let mut p = Pickle::new();
    p.op(b"]q\x00");
    for i in 1u8..80 {
        p.op(b"](h")
            .op(&[i - 1])
            .op(b"h")
            .op(&[i - 1])
            .op(b"eq")
            .op(&[i]);
    }
    let e = open_err(checkpoint(&p.stop(), &[]), "dag.pt");
    assert!(
        e.contains("too large to name") || e.contains("deeper than"),
        "{e}"
    );
    // Strings longer than the pickle, bad memo keys, truncated pickles.
    for (bytes, want) in [
        (b"\x80\x02X\xff\xff\xff\x7f".to_vec(), "past the end"),
        (b"\x80\x02h\x07.".to_vec(), "never stored"),
        (b"\x80\x02}X\x01\x00\x00\x00a".to_vec(), "needs 1 bytes"),
        (b"\x80\x02\x82\x01.".to_vec(), "extension registry"),
    ] {
        let e = open_err(checkpoint(&bytes, &[]), "bad.pt");
        assert!(e.contains(want), "{e}");
    }
}

#[test]
fn legacy_files_with_bad_storage_sections_are_errors() {
    let legacy = std::fs::read(fixture("legacy.pt")).unwrap();
    // Truncated inside the raw storages, and an element count past the data.
    for cut in [legacy.len() - 1, legacy.len() - 20] {
        let e = open_err(legacy[..cut].to_vec(), "cut.pt");
        assert!(e.contains("past the end") || e.contains("needs"), "{e}");
    }
    let mut big = legacy.clone();
    // The first storage's count follows the keys pickle; bump it to a huge number.
    let at = find_counts(&big);
    big[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    let e = open_err(big, "count.pt");
    assert!(e.contains("stores 18446744073709551615 elements"), "{e}");
}

/// Offset of the first storage's element count in a legacy file (after the fifth pickle).
fn find_counts(b: &[u8]) -> usize {
    // The key list pickle ends with its last key `opt0`, then `q` + memo index, `e.`.
    let last_key = b.windows(4).rposition(|w| w == b"opt0").unwrap();
    let end = b[last_key..].windows(2).position(|w| w == b"e.").unwrap();
    last_key + end + 2
}

#[test]
fn corrupted_files_never_panic() {
    for file in [
        "checkpoint.pt",
        "legacy.pt",
        "stored.npz",
        "deflated.npz",
        "le.npy",
        "model.onnx",
    ] {
        let bytes = std::fs::read(fixture(file)).unwrap();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..400 {
            let mut b = bytes.clone();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if round % 4 == 0 {
                b.truncate(state as usize % b.len());
            } else {
                for k in 0..(1 + round % 5) {
                    let i = (state as usize).wrapping_add(k * 7919) % b.len();
                    b[i] ^= (state >> 32) as u8 | 1;
                }
            }
            if let Ok(m) = open_bytes(file, b) {
                for i in 0..m.tensors().len() {
                    let n = (m.tensors()[i].elements() as usize).min(1 << 16);
                    let mut out = vec![0f32; n];
                    let _ = m.decode_f32(i, 0..n, &mut out);
                }
            }
        }
    }
}

#[test]
fn onnx_external_data_must_stay_in_the_model_folder() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("m");
    std::fs::create_dir(&model_dir).unwrap();
    std::fs::write(dir.path().join("secret.bin"), [0u8; 48]).unwrap();
    let src = std::fs::read(fixture("external/model.onnx")).unwrap();
    std::fs::copy(
        fixture("external/weights.bin"),
        model_dir.join("weights.bin"),
    )
    .unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.bin"), model_dir.join("linkabc.bin"))
        .unwrap();
    // Each name has the length of `weights.bin`, so the protobuf's lengths stay valid.
    for (evil, want) in [
        ("../s.bin///", "must be relative"),
        ("/etc/passwd", "must be relative"),
        ("linkabc.bin", "resolves outside"),
    ] {
        let patched = replace_all(&src, b"weights.bin", evil.as_bytes());
        let p = model_dir.join("model.onnx");
        std::fs::write(&p, patched).unwrap();
        let e = open(&p).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains(want), "{evil}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
    // From memory, external data cannot be reached at all.
    let e = open_bytes("mem.onnx", src)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("from memory"), "{e}");
}

fn replace_all(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn sharded_pytorch_checkpoints_open_whole() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("pytorch_model-00001-of-00002.bin"),
        checkpoint(
            &state_dict(&[("a", 2, &[2])]),
            &[("0", f32_bytes(&[1.0, 2.0]))],
        ),
    )
    .unwrap();
    std::fs::copy(
        fixture("legacy.pt"),
        d.join("pytorch_model-00002-of-00002.bin"),
    )
    .unwrap();
    let m2 = open(&fixture("legacy.pt")).unwrap();
    let mut weight_map = serde_json::Map::new();
    weight_map.insert("a".into(), "pytorch_model-00001-of-00002.bin".into());
    for t in m2.tensors() {
        weight_map.insert(t.name.clone(), "pytorch_model-00002-of-00002.bin".into());
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": weight_map});
    let ip = d.join("pytorch_model.bin.index.json");
    std::fs::write(&ip, index.to_string()).unwrap();
    for m in [open(&ip).unwrap(), open(d).unwrap()] {
        assert_eq!(m.format(), Format::PyTorch);
        assert_eq!(m.tensors().len(), 20);
        let a = m.find("a").unwrap();
        assert_eq!(values(&m, a), [1.0, 2.0]);
        let t = m.find("encoder.weight_t").unwrap();
        assert_eq!(
            values(&m, t),
            values(&m2, m2.find("encoder.weight_t").unwrap())
        );
        assert_eq!(m.tensors()[t].shard, 1);
    }
    // A shard escaping the folder is refused as for SafeTensors.
    let bad = serde_json::json!({"weight_map": {"a": "../x.bin"}});
    std::fs::write(&ip, bad.to_string()).unwrap();
    assert!(open(&ip).is_err());
}

#[test]
fn twins_are_identical_through_the_public_api() {
    let twin = open(&fixture("twin.safetensors")).unwrap();
    let pt = open(&fixture("checkpoint.pt")).unwrap();
    for (i, t) in twin.tensors().iter().enumerate() {
        let j = pt.find(&t.name).unwrap();
        assert_eq!(values(&twin, i), values(&pt, j), "{}", t.name);
    }
    let _ = Path::new("");
}

/// `_rebuild_tensor_v3` over an `UntypedStorage`: how torch ≥ 2.1 saves dtypes without a typed
/// storage class (float8, uint16...).
#[test]
fn rebuild_tensor_v3_gives_dtypes_to_untyped_storages() {
    let v3 = |dtype: &str, numel_bytes: i32, size: i32| {
        let mut p = Pickle::new();
        p.empty_dict().str("t");
        p.global("torch._utils", "_rebuild_tensor_v3").mark();
        p.mark()
            .str("storage")
            .global("torch", "UntypedStorage")
            .str("0")
            .str("cpu")
            .int(numel_bytes)
            .tuple()
            .op(b"Q");
        p.int(0).ints(&[size]).ints(&[1]).op(b"\x89");
        p.global("collections", "OrderedDict")
            .empty_tuple()
            .reduce();
        p.global("torch", dtype);
        p.tuple().reduce().op(b"s");
        p.stop()
    };
    let bytes = vec![0x38, 0xb8, 0x7e, 0x00];
    let m = open_bytes(
        "f8.pt",
        checkpoint(&v3("float8_e4m3fn", 4, 4), &[("0", bytes.clone())]),
    )
    .unwrap();
    assert_eq!(m.tensors()[0].dtype, DType::F8E4M3);
    assert_eq!(values(&m, 0), [1.0, -1.0, 448.0, 0.0]);
    let m = open_bytes(
        "u16.pt",
        checkpoint(&v3("uint16", 4, 2), &[("0", bytes.clone())]),
    )
    .unwrap();
    assert_eq!(m.tensors()[0].dtype, DType::U16);
    assert_eq!(values(&m, 0), [0xb838 as f64, 0x007e as f64]);
    // A dtype this crate does not decode is listed in a warning, not an error.
    let m = open_bytes(
        "c.pt",
        checkpoint(&v3("complex32", 4, 1), &[("0", bytes.clone())]),
    )
    .unwrap();
    assert!(m.tensors().is_empty());
    assert!(
        m.warnings().iter().any(|w| w.contains("torch.complex32")),
        "{:?}",
        m.warnings()
    );
    // Two bytes of float16 do not fit a 4-element view of a 4-byte storage.
    let e = open_bytes("f16.pt", checkpoint(&v3("float16", 4, 4), &[("0", bytes)]))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("reaches past the end of storage `0`"), "{e}");
}

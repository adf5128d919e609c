//! APR reader tests: files written by the published `apr-format` crate, cookbook bundles from
//! `tests/fixtures/apr` (checked against their SafeTensors twins), and malformed or hostile files
//! built at test time.

use std::path::{Path, PathBuf};

use apr_format::v2::{AprV2Metadata, AprV2Writer, TensorDType};
use modeldiff_formats::{open, open_with, DType, Error, Format, Model, OpenOptions, ValueKind};
use proptest::prelude::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/apr")
}

fn no_verify() -> OpenOptions {
    let mut o = OpenOptions::default();
    o.verify_checksums = false;
    o
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn decode_all(model: &Model, name: &str) -> Vec<f32> {
    let i = model
        .find(name)
        .unwrap_or_else(|| panic!("no tensor `{name}`"));
    let n = model.tensors()[i].elements() as usize;
    let mut out = vec![0f32; n];
    model.decode_f32(i, 0..n, &mut out).unwrap();
    out
}

fn prop(model: &Model, key: &str) -> String {
    model
        .properties()
        .iter()
        .find(|p| p.key.name() == key)
        .map(|p| p.value.to_string())
        .unwrap_or_default()
}

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn raw_bytes(n: usize, seed: u64) -> Vec<u8> {
    values(n, seed)
        .iter()
        .map(|v| (v.to_bits() >> 7) as u8)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Files written by apr-format 0.72.3 (aprender's published container crate).

struct Written {
    bytes: Vec<u8>,
    f32s: Vec<f32>,
    f16s: Vec<f32>,
    bf16s: Vec<f32>,
    q8: Vec<f32>,
    q4: Vec<f32>,
    q4k: Vec<u8>,
    q6k: Vec<u8>,
}

fn written() -> Written {
    let f32s = values(96, 1);
    let f16s = values(64, 2);
    let bf16s = values(40, 3);
    let q8 = values(1100, 4);
    let q4 = values(1100, 5); // 34 full blocks and a partial one
    let q4k = raw_bytes(2 * 144, 6);
    let q6k = raw_bytes(210, 7);
    let mut w = AprV2Writer::new(AprV2Metadata::new("test"));
    w.add_f32_tensor("a.f32", vec![8, 12], &f32s);
    w.add_f16_tensor("b.f16", vec![64], &f16s);
    let bf: Vec<u8> = bf16s
        .iter()
        .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
        .collect();
    w.add_tensor("c.bf16", TensorDType::BF16, vec![5, 8], bf);
    w.add_q8_tensor("d.q8", vec![1100], &q8);
    w.add_q4_tensor("e.q4", vec![11, 100], &q4);
    w.add_q4k_raw_tensor("f.q4k", vec![2, 256], q4k.clone());
    w.add_q6k_raw_tensor("g.q6k", vec![256], q6k.clone());
    w.add_tensor(
        "h.i32",
        TensorDType::I32,
        vec![3],
        [1i32, -2, 3].iter().flat_map(|v| v.to_le_bytes()).collect(),
    );
    w.add_f32_tensor("i.empty", vec![0], &[]);
    Written {
        bytes: w.write().unwrap(),
        f32s,
        f16s,
        bf16s,
        q8,
        q4,
        q4k,
        q6k,
    }
}

/// APR_Q8 by the formula documented in `AprV2Writer::add_q8_tensor`.
fn q8_expected(v: &[f32]) -> Vec<f32> {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scale = if max == 0.0 { 1.0 } else { max / 127.0 };
    v.iter()
        .map(|x| (x / scale).round().clamp(-127.0, 127.0) * scale)
        .collect()
}

/// APR_Q4 by the formula documented in `AprV2Writer::add_q4_tensor` (the f16-rounded scale is
/// what the reader multiplies by).
fn q4_expected(v: &[f32]) -> Vec<f32> {
    v.chunks(32)
        .flat_map(|b| {
            let max = b.iter().fold(0f32, |m, x| m.max(x.abs()));
            let scale = if max == 0.0 { 1.0 } else { max / 7.0 };
            let s16 = half::f16::from_f32(scale).to_f32();
            b.iter()
                .map(move |x| (x / scale).round().clamp(-8.0, 7.0) * s16)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn check_written(model: &Model, w: &Written) {
    assert_eq!(model.format(), Format::Apr);
    let names: Vec<&str> = model.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["a.f32", "b.f16", "c.bf16", "d.q8", "e.q4", "f.q4k", "g.q6k", "h.i32", "i.empty"]
    );
    let t = |n: &str| &model.tensors()[model.find(n).unwrap()];
    assert_eq!(t("a.f32").shape, [8, 12]);
    assert_eq!(t("e.q4").shape, [11, 100]);
    assert_eq!(t("c.bf16").dtype, DType::BF16);
    assert_eq!(t("d.q8").dtype, DType::AprQ8);
    assert_eq!(t("e.q4").dtype, DType::AprQ4);
    assert_eq!(decode_all(model, "a.f32"), w.f32s);
    let f16: Vec<f32> = w
        .f16s
        .iter()
        .map(|v| half::f16::from_f32(*v).to_f32())
        .collect();
    assert_eq!(decode_all(model, "b.f16"), f16);
    let bf16: Vec<f32> = w
        .bf16s
        .iter()
        .map(|v| half::bf16::from_f32(*v).to_f32())
        .collect();
    assert_eq!(decode_all(model, "c.bf16"), bf16);
    assert_eq!(decode_all(model, "d.q8"), q8_expected(&w.q8));
    assert_eq!(decode_all(model, "e.q4"), q4_expected(&w.q4));
    for (name, raw, id) in [("f.q4k", &w.q4k, 12), ("g.q6k", &w.q6k, 14)] {
        let i = model.find(name).unwrap();
        // APR stores ggml blocks under ggml's own type ids: they decode with the GGUF
        // dequantizers (tested bit-exactly against gguf-py in tests/gguf.rs).
        let dtype = DType::from_gguf_id(id).unwrap();
        assert_eq!(model.tensors()[i].dtype, dtype);
        assert_eq!(model.tensors()[i].dtype.kind(), ValueKind::Float);
        assert_eq!(model.tensor_bytes(i), &raw[..]);
        let n = model.tensors()[i].elements() as usize;
        let mut want = vec![0f32; n];
        modeldiff_formats::decode::decode_f32(dtype, Default::default(), raw, 0..n, &mut want)
            .unwrap();
        assert_eq!(decode_all(model, name), want);
    }
    let i = model.find("h.i32").unwrap();
    let mut ints = [0i128; 3];
    model.decode_int(i, 0..3, &mut ints).unwrap();
    assert_eq!(ints, [1, -2, 3]);
    assert_eq!(decode_all(model, "i.empty"), Vec::<f32>::new());
    assert!(model
        .metadata()
        .iter()
        .any(|(k, v)| k == "model_type" && format!("{v:?}").contains("test")));
}

#[test]
fn reads_apr_format_writer_output() {
    let w = written();
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "m.apr", &w.bytes);
    let model = open(&p).unwrap();
    check_written(&model, &w);
    assert_eq!(prop(&model, "header_crc32"), "ok");
    assert_eq!(prop(&model, "footer_crc32"), "ok");
    assert_eq!(prop(&model, "compression"), "none");
    assert!(prop(&model, "flags").contains("row-major"));
    assert!(model.warnings().is_empty(), "{:?}", model.warnings());
    // Zero-copy: the F32 tensor is a view into the map.
    assert_eq!(
        model.f32_view(model.find("a.f32").unwrap()).unwrap(),
        &w.f32s[..]
    );
    // Unaligned ranges of the block types agree with a full decode.
    let q4 = decode_all(&model, "e.q4");
    let i = model.find("e.q4").unwrap();
    for (s, e) in [(0, 1), (5, 37), (31, 33), (1000, 1100), (1099, 1100)] {
        let mut out = vec![0f32; e - s];
        model.decode_f32(i, s..e, &mut out).unwrap();
        assert_eq!(out, q4[s..e]);
    }
}

#[test]
fn footer_is_optional_and_checked() {
    let w = written();
    let dir = tempfile::tempdir().unwrap();
    let n = w.bytes.len();
    let p = write(&dir, "nofooter.apr", &w.bytes[..n - 4]);
    let model = open(&p).unwrap();
    check_written(&model, &w);
    assert_eq!(prop(&model, "footer_crc32"), "absent");

    let mut bad = w.bytes.clone();
    bad[n - 1] ^= 0xff;
    let p = write(&dir, "badfooter.apr", &bad);
    let e = open(&p).unwrap_err();
    assert!(matches!(e, Error::Checksum { .. }), "{e}");
    assert!(e.to_string().contains("badfooter.apr") && e.to_string().contains("footer"));
    assert!(open_with(&p, &no_verify()).is_ok());

    // A flipped data byte is caught by the footer too.
    let mut bad = w.bytes.clone();
    bad[n - 100] ^= 1;
    let p = write(&dir, "baddata.apr", &bad);
    assert!(matches!(open(&p), Err(Error::Checksum { .. })));
}

#[test]
fn lz4_flag_without_compression_is_read_with_a_warning() {
    let mut w = AprV2Writer::new(AprV2Metadata::new("test"));
    w.add_f32_tensor("x", vec![4], &[1.0, 2.0, 3.0, 4.0]);
    w.with_lz4_compression();
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "flag.apr", &w.write().unwrap());
    let model = open(&p).unwrap();
    assert_eq!(decode_all(&model, "x"), [1.0, 2.0, 3.0, 4.0]);
    assert!(model.warnings()[0].contains("stored uncompressed"));
}

/// apr-format 0.72.3 sets the Zstd flag on `APR\0` files (`set_header_flags`) and compresses
/// with `zstd::encode_all`, whose frames omit the content size: such a file is read by
/// streaming, bounded by the sizes its header and index declare.
#[test]
fn zstd_flag_from_apr_format_with_and_without_compression() {
    use apr_format::v2::AprV2Flags;
    let w = written();
    let dir = tempfile::tempdir().unwrap();

    // The flag as apr-format's writer leaves it: set, payload stored plainly.
    let mut flagged = AprV2Writer::new(AprV2Metadata::new("test"));
    flagged.add_f32_tensor("x", vec![4], &[1.0, 2.0, 3.0, 4.0]);
    flagged.set_header_flags(AprV2Flags::from_bits(AprV2Flags::ZSTD_COMPRESSED));
    let p = write(&dir, "flag.apr", &flagged.write().unwrap());
    let model = open(&p).unwrap();
    assert_eq!(decode_all(&model, "x"), [1.0, 2.0, 3.0, 4.0]);
    assert!(model.warnings()[0].contains("zstd flag is set"));

    // The payload compressed as apr-format compresses (`zstd::encode_all`, level 3).
    let mut out = w.bytes[..64].to_vec();
    out[6] |= 2;
    set_header_crc(&mut out);
    let mut body = w.bytes[64..w.bytes.len() - 4].to_vec();
    let mut image = out.clone();
    image.extend_from_slice(&body);
    body.extend_from_slice(&crc32fast::hash(&image).to_le_bytes());
    let frame = zstd::encode_all(&body[..], 3).unwrap();
    assert!(matches!(
        zstd::zstd_safe::get_frame_content_size(&frame),
        Ok(None)
    ));
    out.extend_from_slice(&frame);
    let p = write(&dir, "zstd-nosize.apr", &out);
    let model = open(&p).unwrap();
    check_written(&model, &w);
    assert_eq!(prop(&model, "compression"), "zstd");
    assert_eq!(prop(&model, "footer_crc32"), "ok");

    // Without the footer the frame ends at the padded data end: still read.
    let mut short = out[..64].to_vec();
    short.extend_from_slice(&zstd::encode_all(&body[..body.len() - 4], 3).unwrap());
    let p = write(&dir, "zstd-nosize-nofooter.apr", &short);
    check_written(&open(&p).unwrap(), &w);

    // Truncated frame: an error, not a short read.
    let p = write(&dir, "zstd-nosize-cut.apr", &out[..out.len() - 10]);
    let e = open(&p).unwrap_err().to_string();
    assert!(e.contains("zstd"), "{e}");
}

fn set_header_crc(b: &mut [u8]) {
    let mut data = b[..40].to_vec();
    data.extend_from_slice(&b[44..64]);
    let c = crc32fast::hash(&data);
    b[40..44].copy_from_slice(&c.to_le_bytes());
}

fn compress_body(bytes: &[u8], flag: u16) -> Vec<u8> {
    let mut out = bytes[..64].to_vec();
    let flags = u16::from_le_bytes([out[6], out[7]]) | flag;
    out[6..8].copy_from_slice(&flags.to_le_bytes());
    set_header_crc(&mut out);
    // The footer covers the logical image `header ++ body`, so recompute it for the new header.
    let mut body = bytes[64..bytes.len() - 4].to_vec();
    let mut image = out.clone();
    image.extend_from_slice(&body);
    body.extend_from_slice(&crc32fast::hash(&image).to_le_bytes());
    if flag == 1 {
        out.extend_from_slice(&lz4_flex::block::compress_prepend_size(&body));
    } else {
        out.extend_from_slice(&zstd::bulk::compress(&body, 3).unwrap());
    }
    out
}

#[test]
fn compressed_aprender_payloads() {
    let w = written();
    let dir = tempfile::tempdir().unwrap();
    for (flag, name) in [(1u16, "lz4"), (2, "zstd")] {
        let p = write(&dir, &format!("{name}.apr"), &compress_body(&w.bytes, flag));
        let model = open(&p).unwrap();
        check_written(&model, &w);
        assert_eq!(prop(&model, "compression"), name);
        assert_eq!(prop(&model, "footer_crc32"), "ok");
    }
}

// ---------------------------------------------------------------------------------------------
// An independent writer for the aprender layout, for legacy `APR2` files and hostile inputs.

struct AprEntry {
    name: Vec<u8>,
    dtype: u8,
    dims: Vec<u64>,
    data: Vec<u8>,
}

fn entry(name: &str, dtype: u8, dims: &[u64], data: Vec<u8>) -> AprEntry {
    AprEntry {
        name: name.as_bytes().to_vec(),
        dtype,
        dims: dims.to_vec(),
        data,
    }
}

fn aprender_file(magic: &[u8; 4], flags: u16, entries: &[AprEntry], footer: bool) -> Vec<u8> {
    let meta = br#"{"model_type":"hand"}"#;
    let pad = |n: usize| n.div_ceil(64) * 64;
    let mut index = Vec::new();
    let mut off = 0u64;
    for e in entries {
        index.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        index.extend_from_slice(&e.name);
        index.push(e.dtype);
        index.push(e.dims.len() as u8);
        for d in &e.dims {
            index.extend_from_slice(&d.to_le_bytes());
        }
        index.extend_from_slice(&off.to_le_bytes());
        index.extend_from_slice(&(e.data.len() as u64).to_le_bytes());
        off += pad(e.data.len()) as u64;
    }
    let index_offset = 64 + pad(meta.len());
    let data_offset = index_offset + pad(index.len());
    let mut b = vec![0u8; 64];
    b[..4].copy_from_slice(magic);
    b[4] = 2;
    b[6..8].copy_from_slice(&flags.to_le_bytes());
    b[8..12].copy_from_slice(&(entries.len() as u32).to_le_bytes());
    b[12..20].copy_from_slice(&64u64.to_le_bytes());
    b[20..24].copy_from_slice(&(meta.len() as u32).to_le_bytes());
    b[24..32].copy_from_slice(&(index_offset as u64).to_le_bytes());
    b[32..40].copy_from_slice(&(data_offset as u64).to_le_bytes());
    set_header_crc(&mut b);
    b.extend_from_slice(meta);
    b.resize(index_offset, 0);
    b.extend_from_slice(&index);
    b.resize(data_offset, 0);
    for e in entries {
        b.extend_from_slice(&e.data);
        b.resize(pad(b.len()), 0);
    }
    if footer {
        let c = crc32fast::hash(&b);
        b.extend_from_slice(&c.to_le_bytes());
    }
    b
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn legacy_apr2_aprender_layout() {
    let bf: Vec<u8> = [1.5f32, -2.0]
        .iter()
        .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
        .collect();
    let mut q8 = 0.5f32.to_le_bytes().to_vec();
    q8.extend([2u8, 0xfe]);
    let mut q4 = half::f16::from_f32(1.0).to_le_bytes().to_vec();
    q4.extend([0x9f; 16]);
    let entries = [
        entry("a", 2, &[2], bf),
        entry("b", 9, &[2], q8),
        entry("c", 8, &[32], q4),
        entry("d", 0, &[1, 2], f32_bytes(&[7.0, 8.0])),
    ];
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "legacy.apr",
        &aprender_file(b"APR2", 0x0400, &entries, true),
    );
    let model = open(&p).unwrap();
    assert!(prop(&model, "variant").contains("legacy"));
    assert_eq!(decode_all(&model, "a"), [1.5, -2.0]);
    assert_eq!(decode_all(&model, "b"), [1.0, -1.0]);
    let c = decode_all(&model, "c");
    assert_eq!(c[..2], [7.0, 1.0]); // 0x9f: low nibble 15 → 7, high nibble 9 → 1
    assert_eq!(decode_all(&model, "d"), [7.0, 8.0]);
    // BF16 = 30 is not a legacy id.
    let p = write(
        &dir,
        "legacy30.apr",
        &aprender_file(b"APR2", 0, &[entry("a", 30, &[1], vec![0, 0])], true),
    );
    assert!(matches!(open(&p), Err(Error::Unsupported { .. })));
}

// ---------------------------------------------------------------------------------------------
// Cookbook bundles: the committed seed demo, against its SafeTensors twin.

#[test]
fn cookbook_fixtures_match_safetensors_bit_for_bit() {
    let dir = fixtures();
    let mut files = Vec::new();
    for mode in ["none", "lz4", "zstd"] {
        for m in ["base", "finetuned"] {
            files.push((
                dir.join(mode).join(format!("{m}-model.apr")),
                m,
                mode,
                false,
            ));
        }
        files.push((
            dir.join("signed").join(mode).join("base-model.apr"),
            "base",
            mode,
            true,
        ));
    }
    for (path, m, mode, signed) in files {
        let apr = open(&path).unwrap();
        let st = open(&dir.join(format!("{m}-model.safetensors"))).unwrap();
        assert_eq!(prop(&apr, "compression"), mode);
        assert_eq!(prop(&apr, "quantization"), "Int8");
        assert_eq!(prop(&apr, "signature").starts_with("present"), signed);
        assert!(prop(&apr, "variant").contains("cookbook"));
        let names: Vec<&str> = apr.tensors().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["encoder.weight", "decoder.weight", "decoder.bias"]);
        assert_eq!(apr.warnings().len(), 3, "{:?}", apr.warnings());
        assert!(apr.warnings()[0].contains("labelled Int8"));
        for t in apr.tensors() {
            assert_eq!(t.dtype, DType::F32);
            let j = st.find(&t.name).unwrap();
            assert_eq!(t.shape, st.tensors()[j].shape, "{}", t.name);
            let a: Vec<u32> = decode_all(&apr, &t.name)
                .iter()
                .map(|v| v.to_bits())
                .collect();
            let b: Vec<u32> = decode_all(&st, &t.name)
                .iter()
                .map(|v| v.to_bits())
                .collect();
            assert_eq!(a, b, "{} in {}", t.name, path.display());
        }
    }
}

#[test]
fn cookbook_oracle_max_abs_index_agrees() {
    let dir = fixtures();
    let oracle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("oracle.json")).unwrap()).unwrap();
    let a = open(&dir.join("zstd/base-model.apr")).unwrap();
    let b = open(&dir.join("lz4/finetuned-model.apr")).unwrap();
    for t in a.tensors() {
        let (x, y) = (decode_all(&a, &t.name), decode_all(&b, &t.name));
        let (mut best, mut at) = (0f64, 0usize);
        let mut l2 = 0f64;
        for (i, (p, q)) in x.iter().zip(&y).enumerate() {
            let d = (*p as f64 - *q as f64).abs();
            l2 += d * d;
            if d > best {
                (best, at) = (d, i);
            }
        }
        let o = &oracle["tensors"][&t.name];
        assert_eq!(o["max_abs_index"].as_u64().unwrap() as usize, at);
        assert_eq!(o["max_abs"].as_f64().unwrap(), best);
        assert!((o["l2"].as_f64().unwrap() - l2.sqrt()).abs() < 1e-12);
    }
}

/// A cookbook bundle: (name, dims, f32 values) tensors, all labelled `label`.
fn bundle(tensors: &[(&str, &[u64], &[f32])], compression: u8, signed: bool) -> Vec<u8> {
    let mut payload = Vec::new();
    let mut index = Vec::new();
    for (name, dims, vals) in tensors {
        let data = f32_bytes(vals);
        index.extend_from_slice(&(name.len() as u32).to_le_bytes());
        index.extend_from_slice(name.as_bytes());
        index.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in *dims {
            index.extend_from_slice(&d.to_le_bytes());
        }
        index.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        index.extend_from_slice(&(data.len() as u64).to_le_bytes());
        index.push(0);
        payload.extend_from_slice(&data);
    }
    let index_offset = if signed { 160u32 } else { 64 };
    let mut b = vec![0u8; 64];
    b[..4].copy_from_slice(b"APR2");
    b[4] = 2;
    b[6] = compression;
    b[8..12].copy_from_slice(&(tensors.len() as u32).to_le_bytes());
    b[12..16].copy_from_slice(&index_offset.to_le_bytes());
    b[16..20].copy_from_slice(&(index_offset + index.len() as u32).to_le_bytes());
    b[20..24].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    b[24] = signed as u8;
    if signed {
        b.extend_from_slice(&[7u8; 96]);
    }
    b.extend_from_slice(&index);
    match compression {
        0 => b.extend_from_slice(&payload),
        1 => b.extend_from_slice(&lz4_flex::block::compress_prepend_size(&payload)),
        _ => b.extend_from_slice(&zstd::encode_all(&payload[..], 3).unwrap()),
    }
    b
}

fn small_bundle(compression: u8) -> Vec<u8> {
    let w = values(300, 9);
    bundle(
        &[("w", &[3, 100], &w), ("b", &[3], &[1.0, 2.0, 3.0])],
        compression,
        false,
    )
}

#[test]
fn cookbook_test_writer_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    for c in 0..3u8 {
        for signed in [false, true] {
            let w = values(300, 9);
            let b = bundle(
                &[("w", &[3, 100], &w), ("b", &[3], &[1.0, 2.0, 3.0])],
                c,
                signed,
            );
            let p = write(&dir, &format!("b{c}{signed}.apr"), &b);
            let model = open(&p).unwrap();
            assert_eq!(decode_all(&model, "w"), w);
            assert_eq!(decode_all(&model, "b"), [1.0, 2.0, 3.0]);
            assert!(model.warnings().is_empty(), "{:?}", model.warnings());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Malformed and hostile files: a clear one-line error, no panic.

fn expect_err(dir: &tempfile::TempDir, name: &str, bytes: &[u8], needle: &str) -> Error {
    // The same validation from memory and from a file.
    let from_memory = modeldiff_formats::open_bytes(name, bytes).err();
    let p = write(dir, name, bytes);
    let e = match open(&p) {
        Ok(_) => panic!("{name}: opened"),
        Err(e) => e,
    };
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "{name}: {msg}");
    assert!(
        msg.contains(name),
        "{name}: message does not name the file: {msg}"
    );
    assert!(msg.contains(needle), "{name}: {msg:?} lacks {needle:?}");
    let mem = from_memory.unwrap_or_else(|| panic!("{name}: opened from memory"));
    assert_eq!(
        mem.to_string().replace(&p.display().to_string(), name),
        msg.replace(&p.display().to_string(), name),
        "{name}: memory and file errors differ"
    );
    e
}

fn good_entries() -> Vec<AprEntry> {
    vec![
        entry("a", 0, &[2], f32_bytes(&[1.0, 2.0])),
        entry("b", 0, &[1], f32_bytes(&[3.0])),
    ]
}

#[test]
fn hostile_aprender_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = aprender_file(b"APR\0", 0x0400, &good_entries(), true);
    let p = write(&dir, "good.apr", &good);
    assert_eq!(decode_all(&open(&p).unwrap(), "b"), [3.0]);

    expect_err(
        &dir,
        "short.apr",
        &good[..30],
        "shorter than the 64-byte header",
    );

    let mut bad = good.clone();
    bad[8] ^= 0x10; // tensor count changes, CRC no longer matches
    let e = expect_err(&dir, "crc.apr", &bad, "header crc32 mismatch");
    assert!(matches!(e, Error::Checksum { .. }));
    let mut bad = good.clone();
    bad[44] = 1; // reserved byte: only the CRC notices
    let p = write(&dir, "crc2.apr", &bad);
    assert!(open(&p).is_err());
    let m = open_with(&p, &no_verify()).unwrap();
    assert_eq!(prop(&m, "header_crc32"), "not verified");

    let cm = aprender_file(b"APR\0", 0x0800, &good_entries(), true);
    let e = expect_err(&dir, "colmajor.apr", &cm, "column-major");
    assert!(matches!(e, Error::Unsupported { .. }));

    let mut bad = good.clone();
    bad[24..32].copy_from_slice(&(1u64 << 40).to_le_bytes());
    set_header_crc(&mut bad);
    expect_err(&dir, "indexeof.apr", &bad, "tensor index");

    let mut bad = good.clone();
    bad[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    set_header_crc(&mut bad);
    expect_err(&dir, "count.apr", &bad, "declares 4294967295 tensors");

    let mut e = good_entries();
    e[1].data = f32_bytes(&[3.0; 17]);
    e[1].dims = vec![1];
    expect_err(
        &dir,
        "size.apr",
        &aprender_file(b"APR\0", 0, &e, true),
        "needs 4 bytes",
    );

    // Tensor past the data: the last tensor's offset points beyond the end.
    let mut bad = good.clone();
    let idx = u64::from_le_bytes(bad[24..32].try_into().unwrap()) as usize;
    // entry "a": 2 + 1 + 1 + 1 + 8 dims, then offset
    let off_at = idx + 2 + 1 + 1 + 1 + 8;
    bad[off_at..off_at + 8].copy_from_slice(&4096u64.to_le_bytes());
    expect_err(&dir, "pastdata.apr", &bad, "tensor `a`");
    let mut bad2 = bad.clone();
    bad2[off_at..off_at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    expect_err(&dir, "overflow.apr", &bad2, "overflows");

    let mut e = good_entries();
    e[0].dims = vec![1; 255];
    expect_err(
        &dir,
        "ndim.apr",
        &aprender_file(b"APR\0", 0, &e, true),
        "255 dimensions",
    );

    let mut bad = good.clone();
    bad[idx..idx + 2].copy_from_slice(&u16::MAX.to_le_bytes());
    expect_err(&dir, "namelen.apr", &bad, "runs past the end");

    let mut e = good_entries();
    e.swap(0, 1);
    expect_err(
        &dir,
        "unsorted.apr",
        &aprender_file(b"APR\0", 0, &e, true),
        "not sorted",
    );
    let mut e = good_entries();
    e[1].name = b"a".to_vec();
    expect_err(
        &dir,
        "dup.apr",
        &aprender_file(b"APR\0", 0, &e, true),
        "duplicate",
    );

    let mut e = good_entries();
    e[0].name = vec![0xff, 0xfe];
    expect_err(
        &dir,
        "utf8.apr",
        &aprender_file(b"APR\0", 0, &e, true),
        "UTF-8",
    );

    let mut e = good_entries();
    e[0].dtype = 2;
    expect_err(
        &dir,
        "dtype.apr",
        &aprender_file(b"APR\0", 0, &e, true),
        "dtype id 2",
    );

    let mut bad = good.clone();
    bad[64] = b'x';
    expect_err(&dir, "json.apr", &bad, "not valid JSON");

    // Compressed payloads that lie about their size.
    let mut lz = compress_body(&good, 1);
    lz[64..68].copy_from_slice(&u32::MAX.to_le_bytes());
    expect_err(&dir, "lz4huge.apr", &lz, "maximum expansion");
    let mut lz = compress_body(&good, 1);
    let real = u32::from_le_bytes(lz[64..68].try_into().unwrap());
    lz[64..68].copy_from_slice(&(real - 1).to_le_bytes());
    expect_err(&dir, "lz4short.apr", &lz, "lz4");
    let mut lz = compress_body(&good, 1);
    lz[64..68].copy_from_slice(&(real + 1).to_le_bytes());
    expect_err(&dir, "lz4long.apr", &lz, "lz4");

    let mut zs = good[..64].to_vec();
    zs[6] |= 2;
    set_header_crc(&mut zs);
    // A frame without its content size that holds more than the header and index declare.
    let mut body = good[64..].to_vec();
    body.extend_from_slice(&vec![0u8; 1 << 20]);
    zs.extend_from_slice(&zstd::encode_all(&body[..], 3).unwrap());
    expect_err(&dir, "zstdnosizelong.apr", &zs, "more than the");
    // Hand-crafted frame header declaring 1 TiB (single-segment, 8-byte content size).
    let mut zs = good[..64].to_vec();
    zs[6] |= 2;
    set_header_crc(&mut zs);
    zs.extend_from_slice(&[0x28, 0xb5, 0x2f, 0xfd, 0xe0]);
    zs.extend_from_slice(&(1u64 << 40).to_le_bytes());
    zs.extend_from_slice(&[1, 0, 0]);
    expect_err(&dir, "zstdhuge.apr", &zs, "above the limit");
}

#[test]
fn hostile_cookbook_files() {
    let dir = tempfile::tempdir().unwrap();
    // A bomb: 64 MiB of zeros compresses to a few hundred KiB of LZ4 (or bytes of zstd), and
    // the header says 300 bytes.
    let zeros = vec![0u8; 64 << 20];
    for (c, name) in [(1u8, "lz4bomb.apr"), (2, "zstdbomb.apr")] {
        let mut b = small_bundle(c);
        let po = u32::from_le_bytes(b[16..20].try_into().unwrap()) as usize;
        b.truncate(po);
        b[20..24].copy_from_slice(&1212u32.to_le_bytes());
        if c == 1 {
            b.extend_from_slice(&1212u32.to_le_bytes());
            b.extend_from_slice(&lz4_flex::block::compress(&zeros));
        } else {
            b.extend_from_slice(&zstd::encode_all(&zeros[..], 3).unwrap());
        }
        expect_err(&dir, name, &b, "more than the declared 1212 bytes");
    }
    // LZ4 prefix disagreeing with the header.
    let mut b = small_bundle(1);
    let po = u32::from_le_bytes(b[16..20].try_into().unwrap()) as usize;
    b[po..po + 4].copy_from_slice(&100_000u32.to_le_bytes());
    expect_err(&dir, "lz4prefix.apr", &b, "size prefix says 100000");
    // Declared size far beyond the compressed bytes.
    for (c, name) in [(1u8, "lz4big.apr"), (2, "zstdbig.apr")] {
        let mut b = small_bundle(c);
        b[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        if c == 1 {
            b[po..po + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        }
        expect_err(&dir, name, &b, "maximum expansion");
    }
    // Zstd decompressing to more or less than declared.
    let good = small_bundle(2);
    let size = u32::from_le_bytes(good[20..24].try_into().unwrap());
    let mut b = good.clone();
    b[20..24].copy_from_slice(&(size - 4).to_le_bytes());
    expect_err(&dir, "zstdmore.apr", &b, "more than the declared");
    let mut b = good.clone();
    b[20..24].copy_from_slice(&(size + 4).to_le_bytes());
    expect_err(&dir, "zstdless.apr", &b, "but 1216 were declared");
    let mut b = good.clone();
    b.truncate(b.len() - 3);
    expect_err(&dir, "zstdtrunc.apr", &b, "zstd");

    // Structure.
    let good = small_bundle(0);
    expect_err(&dir, "cbshort.apr", &good[..70], "payload offset");
    let mut b = good.clone();
    b[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    expect_err(&dir, "cbcount.apr", &b, "declares 4294967295 tensors");
    let mut b = good.clone();
    b[64..68].copy_from_slice(&u32::MAX.to_le_bytes());
    expect_err(&dir, "cbname.apr", &b, "runs past the end");
    let mut b = good.clone();
    b[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    expect_err(&dir, "cbpayload.apr", &b, "payload offset");
    let mut b = good.clone();
    b[69..73].copy_from_slice(&255u32.to_le_bytes()); // ndim of "w"
    expect_err(&dir, "cbndim.apr", &b, "255 dimensions");
    let mut b = good.clone();
    b.truncate(b.len() - 1);
    expect_err(&dir, "cbtrunc.apr", &b, "runs past the end of the file");
    let mut b = good.clone();
    b[20..24].copy_from_slice(&100u32.to_le_bytes());
    expect_err(&dir, "cbtensor.apr", &b, "runs past the 100-byte payload");
    let dup = bundle(&[("w", &[1], &[1.0]), ("w", &[1], &[2.0])], 0, false);
    expect_err(&dir, "cbdup.apr", &dup, "duplicate");
    let odd = {
        let mut b = bundle(&[("w", &[3], &[1.0, 2.0, 3.0])], 0, false);
        b[64 + 4 + 1 + 4] = 5; // dims[0] = 5: 12 bytes for 5 elements
        b
    };
    expect_err(&dir, "cbodd.apr", &odd, "match no element size");
    // Neither layout: an APR2 header with a bad aprender CRC and non-zero cookbook reserved bytes.
    let mut b = aprender_file(b"APR2", 0, &good_entries(), true);
    b[40] ^= 1;
    expect_err(&dir, "neither.apr", &b, "matches neither layout");
    assert!(open_with(&write(&dir, "neither2.apr", &b), &no_verify()).is_ok());
}

#[test]
fn apr_v1_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v1.apr");
    apr_format::save(
        &vec![1.0f32, 2.0],
        apr_format::ModelType::LinearRegression,
        &p,
        apr_format::SaveOptions::default(),
    )
    .unwrap();
    assert_eq!(&std::fs::read(&p).unwrap()[..4], b"APRN");
    let e = open(&p).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }));
    assert!(e.to_string().contains("APR v1"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Fuzz-style: flipping bytes of valid files never panics.

fn open_and_decode(path: &Path, options: &OpenOptions) {
    if let Ok(model) = open_with(path, options) {
        for (i, t) in model.tensors().iter().enumerate() {
            let n = t.elements() as usize;
            let _ = model.tensor_bytes(i);
            if t.dtype.kind() == ValueKind::Float && n <= 1 << 20 {
                let mut out = vec![0f32; n];
                let _ = model.decode_f32(i, 0..n, &mut out);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn flipped_bytes_never_panic(
        which in 0usize..5,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = match which {
            0 => written().bytes,
            1 => compress_body(&written().bytes, 2),
            2 => small_bundle(0),
            3 => small_bundle(1),
            _ => small_bundle(2),
        };
        let n = bytes.len();
        for (at, x) in flips {
            // Bias towards the header and index, where the structure lives.
            let at = if at % 2 == 0 { at % n.min(256) } else { at % n };
            bytes[at] ^= x.max(1);
        }
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "f.apr", &bytes);
        open_and_decode(&p, &OpenOptions::default());
        open_and_decode(&p, &no_verify());
    }
}

//! Public-API tests of the GGUF reader against the fixtures of `tests/fixtures/gguf/`
//! (written by `gen_fixtures.py` with gguf-py; expected values from `gguf.quants.dequantize`),
//! plus malformed files built at test time and a byte-mutation property test.

use std::path::{Path, PathBuf};

use modeldiff_formats::{open, ByteOrder, DType, MetaValue, Model, QuantType, ValueKind};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/gguf")
        .join(name)
}

fn decode_all(m: &Model, i: usize) -> Vec<f32> {
    let n = m.tensors()[i].elements() as usize;
    let mut out = vec![0f32; n];
    m.decode_f32(i, 0..n, &mut out).unwrap();
    out
}

/// `(key, shape, values)` of every expected tensor of fixture `file` (without `.gguf`).
fn expected(file: &str) -> Vec<(String, Vec<u64>, Vec<f32>)> {
    let m = open(&fixture("expected.safetensors")).unwrap();
    let prefix = format!("{file}/");
    let mut v = Vec::new();
    for (i, t) in m.tensors().iter().enumerate() {
        if let Some(name) = t.name.strip_prefix(&prefix) {
            v.push((name.to_string(), t.shape.clone(), decode_all(&m, i)));
        }
    }
    assert!(!v.is_empty(), "no expected values for {file}");
    v
}

fn assert_bits(name: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "{name}[{k}]: got {g}, want {w}");
    }
}

/// Checks every tensor of `file` bit-exactly, whole and through unaligned ranges.
fn check_file(file: &str, m: &Model, skip: &[&str]) -> usize {
    let mut checked = 0;
    for (name, shape, want) in expected(file) {
        if skip.contains(&name.as_str()) {
            continue;
        }
        let i = m
            .find(&name)
            .unwrap_or_else(|| panic!("{file}: no tensor {name}"));
        let t = &m.tensors()[i];
        assert_eq!(t.shape, shape, "{file}/{name}: row-major shape");
        assert_bits(&format!("{file}/{name}"), &decode_all(m, i), &want);
        let n = want.len();
        for (s, e) in [
            (1, n - 3),
            (n / 2 - 5, n / 2 + 7),
            (n - 1, n),
            (0, 1),
            (3, 3),
        ] {
            let mut out = vec![0f32; e - s];
            m.decode_f32(i, s..e, &mut out).unwrap();
            assert_bits(&format!("{file}/{name}[{s}..{e}]"), &out, &want[s..e]);
        }
        // Streaming in odd-sized chunks covers every block boundary case.
        let mut streamed = Vec::with_capacity(n);
        let mut pos = 0;
        while pos < n {
            let e = (pos + 37).min(n);
            let mut out = vec![0f32; e - pos];
            m.decode_f32(i, pos..e, &mut out).unwrap();
            streamed.extend_from_slice(&out);
            pos = e;
        }
        assert_bits(&format!("{file}/{name} streamed"), &streamed, &want);
        checked += 1;
    }
    checked
}

fn meta<'a>(m: &'a Model, key: &str) -> &'a MetaValue {
    &m.metadata().iter().find(|(k, _)| k == key).unwrap().1
}

fn prop(m: &Model, key: &str) -> String {
    let p = m.properties().iter().find(|p| p.key.name() == key);
    p.unwrap().value.to_string()
}

fn check_metadata(m: &Model) {
    use MetaValue::*;
    assert_eq!(meta(m, "general.architecture"), &Str("test".into()));
    assert_eq!(meta(m, "test.u8"), &UInt(200));
    assert_eq!(meta(m, "test.i8"), &Int(-100));
    assert_eq!(meta(m, "test.u16"), &UInt(60000));
    assert_eq!(meta(m, "test.i16"), &Int(-30000));
    assert_eq!(meta(m, "test.u32"), &UInt(4_000_000_000));
    assert_eq!(meta(m, "test.i32"), &Int(-2_000_000_000));
    assert_eq!(meta(m, "test.f32"), &Float(1.5));
    assert_eq!(meta(m, "test.u64"), &UInt((1 << 63) + 5));
    assert_eq!(meta(m, "test.i64"), &Int(-(1 << 62)));
    assert_eq!(meta(m, "test.f64"), &Float(-0.1));
    assert_eq!(meta(m, "test.bool"), &Bool(true));
    assert_eq!(meta(m, "test.str"), &Str("héllo gguf".into()));
    assert_eq!(
        meta(m, "test.arr_i32"),
        &Array(vec![Int(1), Int(-2), Int(3)])
    );
    assert_eq!(
        meta(m, "test.arr_str"),
        &Array(vec![Str("a".into()), Str("bc".into()), Str(String::new())])
    );
    assert_eq!(
        meta(m, "test.arr_f32"),
        &Array(vec![Float(0.5), Float(-1.25)])
    );
    assert_eq!(
        meta(m, "test.nested"),
        &Array(vec![Array(vec![Int(1), Int(2)]), Array(vec![Int(3)])])
    );
}

#[test]
fn every_type_little_endian_is_bit_exact() {
    let m = open(&fixture("types-le.gguf")).unwrap();
    assert!(m.warnings().is_empty(), "{:?}", m.warnings());
    let n = check_file("types-le", &m, &[]);
    assert_eq!(n, m.tensors().len());
    // Every quant type of this crate appears, named as ggml spells it.
    for &q in QuantType::ALL {
        let name = format!("t.{}", q.name().to_lowercase());
        let i = m
            .find(&name)
            .unwrap_or_else(|| panic!("fixture lacks {name}"));
        assert_eq!(m.tensors()[i].dtype, DType::Quant(q));
        assert_eq!(m.tensors()[i].dtype.name(), q.name());
        assert_eq!(m.tensors()[i].dtype.kind(), ValueKind::Float);
    }
    let t = &m.tensors()[m.find("t.f32_3d").unwrap()];
    assert_eq!(t.shape, vec![2, 3, 4]);
    assert_eq!(m.tensors()[m.find("t.q4_k").unwrap()].shape, vec![2, 512]);
    assert_eq!(m.tensors()[m.find("t.i32").unwrap()].dtype, DType::I32);
    assert_eq!(prop(&m, "version"), "3");
    assert_eq!(prop(&m, "byte_order"), "little-endian");
    assert_eq!(prop(&m, "alignment"), "32");
    check_metadata(&m);
}

#[test]
fn big_endian_file() {
    let m = open(&fixture("types-be.gguf")).unwrap();
    assert_eq!(prop(&m, "byte_order"), "big-endian");
    assert!(m.tensors().iter().all(|t| t.byte_order == ByteOrder::Big));
    check_metadata(&m);
    let n = check_file("types-be", &m, &["t.q5_0"]);
    assert_eq!(n, m.tensors().len() - 1);
    // Q5_0 is listed, but its big-endian layout is undefined: decoding says so.
    let i = m.find("t.q5_0").unwrap();
    assert_eq!(m.tensors()[i].dtype.name(), "Q5_0");
    let mut out = vec![0f32; 32];
    let e = m.decode_f32(i, 0..32, &mut out).unwrap_err().to_string();
    assert!(e.contains("t.q5_0") && e.contains("big-endian"), "{e}");
}

#[test]
fn odd_alignments() {
    for (file, a) in [("align64", "64"), ("align8", "8")] {
        let m = open(&fixture(&format!("{file}.gguf"))).unwrap();
        assert_eq!(prop(&m, "alignment"), a);
        assert_eq!(check_file(file, &m, &[]), 4);
    }
}

#[test]
fn shards_open_as_one_model() {
    for first in ["split-00001-of-00003.gguf", "split-00002-of-00003.gguf"] {
        let m = open(&fixture(first)).unwrap();
        assert_eq!(m.tensors().len(), 3);
        assert_eq!(prop(&m, "shard_count"), "3");
        let shards: Vec<usize> = m.tensors().iter().map(|t| t.shard).collect();
        assert_eq!(shards, vec![0, 1, 2]);
        assert_eq!(
            meta(&m, "general.name"),
            &MetaValue::Str("split test".into())
        );
        assert_eq!(check_file("split", &m, &[]), 3);
    }
}

/// Builds GGUF files for the malformed-input tests.
struct Builder {
    version: u32,
    kv: Vec<u8>,
    n_kv: u64,
    ti: Vec<u8>,
    n_t: u64,
    align: usize,
    data: Vec<u8>,
}

impl Builder {
    fn new(version: u32) -> Builder {
        Builder {
            version,
            kv: Vec::new(),
            n_kv: 0,
            ti: Vec::new(),
            n_t: 0,
            align: 32,
            data: Vec::new(),
        }
    }
    fn count(&self, v: u64, out: &mut Vec<u8>) {
        if self.version == 1 {
            out.extend_from_slice(&(v as u32).to_le_bytes());
        } else {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    fn string(&self, s: &str, out: &mut Vec<u8>) {
        self.count(s.len() as u64, out);
        out.extend_from_slice(s.as_bytes());
    }
    fn kv_raw(mut self, key: &str, ty: u32, value: &[u8]) -> Builder {
        let mut kv = std::mem::take(&mut self.kv);
        self.string(key, &mut kv);
        kv.extend_from_slice(&ty.to_le_bytes());
        kv.extend_from_slice(value);
        self.kv = kv;
        self.n_kv += 1;
        self
    }
    fn alignment(mut self, a: u32) -> Builder {
        self.align = a.max(1) as usize;
        self.kv_raw("general.alignment", 4, &a.to_le_bytes())
    }
    fn tensor(mut self, name: &str, ne: &[u64], ty: u32, offset: u64) -> Builder {
        let mut ti = std::mem::take(&mut self.ti);
        self.string(name, &mut ti);
        ti.extend_from_slice(&(ne.len() as u32).to_le_bytes());
        for &d in ne {
            self.count(d, &mut ti);
        }
        ti.extend_from_slice(&ty.to_le_bytes());
        ti.extend_from_slice(&offset.to_le_bytes());
        self.ti = ti;
        self.n_t += 1;
        self
    }
    fn data(mut self, d: &[u8]) -> Builder {
        self.data = d.to_vec();
        self
    }
    fn bytes(&self) -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend_from_slice(&self.version.to_le_bytes());
        let mut counts = Vec::new();
        self.count(self.n_t, &mut counts);
        self.count(self.n_kv, &mut counts);
        b.extend_from_slice(&counts);
        b.extend_from_slice(&self.kv);
        b.extend_from_slice(&self.ti);
        while !b.len().is_multiple_of(self.align) {
            b.push(0);
        }
        b.extend_from_slice(&self.data);
        b
    }
}

fn valid(version: u32) -> Builder {
    let data: Vec<u8> = [1.0f32, -2.0, 3.5, 0.25, 5.0, 6.0, 7.0, 8.0]
        .iter()
        .flat_map(|f| f.to_le_bytes())
        .collect();
    Builder::new(version)
        .kv_raw("general.name", 8, &{
            let mut v = Vec::new();
            Builder::new(version).string("x", &mut v);
            v
        })
        .tensor("a", &[4], 0, 0)
        .tensor("b", &[2, 2], 0, 0)
        .data(&data)
}

fn open_bytes(bytes: &[u8]) -> modeldiff_formats::Result<Model> {
    modeldiff_formats::open_bytes("m.gguf", bytes)
}

fn open_err(bytes: &[u8], needle: &str) {
    let e = open_bytes(bytes).unwrap_err().to_string();
    assert!(e.contains(needle), "error {e:?} lacks {needle:?}");
    assert!(e.contains("m.gguf") && !e.contains('\n'), "{e}");
}

#[test]
fn versions_1_2_3_and_overlap_warning() {
    for v in [1, 2, 3] {
        let m = open_bytes(&valid(v).bytes()).unwrap();
        assert_eq!(prop(&m, "version"), v.to_string());
        assert_eq!(decode_all(&m, 0), vec![1.0, -2.0, 3.5, 0.25]);
        assert_eq!(m.tensors()[1].shape, vec![2, 2]);
        // "a" and "b" share their bytes: tolerated, reported.
        assert_eq!(m.warnings().len(), 1, "{:?}", m.warnings());
        assert!(m.warnings()[0].contains("overlaps"));
    }
}

#[test]
fn malformed_headers_are_errors() {
    let good = valid(3).bytes();
    // Every truncation of the header and of the used data (the last 16 bytes are unused).
    for n in 0..good.len() - 16 {
        assert!(open_bytes(&good[..n]).is_err(), "prefix {n} accepted");
    }
    open_err(&good[..20], "truncated");
    let mut b = good.clone();
    b[..4].copy_from_slice(b"GGUX");
    open_err(&b, "unrecognised file format");
    // key length far past the end of the file
    let mut b = good.clone();
    b[24..32].copy_from_slice(&(1u64 << 40).to_le_bytes());
    open_err(&b, "has length 1099511627776");
    // 2^60 tensors
    let mut b = good.clone();
    b[8..16].copy_from_slice(&(1u64 << 60).to_le_bytes());
    open_err(&b, "tensor count 1152921504606846976 cannot fit");
    let mut b = good.clone();
    b[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    open_err(&b, "metadata count");
}

#[test]
fn malformed_tensors_are_errors() {
    let f32s = vec![0u8; 64];
    open_err(
        &valid(3).alignment(3).bytes(),
        "general.alignment is 3, which is not a power of two",
    );
    open_err(&valid(3).alignment(0).bytes(), "general.alignment is 0");
    open_err(
        &Builder::new(3)
            .kv_raw("general.alignment", 10, &64u64.to_le_bytes())
            .bytes(),
        "general.alignment has type u64, expected u32",
    );
    open_err(
        &Builder::new(3)
            .tensor("a", &[4], 0, 1 << 20)
            .data(&f32s)
            .bytes(),
        "past the end",
    );
    open_err(
        &Builder::new(3).tensor("a", &[32], 0, 0).data(&f32s).bytes(),
        "needs 128 bytes",
    );
    open_err(
        &Builder::new(3).tensor("a", &[4], 0, 4).data(&f32s).bytes(),
        "offset 4, not a multiple of the alignment 32",
    );
    open_err(
        &Builder::new(3).tensor("a", &[32], 4, 0).data(&f32s).bytes(),
        "type id 4 (Q4_2), which ggml has removed",
    );
    open_err(
        &Builder::new(3)
            .tensor("a", &[4], 0, 0)
            .tensor("a", &[4], 0, 0)
            .data(&f32s)
            .bytes(),
        "duplicate tensor name `a`",
    );
    open_err(
        &Builder::new(3)
            .kv_raw("k", 4, &[0; 4])
            .kv_raw("k", 4, &[0; 4])
            .bytes(),
        "duplicate metadata key `k`",
    );
    open_err(
        &Builder::new(3).tensor("q", &[33], 2, 0).data(&f32s).bytes(),
        "row length 33, not a multiple of the Q4_0 block size 32",
    );
    open_err(
        &Builder::new(3)
            .tensor("a", &[1, 1, 1, 1, 1], 0, 0)
            .data(&f32s)
            .bytes(),
        "5 dimensions, ggml allows at most 4",
    );
    open_err(
        &Builder::new(3)
            .tensor("a", &[1 << 32, 1 << 32], 0, 0)
            .data(&f32s)
            .bytes(),
        "overflows",
    );
    open_err(
        &Builder::new(3).kv_raw("k", 77, &[0; 4]).bytes(),
        "unknown value type 77",
    );
}

#[test]
fn unknown_type_ids_are_opaque() {
    let m = open_bytes(
        &Builder::new(3)
            .tensor("x", &[10], 99, 0)
            .tensor("y", &[4], 0, 64)
            .data(&[7u8; 96])
            .bytes(),
    )
    .unwrap();
    let x = &m.tensors()[0];
    assert_eq!(x.dtype.name(), "GGML_TYPE_99");
    assert_eq!(x.dtype.kind(), ValueKind::Opaque);
    assert_eq!(x.byte_len(), 64, "sized by the distance to the next tensor");
    assert_eq!(m.tensors()[1].byte_len(), 16);
    let mut out = vec![0f32; 10];
    let e = m.decode_f32(0, 0..10, &mut out).unwrap_err().to_string();
    assert!(e.contains("GGML_TYPE_99"), "{e}");
    // The last tensor runs to the end of the file.
    let m = open_bytes(
        &Builder::new(3)
            .tensor("x", &[10], 120, 0)
            .data(&[1u8; 40])
            .bytes(),
    )
    .unwrap();
    assert_eq!(m.tensors()[0].byte_len(), 40);
}

mod mutation {
    use super::*;
    use proptest::prelude::*;

    fn seed() -> &'static [u8] {
        static SEED: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        SEED.get_or_init(|| std::fs::read(fixture("types-le.gguf")).unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn mutated_files_never_panic(
            edits in prop::collection::vec((0usize..4096, any::<u8>()), 1..8),
            cut in prop::option::of(0usize..20000),
        ) {
            let mut b = seed().to_vec();
            for (at, v) in edits {
                let i = at % b.len();
                b[i] = v;
            }
            if let Some(c) = cut {
                b.truncate(c.min(b.len()));
            }
            if let Ok(m) = open_bytes(&b) {
                // Whatever opened must decode (or refuse) without panicking.
                let mut out = vec![0f32; 512];
                for i in 0..m.tensors().len() {
                    let n = (m.tensors()[i].elements() as usize).min(512);
                    let _ = m.decode_f32(i, 0..n, &mut out[..n]);
                }
            }
        }
    }
}

/// `open_bytes` validates and decodes exactly as `open` does, for every committed fixture of
/// every format.
#[test]
fn open_bytes_equals_open_on_every_fixture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("gguf" | "apr" | "safetensors")
            ) {
                files.push(p);
            }
        }
    }
    assert!(files.len() > 20, "fixtures found: {}", files.len());
    let mut buf_a = Vec::new();
    let mut buf_b = Vec::new();
    for p in files {
        let from_file = open(&p);
        let from_mem = modeldiff_formats::open_bytes(&p, std::fs::read(&p).unwrap());
        let (fa, fb) = match (from_file, from_mem) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(a), Err(b)) => {
                assert_eq!(a.to_string(), b.to_string(), "{}", p.display());
                continue;
            }
            (a, b) => panic!(
                "{}: file {:?} vs memory {:?}",
                p.display(),
                a.err(),
                b.err()
            ),
        };
        // A shard opens its siblings from a file but only itself from memory.
        if fa.tensors().len() != fb.tensors().len() {
            assert!(
                fb.warnings().iter().any(|w| w.contains("shard")),
                "{}",
                p.display()
            );
            continue;
        }
        for (i, (ta, tb)) in fa.tensors().iter().zip(fb.tensors()).enumerate() {
            assert_eq!(
                (&ta.name, ta.dtype, &ta.shape),
                (&tb.name, tb.dtype, &tb.shape)
            );
            assert_eq!(fa.tensor_bytes(i), fb.tensor_bytes(i), "{}", ta.name);
            let n = ta.elements() as usize;
            buf_a.resize(n, 0.0);
            buf_b.resize(n, 0.0);
            let ra = fa.decode_f32(i, 0..n, &mut buf_a);
            let rb = fb.decode_f32(i, 0..n, &mut buf_b);
            assert_eq!(ra.is_ok(), rb.is_ok(), "{}", ta.name);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&buf_a), bits(&buf_b), "{}", ta.name);
        }
    }
}

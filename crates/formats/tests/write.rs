//! Public-API tests of the SafeTensors writer: round trips through the `safetensors` crate and
//! `modeldiff_formats::open`, chunking, f32 conversion, every error path (no temporary file left,
//! target untouched), and interop with the Python `safetensors` package.
//!
//! The Python test runs `tests/fixtures/safetensors/check_writer.py` with `$MODELDIFF_PYTHON` (an
//! absolute path or a command on `PATH`; tests run in the crate directory), or
//! else `<workspace>/target/venv/bin/python` (made by `cargo xtask fixtures`). Without a Python
//! that imports `safetensors` it prints a note and passes, unless `MODELDIFF_REQUIRE_MODELS=1`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use modeldiff_formats::{DType, Error, QuantType, SafeTensorsWriter, TensorSpec};
use safetensors::SafeTensors;
use sha2::{Digest, Sha256};

/// A tensor to write and the bytes it should hold.
struct Case {
    spec: TensorSpec,
    bytes: Vec<u8>,
}

/// Deterministic bytes (xorshift), so every test can regenerate its data.
fn pattern(seed: u32, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// One tensor of every SafeTensors dtype, plus a scalar and an empty tensor.
fn all_dtypes() -> Vec<Case> {
    let mut cases: Vec<Case> = DType::SAFETENSORS
        .iter()
        .enumerate()
        .map(|(i, &dtype)| {
            let shape = [2, 3 + i as u64 % 3];
            let n = (shape[0] * shape[1]) as usize * dtype.block_bytes();
            let mut bytes = pattern(i as u32, n);
            if dtype == DType::Bool {
                bytes.iter_mut().for_each(|b| *b &= 1);
            }
            Case {
                spec: TensorSpec::new(format!("t.{dtype}"), dtype, &shape),
                bytes,
            }
        })
        .collect();
    cases.push(Case {
        spec: TensorSpec::new("scalar", DType::F64, &[]),
        bytes: 2.5f64.to_le_bytes().to_vec(),
    });
    cases.push(Case {
        spec: TensorSpec::new("empty", DType::I32, &[3, 0]),
        bytes: Vec::new(),
    });
    cases
}

fn metadata() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("format".to_string(), "pt".to_string()),
        ("note".to_string(), "quotes \" and ünïcode\n".to_string()),
    ])
}

/// Writes `cases` to `path`, each tensor in chunks of at most `chunk` bytes.
fn write_cases(path: &Path, cases: &[Case], meta: BTreeMap<String, String>, chunk: usize) {
    let specs = cases.iter().map(|c| c.spec.clone()).collect();
    let mut w = SafeTensorsWriter::create(path, specs, meta, &[]).unwrap();
    for c in cases {
        if !c.bytes.is_empty() {
            assert_eq!(w.current(), Some(&c.spec));
            assert_eq!(w.remaining(), c.bytes.len() as u64);
        }
        for part in c.bytes.chunks(chunk) {
            w.write(part).unwrap();
        }
    }
    assert_eq!(w.current(), None);
    assert_eq!(w.remaining(), 0);
    w.finish().unwrap();
}

/// The names in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn st_dtype(d: DType) -> safetensors::Dtype {
    use safetensors::Dtype as S;
    match d {
        DType::F64 => S::F64,
        DType::F32 => S::F32,
        DType::F16 => S::F16,
        DType::BF16 => S::BF16,
        DType::F8E4M3 => S::F8_E4M3,
        DType::F8E5M2 => S::F8_E5M2,
        DType::I8 => S::I8,
        DType::I16 => S::I16,
        DType::I32 => S::I32,
        DType::I64 => S::I64,
        DType::U8 => S::U8,
        DType::U16 => S::U16,
        DType::U32 => S::U32,
        DType::U64 => S::U64,
        DType::Bool => S::BOOL,
        other => panic!("{other} is not a SafeTensors dtype"),
    }
}

#[test]
fn round_trip_through_safetensors_and_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.safetensors");
    let cases = all_dtypes();
    write_cases(&path, &cases, metadata(), usize::MAX);
    assert_eq!(entries(dir.path()), ["all.safetensors"]);

    // The `safetensors` crate's reader.
    let file = fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&file).unwrap();
    assert_eq!(st.len(), cases.len());
    for c in &cases {
        let v = st.tensor(&c.spec.name).unwrap();
        assert_eq!(v.dtype(), st_dtype(c.spec.dtype), "{}", c.spec.name);
        let shape: Vec<u64> = v.shape().iter().map(|&d| d as u64).collect();
        assert_eq!(shape, c.spec.shape, "{}", c.spec.name);
        assert_eq!(v.data(), c.bytes.as_slice(), "{}", c.spec.name);
    }
    let (_, header) = SafeTensors::read_metadata(&file).unwrap();
    let meta: BTreeMap<String, String> = header.metadata().clone().unwrap().into_iter().collect();
    assert_eq!(meta, metadata());

    // This crate's reader: same order, dtypes, shapes, bytes and metadata.
    let m = modeldiff_formats::open(&path).unwrap();
    assert_eq!(m.tensors().len(), cases.len());
    for (i, (t, c)) in m.tensors().iter().zip(&cases).enumerate() {
        assert_eq!(
            (&t.name, t.dtype, &t.shape),
            (&c.spec.name, c.spec.dtype, &c.spec.shape)
        );
        assert_eq!(m.tensor_bytes(i), c.bytes.as_slice(), "{}", t.name);
    }
    let meta: BTreeMap<String, String> = m
        .metadata()
        .iter()
        .map(|(k, v)| match v {
            modeldiff_formats::MetaValue::Str(s) => (k.clone(), s.clone()),
            other => panic!("{k}: {other:?}"),
        })
        .collect();
    assert_eq!(meta, metadata());
}

#[test]
fn same_bytes_as_safetensors_serialize() {
    // Declared in the order `safetensors::serialize` chooses (larger dtypes first, then by
    // name), with at most one metadata key (its map is a HashMap): the files must be identical.
    let mut cases = all_dtypes();
    cases.sort_by(|a, b| {
        st_dtype(b.spec.dtype)
            .cmp(&st_dtype(a.spec.dtype))
            .then(a.spec.name.cmp(&b.spec.name))
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours.safetensors");
    let meta = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    write_cases(&path, &cases, meta.clone(), 5);

    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = cases
        .iter()
        .map(|c| {
            let shape = c.spec.shape.iter().map(|&d| d as usize).collect();
            let v = safetensors::tensor::TensorView::new(st_dtype(c.spec.dtype), shape, &c.bytes);
            (c.spec.name.clone(), v.unwrap())
        })
        .collect();
    let theirs = safetensors::serialize(views, Some(meta.into_iter().collect())).unwrap();
    assert_eq!(fs::read(&path).unwrap(), theirs);
}

#[test]
fn chunked_writes_equal_one_shot() {
    let dir = tempfile::tempdir().unwrap();
    let cases = all_dtypes();
    let one = dir.path().join("one.safetensors");
    write_cases(&one, &cases, metadata(), usize::MAX);
    let want = fs::read(&one).unwrap();
    for chunk in [1, 2, 3, 7, 64] {
        let p = dir.path().join(format!("chunk{chunk}.safetensors"));
        write_cases(&p, &cases, metadata(), chunk);
        assert_eq!(fs::read(&p).unwrap(), want, "chunks of {chunk}");
    }
}

/// f32 inputs covering specials, subnormals of both f32 and f16, ties and overflow.
fn tricky_f32() -> Vec<f32> {
    let mut v = vec![
        0.0,
        -0.0,
        1.0,
        -1.5,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
        f32::from_bits(0x7f80_0001), // signalling NaN
        f32::from_bits(0x7fc0_1234), // NaN with payload
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        f32::from_bits(1), // smallest f32 subnormal
        f32::from_bits(0x007f_ffff),
        65504.0,
        65519.99,
        65520.0,
        2f32.powi(-14),
        2f32.powi(-24),
        2f32.powi(-25),
        3.0 * 2f32.powi(-26),
        1.0 + 2f32.powi(-11),
        1.0 + 3.0 * 2f32.powi(-11),
        f32::from_bits(0x3f80_8000),
        f32::from_bits(0x3f81_8000),
    ];
    let bytes = pattern(99, 4 * 20_000);
    v.extend(
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
    );
    v
}

#[test]
fn write_f32_converts_like_half() {
    let values = tricky_f32();
    let n = values.len() as u64;
    let want_f16: Vec<u8> = values
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect();
    let want_bf16: Vec<u8> = values
        .iter()
        .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
        .collect();
    let want_f32: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let want_f64: Vec<u8> = values
        .iter()
        .flat_map(|&v| f64::from(v).to_le_bytes())
        .collect();
    let specs = vec![
        TensorSpec::new("h", DType::F16, &[n]),
        TensorSpec::new("b", DType::BF16, &[n]),
        TensorSpec::new("f", DType::F32, &[n]),
        TensorSpec::new("d", DType::F64, &[n]),
    ];

    let dir = tempfile::tempdir().unwrap();
    // One call per tensor, and chunks that straddle the internal conversion buffer.
    for chunk in [usize::MAX, 1000, 8191, 8193] {
        let path = dir.path().join(format!("f{chunk}.safetensors"));
        let mut w = SafeTensorsWriter::create(&path, specs.clone(), BTreeMap::new(), &[]).unwrap();
        for _ in &specs {
            for part in values.chunks(chunk.min(values.len())) {
                w.write_f32(part).unwrap();
            }
        }
        w.finish().unwrap();
        let m = modeldiff_formats::open(&path).unwrap();
        assert_eq!(m.tensor_bytes(0), want_f16.as_slice());
        assert_eq!(m.tensor_bytes(1), want_bf16.as_slice());
        assert_eq!(m.tensor_bytes(2), want_f32.as_slice());
        assert_eq!(m.tensor_bytes(3), want_f64.as_slice());
    }
    // Spot checks independent of `half`: ties to even, overflow, subnormals, NaN stays NaN.
    let f16_at = |v: f32| {
        let i = values
            .iter()
            .position(|x| x.to_bits() == v.to_bits())
            .unwrap();
        u16::from_le_bytes([want_f16[2 * i], want_f16[2 * i + 1]])
    };
    assert_eq!(f16_at(65520.0), 0x7c00);
    assert_eq!(f16_at(65519.99), 0x7bff);
    assert_eq!(f16_at(2f32.powi(-25)), 0x0000);
    assert_eq!(f16_at(3.0 * 2f32.powi(-26)), 0x0001);
    assert_eq!(f16_at(1.0 + 2f32.powi(-11)), 0x3c00);
    assert_eq!(f16_at(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
    assert_eq!(f16_at(f32::from_bits(1)), 0x0000);
    assert_eq!(f16_at(f32::from_bits(0x7f80_0001)) & 0x7c00, 0x7c00);
    assert_ne!(f16_at(f32::from_bits(0x7f80_0001)) & 0x03ff, 0);
}

/// A directory with `target` already holding known bytes, for checking it stays untouched.
struct Scene {
    dir: tempfile::TempDir,
    target: PathBuf,
}

const OLD: &[u8] = b"previous contents";

impl Scene {
    fn new() -> Scene {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.safetensors");
        fs::write(&target, OLD).unwrap();
        Scene { dir, target }
    }

    /// Asserts the directory holds exactly `names` (no temporary file) and the target is
    /// unchanged.
    fn assert_untouched(&self, names: &[&str]) {
        assert_eq!(entries(self.dir.path()), names);
        assert_eq!(fs::read(&self.target).unwrap(), OLD);
    }
}

fn two_tensors() -> Vec<TensorSpec> {
    vec![
        TensorSpec::new("a", DType::F32, &[2]),
        TensorSpec::new("b", DType::U8, &[3]),
    ]
}

#[test]
fn too_many_bytes_names_the_tensor() {
    let s = Scene::new();
    let mut w = SafeTensorsWriter::create(&s.target, two_tensors(), BTreeMap::new(), &[]).unwrap();
    w.write(&[0; 4]).unwrap();
    let err = w.write(&[0; 5]).unwrap_err();
    match &err {
        Error::WriteSize {
            path,
            tensor,
            expected,
            actual,
        } => assert_eq!(
            (path, tensor.as_str(), *expected, *actual),
            (&s.target, "a", 8, 9)
        ),
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().ends_with("tensor `a` needs 8 bytes, got 9"),
        "{err}"
    );
    // The writer is spent, its temporary file already gone.
    s.assert_untouched(&["out.safetensors"]);
    let again = w.write(&[0; 1]).unwrap_err();
    assert!(matches!(again, Error::Write { .. }), "{again:?}");
    assert!(matches!(w.finish().unwrap_err(), Error::Write { .. }));
    s.assert_untouched(&["out.safetensors"]);
}

#[test]
fn too_few_bytes_names_the_tensor() {
    let s = Scene::new();
    let mut w = SafeTensorsWriter::create(&s.target, two_tensors(), BTreeMap::new(), &[]).unwrap();
    w.write_f32(&[1.0, 2.0]).unwrap();
    w.write(&[1, 2]).unwrap();
    let err = w.finish().unwrap_err();
    assert!(
        matches!(&err, Error::WriteSize { tensor, expected: 3, actual: 2, .. } if tensor == "b"),
        "{err:?}"
    );
    assert!(
        err.to_string().ends_with("tensor `b` needs 3 bytes, got 2"),
        "{err}"
    );
    s.assert_untouched(&["out.safetensors"]);
}

#[test]
fn bytes_after_the_last_tensor_are_an_error() {
    let s = Scene::new();
    let mut w = SafeTensorsWriter::create(&s.target, two_tensors(), BTreeMap::new(), &[]).unwrap();
    w.write(&[0; 8]).unwrap();
    w.write(&[0; 3]).unwrap();
    w.write(&[]).unwrap();
    let err = w.write(&[0]).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("1 bytes given after the last tensor `b` was complete"),
        "{err}"
    );
    s.assert_untouched(&["out.safetensors"]);

    let mut w = SafeTensorsWriter::create(&s.target, vec![], BTreeMap::new(), &[]).unwrap();
    let err = w.write_f32(&[1.0]).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("1 values given, but no tensors were declared"),
        "{err}"
    );
    s.assert_untouched(&["out.safetensors"]);
}

#[test]
fn write_f32_refuses_non_float_dtypes() {
    for dtype in [DType::I32, DType::U8, DType::Bool, DType::F8E4M3] {
        let s = Scene::new();
        let specs = vec![TensorSpec::new("w", dtype, &[4])];
        let mut w = SafeTensorsWriter::create(&s.target, specs, BTreeMap::new(), &[]).unwrap();
        let err = w.write_f32(&[1.0; 4]).unwrap_err();
        assert!(
            matches!(&err, Error::WriteTensor { tensor, .. } if tensor == "w"),
            "{err:?}"
        );
        assert!(err.to_string().contains(&format!("not {dtype}")), "{err}");
        s.assert_untouched(&["out.safetensors"]);
    }
}

#[test]
fn invalid_declarations_fail_before_writing() {
    let q4k = DType::Quant(QuantType::from_gguf_id(12).unwrap());
    let cases: Vec<(Vec<TensorSpec>, &str)> = vec![
        (
            vec![TensorSpec::new("q", q4k, &[256])],
            "cannot write tensor `q`: dtype Q4_K cannot be stored in SafeTensors",
        ),
        (
            vec![TensorSpec::new("a", DType::AprQ4, &[32])],
            "cannot write tensor `a`: dtype APR_Q4 cannot be stored in SafeTensors",
        ),
        (
            vec![
                TensorSpec::new("x", DType::F32, &[1]),
                TensorSpec::new("x", DType::F32, &[1]),
            ],
            "cannot write tensor `x`: declared twice",
        ),
        (
            vec![TensorSpec::new("__metadata__", DType::U8, &[1])],
            "cannot write tensor `__metadata__`: the name `__metadata__` is reserved for metadata",
        ),
        (
            vec![TensorSpec::new("huge", DType::U64, &[u64::MAX, 2])],
            "cannot write tensor `huge`: shape [18446744073709551615, 2] overflows the byte size",
        ),
    ];
    for (specs, want) in cases {
        let s = Scene::new();
        let err = SafeTensorsWriter::create(&s.target, specs, BTreeMap::new(), &[]).unwrap_err();
        assert!(matches!(err, Error::WriteTensor { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("{}: {want}", s.target.display()),
            "{err}"
        );
        s.assert_untouched(&["out.safetensors"]);
    }
}

#[test]
fn drop_without_finish_leaves_nothing() {
    let s = Scene::new();
    let mut w = SafeTensorsWriter::create(&s.target, two_tensors(), BTreeMap::new(), &[]).unwrap();
    w.write(&[7; 8]).unwrap();
    let names = entries(s.dir.path());
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names[0].starts_with(".out.safetensors.tmp-"),
        "temporary file next to the target: {names:?}"
    );
    drop(w);
    s.assert_untouched(&["out.safetensors"]);

    // A fresh target that never existed stays absent.
    let fresh = s.dir.path().join("new.safetensors");
    let w = SafeTensorsWriter::create(&fresh, two_tensors(), BTreeMap::new(), &[]).unwrap();
    drop(w);
    s.assert_untouched(&["out.safetensors"]);
}

#[test]
fn finish_replaces_an_existing_unprotected_file() {
    let s = Scene::new();
    let input = s.dir.path().join("in.safetensors");
    fs::write(&input, b"input").unwrap();
    let mut w =
        SafeTensorsWriter::create(&s.target, two_tensors(), BTreeMap::new(), &[&input]).unwrap();
    w.write(&[1; 8]).unwrap();
    w.write(&[2; 3]).unwrap();
    w.finish().unwrap();
    assert_eq!(entries(s.dir.path()), ["in.safetensors", "out.safetensors"]);
    let m = modeldiff_formats::open(&s.target).unwrap();
    assert_eq!(m.tensor_bytes(1), [2; 3]);
    assert_eq!(fs::read(&input).unwrap(), b"input");
}

#[test]
fn target_that_is_a_directory_is_refused() {
    let s = Scene::new();
    let sub = s.dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    let err = SafeTensorsWriter::create(&sub, two_tensors(), BTreeMap::new(), &[]).unwrap_err();
    assert!(matches!(err, Error::Write { .. }), "{err:?}");
    s.assert_untouched(&["out.safetensors", "sub"]);
    assert_eq!(entries(&sub), Vec::<String>::new());
}

/// Every spelling of the protected input is refused before anything is written.
#[cfg(unix)]
#[test]
fn refuses_to_overwrite_an_input_by_any_name() {
    let s = Scene::new();
    let input = &s.target; // holds OLD
    let sub = s.dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    let link = s.dir.path().join("link.safetensors");
    std::os::unix::fs::symlink(input, &link).unwrap();
    let hard = s.dir.path().join("hard.safetensors");
    fs::hard_link(input, &hard).unwrap();
    let dotdot = sub.join("..").join("out.safetensors");
    let names = [
        "hard.safetensors",
        "link.safetensors",
        "out.safetensors",
        "sub",
    ];

    // (target, protected input): the target spelled differently, or the input spelled
    // differently.
    let spellings: [(&Path, &Path); 5] = [
        (input, input),
        (&link, input),
        (&dotdot, input),
        (&hard, input),
        (input, &link),
    ];
    for (target, protected) in spellings {
        let err = SafeTensorsWriter::create(target, two_tensors(), BTreeMap::new(), &[protected])
            .unwrap_err();
        match &err {
            Error::OverwriteInput { path, input } => {
                assert_eq!((path.as_path(), input.as_path()), (target, protected))
            }
            other => panic!("{}: {other:?}", target.display()),
        }
        assert!(
            err.to_string().contains("refusing to overwrite input"),
            "{err}"
        );
        s.assert_untouched(&names);
        assert_eq!(fs::read(&hard).unwrap(), OLD);
    }
}

/// The file is created like `File::create` would create it (mode 0o666 less the umask), not
/// with the temporary file's private mode.
#[cfg(unix)]
#[test]
fn output_gets_default_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    fs::File::create(&plain).unwrap();
    let out = dir.path().join("out.safetensors");
    SafeTensorsWriter::create(&out, vec![], BTreeMap::new(), &[])
        .unwrap()
        .finish()
        .unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&out), mode(&plain));
}

/// A Python with `safetensors` and numpy, if one is configured or was set up by xtask.
fn python() -> Option<PathBuf> {
    let probe = |py: &Path| {
        Command::new(py)
            .args(["-c", "import safetensors, numpy"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if let Some(py) = std::env::var_os("MODELDIFF_PYTHON") {
        let py = PathBuf::from(py);
        assert!(
            probe(&py),
            "MODELDIFF_PYTHON={} cannot import safetensors and numpy",
            py.display()
        );
        return Some(py);
    }
    let venv = workspace().join("target/venv/bin/python");
    if probe(&venv) {
        return Some(venv);
    }
    let required = std::env::var("MODELDIFF_REQUIRE_MODELS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "MODELDIFF_REQUIRE_MODELS=1 but no Python with safetensors: set MODELDIFF_PYTHON or run `cargo xtask fixtures`"
    );
    eprintln!(
        "skipping: no Python with safetensors (set MODELDIFF_PYTHON or create {} with `cargo xtask fixtures`)",
        venv.display()
    );
    None
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn python_safetensors_reads_what_we_write() {
    let Some(py) = python() else {
        return;
    };
    let values = tricky_f32();
    let n = values.len() as u64;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("interop.safetensors");
    let i64s: Vec<u8> = [-3i64, 0, i64::MAX, i64::MIN]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let cases = [
        (TensorSpec::new("f32", DType::F32, &[n]), None),
        (TensorSpec::new("f16", DType::F16, &[n]), None),
        (TensorSpec::new("layers.0.bf16", DType::BF16, &[n]), None),
        (TensorSpec::new("i64", DType::I64, &[2, 2]), Some(i64s)),
        (
            TensorSpec::new("mask", DType::Bool, &[5]),
            Some(vec![1, 0, 0, 1, 1]),
        ),
        (
            TensorSpec::new("u8", DType::U8, &[3, 1]),
            Some(vec![0, 128, 255]),
        ),
        (
            TensorSpec::new("scalar", DType::F32, &[]),
            Some(0.25f32.to_le_bytes().to_vec()),
        ),
        (TensorSpec::new("empty", DType::F16, &[0, 7]), Some(vec![])),
    ];
    let specs = cases.iter().map(|(s, _)| s.clone()).collect();
    let mut w = SafeTensorsWriter::create(&path, specs, metadata(), &[]).unwrap();
    for (_, raw) in &cases {
        match raw {
            Some(bytes) => w.write(bytes).unwrap(),
            None => w.write_f32(&values).unwrap(),
        }
    }
    w.finish().unwrap();

    let script = workspace().join("tests/fixtures/safetensors/check_writer.py");
    let out = Command::new(&py).arg(&script).arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let m = modeldiff_formats::open(&path).unwrap();
    let mut tensors = serde_json::Map::new();
    for (i, t) in m.tensors().iter().enumerate() {
        let digest: String = Sha256::digest(m.tensor_bytes(i))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        tensors.insert(
            t.name.clone(),
            serde_json::json!({ "dtype": t.dtype.name(), "shape": t.shape, "sha256": digest }),
        );
    }
    // What Python read equals what we meant to write: raw tensors byte for byte, converted ones
    // as `half` converts them.
    let f16: Vec<u8> = values
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect();
    assert_eq!(m.tensor_bytes(m.find("f16").unwrap()), f16.as_slice());
    for (spec, raw) in &cases {
        if let Some(bytes) = raw {
            assert_eq!(
                m.tensor_bytes(m.find(&spec.name).unwrap()),
                bytes.as_slice()
            );
        }
    }
    let want = serde_json::json!({ "metadata": metadata(), "tensors": tensors });
    assert_eq!(got, want);
}

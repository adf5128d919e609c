//! The one-pass header reader (`header.rs`) against the old path (`parse_slow`: our duplicate
//! check, the `safetensors` crate, our dtype mapping) on hand-written headers and generated ones.

use std::path::Path;

use proptest::prelude::*;

use super::{fast_path_disagreement, header, parse, parse_slow};

/// A file: the little-endian header length, the header bytes, then `data` zero bytes.
fn file_bytes(header: &[u8], data: usize) -> Vec<u8> {
    let mut f = (header.len() as u64).to_le_bytes().to_vec();
    f.extend_from_slice(header);
    f.resize(f.len() + data, 0);
    f
}

fn file(header: &str, data: usize) -> Vec<u8> {
    file_bytes(header.as_bytes(), data)
}

/// Every name the `safetensors` 0.6 crate knows, with its `bitsize`.
const DTYPES: [(&str, usize); 19] = [
    ("BOOL", 8),
    ("F4", 4),
    ("F6_E2M3", 6),
    ("F6_E3M2", 6),
    ("U8", 8),
    ("I8", 8),
    ("F8_E5M2", 8),
    ("F8_E4M3", 8),
    ("F8_E8M0", 8),
    ("I16", 16),
    ("U16", 16),
    ("F16", 16),
    ("BF16", 16),
    ("I32", 32),
    ("U32", 32),
    ("F32", 32),
    ("F64", 64),
    ("I64", 64),
    ("U64", 64),
];

/// The crate's names that modeldiff cannot decode (`dtype_of` rejects them).
const UNDECODABLE: [&str; 4] = ["F4", "F6_E2M3", "F6_E3M2", "F8_E8M0"];

/// Fails unless the paths agree on `f` (see [`fast_path_disagreement`]) and `parse` accepts
/// what the old path accepts; returns whether the fast path accepted `f`. (When the fast path
/// declines, `parse` is the old path, message included; comparing two runs of it here would
/// only show that it names a tensor in hash-map order when several share offsets.)
fn check(what: &str, f: &[u8]) -> bool {
    if let Some(d) = fast_path_disagreement(f) {
        panic!("{what}: {d}");
    }
    let p = Path::new("t.safetensors");
    assert_eq!(
        parse(p, f, 0).is_ok(),
        parse_slow(p, f, 0).is_ok(),
        "{what}"
    );
    header::parse(f, 0).is_ok()
}

fn accepted(what: &str, f: &[u8]) {
    assert!(check(what, f), "{what}: the fast path should accept it");
}

fn declined(what: &str, f: &[u8]) {
    assert!(!check(what, f), "{what}: the fast path should decline it");
    assert!(
        parse_slow(Path::new("t"), f, 0).is_err(),
        "{what}: the old path should reject it"
    );
}

const W: &str = r#""w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}"#;

#[test]
fn valid_headers_take_the_fast_path_with_the_same_result() {
    let cases: &[(&str, &str, usize)] = &[
        ("one tensor", &format!("{{{W}}}"), 16),
        ("no tensors", "{}", 0),
        (
            "no tensors, only metadata",
            r#"{"__metadata__":{"format":"pt"}}"#,
            0,
        ),
        (
            "metadata",
            &format!(r#"{{"__metadata__":{{"a":"1","b":"two"}},{W}}}"#),
            16,
        ),
        (
            "metadata after the tensors",
            &format!(r#"{{{W},"__metadata__":{{"a":""}}}}"#),
            16,
        ),
        (
            "null metadata",
            &format!(r#"{{"__metadata__":null,{W}}}"#),
            16,
        ),
        (
            "empty metadata",
            &format!(r#"{{"__metadata__":{{}},{W}}}"#),
            16,
        ),
        (
            "a metadata key twice (the last wins on both paths)",
            &format!(r#"{{"__metadata__":{{"k":"1","k":"2"}},{W}}}"#),
            16,
        ),
        (
            "scalar (empty shape)",
            r#"{"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}"#,
            8,
        ),
        (
            "zero-sized tensors sharing offsets",
            r#"{"b":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"I8","shape":[3,0,2],"data_offsets":[0,0]},"c":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"d":{"dtype":"F16","shape":[0],"data_offsets":[2,2]}}"#,
            2,
        ),
        (
            "tensors out of offset order",
            r#"{"z":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"y":{"dtype":"U8","shape":[3],"data_offsets":[4,7]},"x":{"dtype":"U8","shape":[3],"data_offsets":[1,4]}}"#,
            7,
        ),
        (
            "unknown fields, of any JSON",
            r#"{"w":{"x":1,"dtype":"F32","y":[null,true,{"z":[1.5,-2,"s"]}],"shape":[1],"data_offsets":[0,4],"x":{}}}"#,
            4,
        ),
        (
            "fields in another order",
            r#"{"w":{"data_offsets":[0,4],"shape":[1],"dtype":"F32"}}"#,
            4,
        ),
        ("an entry as an array", r#"{"w":["F32",[1],[0,4]]}"#, 4),
        (
            "a dtype as a one-key object",
            r#"{"w":{"dtype":{"F32":null},"shape":[1],"data_offsets":[0,4]}}"#,
            4,
        ),
        (
            "escaped names",
            r#"{"\u0077\n\"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            4,
        ),
        (
            "escaped metadata key",
            r#"{"__metadata\u005f_":{"k":"v"}}"#,
            0,
        ),
        (
            "escaped field names",
            r#"{"w":{"\u0064type":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            4,
        ),
        (
            "whitespace around the JSON",
            &format!(" \n\t\r{{ {W} }} \n\t\r"),
            16,
        ),
        (
            "unicode names",
            r#"{"größe→λ":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
            1,
        ),
        (
            "a name like the crate's fields",
            r#"{"dtype":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
            1,
        ),
    ];
    for (what, h, data) in cases {
        accepted(what, &file(h, *data));
    }
    for (name, bits) in DTYPES {
        if UNDECODABLE.contains(&name) {
            continue;
        }
        let h = format!(
            r#"{{"t":{{"dtype":"{name}","shape":[3,2],"data_offsets":[0,{}]}}}}"#,
            6 * bits / 8
        );
        accepted(name, &file(&h, 6 * bits / 8));
    }
}

#[test]
fn the_fast_path_builds_what_the_old_path_built() {
    let h = r#"{"__metadata__":{"m":"v"},"b":{"dtype":"BF16","shape":[2,3],"data_offsets":[8,20]},"a":{"dtype":"U64","shape":[1],"data_offsets":[0,8]}}"#;
    let f = file(h, 20);
    let (tensors, meta, n) = header::parse(&f, 3).expect("fast path");
    assert_eq!(n, h.len());
    assert_eq!(meta.unwrap()["m"], "v");
    let got: Vec<_> = tensors
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.dtype,
                t.shape.clone(),
                t.file_offset,
                t.storage,
                t.start,
                t.len,
            )
        })
        .collect();
    let d = 8 + h.len();
    assert_eq!(
        got,
        [
            ("a", crate::DType::U64, vec![1], d as u64, 3, d, 8),
            (
                "b",
                crate::DType::BF16,
                vec![2, 3],
                (d + 8) as u64,
                3,
                d + 8,
                12
            )
        ]
    );
}

#[test]
fn invalid_headers_are_declined_by_the_fast_path_and_rejected_by_the_old() {
    let t = |dtype: &str, shape: &str, off: &str| {
        format!(r#"{{"w":{{"dtype":{dtype},"shape":{shape},"data_offsets":{off}}}}}"#)
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty file", vec![]),
        ("shorter than the length", vec![1, 0, 0]),
        (
            "header past the end",
            file(&format!("{{{W}}}"), 16)[..30].to_vec(),
        ),
        ("data cut short", file(&format!("{{{W}}}"), 10)),
        ("trailing data", file(&format!("{{{W}}}"), 20)),
        ("no tensors, trailing data", file("{}", 4)),
        ("length u64::MAX", {
            let mut f = file("{}", 0);
            f[..8].copy_from_slice(&u64::MAX.to_le_bytes());
            f
        }),
        ("length over 100 MB", {
            let mut f = file("{}", 0);
            f[..8].copy_from_slice(&100_000_001u64.to_le_bytes());
            f
        }),
        ("empty header", file("", 0)),
        ("not JSON", file("hello", 0)),
        ("an array", file("[]", 0)),
        ("null", file("null", 0)),
        ("a string", file(r#""w""#, 0)),
        ("a number", file("1", 0)),
        ("trailing characters", file("{}x", 0)),
        ("NUL padding", file("{}\0\0", 0)),
        ("two objects", file("{}{}", 0)),
        ("trailing comma", file(r#"{"__metadata__":{},}"#, 0)),
        (
            "non-UTF-8 in a name",
            file_bytes(
                b"{\"\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
                1,
            ),
        ),
        ("non-UTF-8 after the JSON", file_bytes(b"{} \xff", 0)),
        (
            "lone surrogate in a name",
            file(
                r#"{"\ud800":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
                1,
            ),
        ),
        (
            "lone surrogate in an unknown field",
            file(
                r#"{"w":{"x":"\ud800","dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
                1,
            ),
        ),
        (
            "control character in an unknown field",
            file(
                "{\"w\":{\"x\":\"\u{1}\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
                1,
            ),
        ),
        ("unknown dtype", file(&t(r#""Q4_0""#, "[1]", "[0,1]"), 1)),
        ("lowercase dtype", file(&t(r#""f32""#, "[1]", "[0,4]"), 4)),
        ("dtype a number", file(&t("5", "[1]", "[0,4]"), 4)),
        ("dtype null", file(&t("null", "[1]", "[0,4]"), 4)),
        ("dtype an array", file(&t(r#"["F32"]"#, "[1]", "[0,4]"), 4)),
        (
            "dtype object with a non-null value",
            file(&t(r#"{"F32":{}}"#, "[1]", "[0,4]"), 4),
        ),
        (
            "dtype object with a list value",
            file(&t(r#"{"F32":[]}"#, "[1]", "[0,4]"), 4),
        ),
        (
            "dtype object with two keys",
            file(&t(r#"{"F32":null,"F16":null}"#, "[1]", "[0,4]"), 4),
        ),
        (
            "dtype object with one key twice",
            file(&t(r#"{"F32":null,"F32":null}"#, "[1]", "[0,4]"), 4),
        ),
        ("dtype empty object", file(&t("{}", "[1]", "[0,4]"), 4)),
        (
            "dtype object, unknown name",
            file(&t(r#"{"F33":null}"#, "[1]", "[0,4]"), 4),
        ),
        ("shape a string", file(&t(r#""F32""#, r#""1""#, "[0,4]"), 4)),
        ("shape null", file(&t(r#""F32""#, "null", "[0,4]"), 4)),
        ("shape a number", file(&t(r#""F32""#, "1", "[0,4]"), 4)),
        ("shape of floats", file(&t(r#""F32""#, "[1.0]", "[0,4]"), 4)),
        (
            "shape with an exponent",
            file(&t(r#""F32""#, "[1e0]", "[0,4]"), 4),
        ),
        ("shape negative", file(&t(r#""F32""#, "[-1]", "[0,4]"), 4)),
        ("shape -0", file(&t(r#""F32""#, "[-0]", "[0,0]"), 0)),
        (
            "shape leading zero",
            file(&t(r#""F32""#, "[01]", "[0,4]"), 4),
        ),
        (
            "shape 2^64",
            file(&t(r#""F32""#, "[18446744073709551616]", "[0,4]"), 4),
        ),
        (
            "shape string element",
            file(&t(r#""F32""#, r#"["1"]"#, "[0,4]"), 4),
        ),
        ("offsets one number", file(&t(r#""F32""#, "[1]", "[4]"), 4)),
        (
            "offsets three numbers",
            file(&t(r#""F32""#, "[1]", "[0,4,4]"), 4),
        ),
        (
            "offsets an object",
            file(&t(r#""F32""#, "[1]", r#"{"0":0,"1":4}"#), 4),
        ),
        ("offsets negative", file(&t(r#""F32""#, "[1]", "[-4,0]"), 4)),
        (
            "offsets end before start",
            file(&t(r#""F32""#, "[1]", "[4,0]"), 4),
        ),
        (
            "offsets not from zero",
            file(&t(r#""U8""#, "[1]", "[1,2]"), 2),
        ),
        ("wrong size", file(&t(r#""F32""#, "[2]", "[0,4]"), 4)),
        (
            "size overflows usize",
            file(&t(r#""U8""#, "[4294967296,4294967296]", "[0,0]"), 0),
        ),
        (
            "bits overflow, bytes would not",
            file(
                &t(
                    r#""U8""#,
                    "[2305843009213693953]",
                    "[0,2305843009213693953]",
                ),
                0,
            ),
        ),
        (
            "offsets near usize::MAX",
            file(
                &t(
                    r#""U8""#,
                    "[1]",
                    "[18446744073709551614,18446744073709551615]",
                ),
                0,
            ),
        ),
        (
            "missing dtype",
            file(r#"{"w":{"shape":[1],"data_offsets":[0,1]}}"#, 1),
        ),
        (
            "missing shape",
            file(r#"{"w":{"dtype":"U8","data_offsets":[0,1]}}"#, 1),
        ),
        (
            "missing offsets",
            file(r#"{"w":{"dtype":"U8","shape":[1]}}"#, 1),
        ),
        (
            "a field twice",
            file(
                r#"{"w":{"dtype":"U8","shape":[1],"shape":[1],"data_offsets":[0,1]}}"#,
                1,
            ),
        ),
        ("an entry array too short", file(r#"{"w":["U8",[1]]}"#, 1)),
        (
            "an entry array too long",
            file(r#"{"w":["U8",[1],[0,1],null]}"#, 1),
        ),
        ("an entry a string", file(r#"{"w":"U8"}"#, 1)),
        ("an entry null", file(r#"{"w":null}"#, 0)),
        ("metadata a list", file(r#"{"__metadata__":[]}"#, 0)),
        ("metadata a string", file(r#"{"__metadata__":"x"}"#, 0)),
        (
            "metadata with a number",
            file(r#"{"__metadata__":{"a":1}}"#, 0),
        ),
        (
            "metadata with null",
            file(r#"{"__metadata__":{"a":null}}"#, 0),
        ),
        (
            "metadata twice",
            file(r#"{"__metadata__":{},"__metadata__":{}}"#, 0),
        ),
        (
            "metadata null twice",
            file(r#"{"__metadata__":null,"__metadata__":null}"#, 0),
        ),
        ("a name twice, last", file(&format!("{{{W},{W}}}"), 16)),
        (
            "gap",
            file(
                r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}"#,
                3,
            ),
        ),
        (
            "overlap",
            file(
                r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}"#,
                3,
            ),
        ),
        (
            "same offsets, not empty",
            file(
                r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#,
                2,
            ),
        ),
    ];
    for (what, f) in &cases {
        declined(what, f);
    }
    // Decoded by the crate, not by modeldiff: the old path names the dtype.
    for name in UNDECODABLE {
        let bytes = 8 * DTYPES.iter().find(|d| d.0 == name).unwrap().1 / 8;
        let h = format!(r#"{{"t":{{"dtype":"{name}","shape":[8],"data_offsets":[0,{bytes}]}}}}"#);
        declined(name, &file(&h, bytes));
    }
    // A misaligned sub-byte tensor.
    declined(
        "F4 odd",
        &file(
            r#"{"t":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#,
            2,
        ),
    );
}

/// The error `parse` gives for `f`.
fn msg(f: &[u8]) -> String {
    parse(Path::new("m.safetensors"), f, 0)
        .unwrap_err()
        .to_string()
}

#[test]
fn messages_are_the_old_paths() {
    let gap = file(
        r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}"#,
        3,
    );
    assert!(
        msg(&gap).ends_with("tensor `b` starts at 2, leaving a gap of 1 bytes after tensor `a`"),
        "{}",
        msg(&gap)
    );
    let twice = file(&format!("{{{W},{W}}}"), 16);
    assert!(
        msg(&twice).ends_with("tensor name `w` appears twice in the header"),
        "{}",
        msg(&twice)
    );
    let cut = file(&format!("{{{W}}}"), 10);
    assert!(
        msg(&cut).contains("truncated: tensor data ends at byte"),
        "{}",
        msg(&cut)
    );
    let f4 = file(
        r#"{"t":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}"#,
        1,
    );
    assert!(
        msg(&f4).contains("tensor `t` has dtype F4, which modeldiff cannot decode"),
        "{}",
        msg(&f4)
    );
}

#[test]
fn a_name_twice_is_refused_wherever_the_second_entry_is() {
    // The fast path declines every repeat, and the old path names it, whether or not the
    // second entry is the last key (its check once stopped at the first repeat, and the parser
    // then found the object unfinished and the `safetensors` crate kept the last entry).
    let a = r#""a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}"#;
    let b = r#""b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}"#;
    for h in [
        format!("{{{a},{a},{b}}}"),
        format!("{{{a},{b},{a}}}"),
        format!("{{{a},{a}}}"),
    ] {
        let f = file(&h, if h.contains("\"b\"") { 2 } else { 1 });
        assert_eq!(
            header::parse(&f, 0).unwrap_err(),
            header::Declined::Duplicate,
            "{h}"
        );
        assert!(
            msg(&f).ends_with("tensor name `a` appears twice in the header"),
            "{h}: {}",
            msg(&f)
        );
        check(&h, &f);
    }
}

/// Offsets near 2^64 are a truncated file, reported as such, not an overflow in the crate.
#[test]
fn offsets_near_two_to_the_64_are_truncation() {
    // Eight tensors of 2^61 - 1 bytes end at 2^64 - 8, and the header lies before them.
    let size = (1u64 << 61) - 1;
    let entries: Vec<String> = (0..8)
        .map(|k| {
            let (s, e) = (k * size, (k + 1) * size);
            format!(r#""t{k}":{{"dtype":"U8","shape":[{size}],"data_offsets":[{s},{e}]}}"#)
        })
        .collect();
    let h = format!("{{{}}}", entries.join(","));
    let f = file(&h, 0);
    assert!(msg(&f).contains("truncated"), "{}", msg(&f));
    check("2^64", &f);
}

#[test]
fn the_header_length_bound_is_the_crates() {
    // 100 000 000 bytes of header is the most the crate reads: `{}` and whitespace.
    let mut h = b"{}".to_vec();
    h.resize(100_000_000, b' ');
    accepted("100 MB header", &file_bytes(&h, 0));
    h.push(b' ');
    declined("100 MB + 1 header", &file_bytes(&h, 0));
}

#[test]
fn nesting_in_ignored_fields_is_limited_as_the_crate_limits_it() {
    // serde_json stops at 128 levels; the header and the entry are two of them.
    let nested = |depth: usize| {
        let h = format!(
            r#"{{"w":{{"x":{}{},"dtype":"U8","shape":[1],"data_offsets":[0,1]}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        file(&h, 1)
    };
    let results: Vec<bool> = (120..=130)
        .map(|d| check(&format!("depth {d}"), &nested(d)))
        .collect();
    assert!(
        results.contains(&true) && results.contains(&false),
        "{results:?}"
    );
    declined("depth 1000", &nested(1000));
    let objects = |depth: usize| {
        let h = format!(
            r#"{{"w":{{"x":{}1{},"dtype":"U8","shape":[1],"data_offsets":[0,1]}}}}"#,
            r#"{"k":"#.repeat(depth),
            "}".repeat(depth)
        );
        file(&h, 1)
    };
    let results: Vec<bool> = (120..=130)
        .map(|d| check(&format!("object depth {d}"), &objects(d)))
        .collect();
    assert!(
        results.contains(&true) && results.contains(&false),
        "{results:?}"
    );
}

/// One generated tensor entry: how it is written and whether it is made wrong.
#[derive(Clone, Debug)]
struct Gen {
    name: u8,
    dtype: usize,
    shape: Vec<u8>,
    form: u8,
    offset_nudge: i8,
}

fn gen_entry() -> impl Strategy<Value = Gen> {
    (
        0u8..12,
        0usize..DTYPES.len() + 2,
        prop::collection::vec(0u8..5, 0..4),
        0u8..6,
        prop_oneof![8 => Just(0i8), 1 => -2i8..3],
    )
        .prop_map(|(name, dtype, shape, form, offset_nudge)| Gen {
            name,
            dtype,
            shape,
            form,
            offset_nudge,
        })
}

/// A header from generated entries: offsets laid out in order (then nudged), entries written in
/// every form the crate reads (and a few it does not), names that may repeat.
fn gen_file(entries: &[Gen], meta: u8, data_nudge: i8, shuffle: bool) -> Vec<u8> {
    let mut parts = Vec::new();
    let mut at = 0usize;
    for g in entries {
        let (dtype, bits) = match DTYPES.get(g.dtype) {
            Some(&(n, b)) => (n.to_string(), b),
            None => ("X8".to_string(), 8),
        };
        let elems: usize = g.shape.iter().map(|&d| d as usize).product();
        let size = (elems * bits).div_ceil(8);
        let (s, e) = (at, at + size);
        at = e;
        let e = e.saturating_add_signed(g.offset_nudge as isize);
        let shape = format!("{:?}", g.shape);
        let dt = if g.form == 3 {
            format!(r#"{{"{dtype}":null}}"#)
        } else {
            format!(r#""{dtype}""#)
        };
        let body = match g.form {
            0 | 3 => format!(r#"{{"dtype":{dt},"shape":{shape},"data_offsets":[{s},{e}]}}"#),
            1 => format!(r#"[{dt},{shape},[{s},{e}]]"#),
            2 => format!(
                r#"{{"data_offsets":[{s},{e}],"extra":{{"k":[1,2.5,null]}},"shape":{shape},"dtype":{dt}}}"#
            ),
            4 => format!(r#"{{"dtype":{dt},"shape":{shape}}}"#),
            _ => {
                format!(r#"{{"dtype":{dt},"shape":{shape},"data_offsets":[{s},{e}],"dtype":{dt}}}"#)
            }
        };
        parts.push(format!(r#""t{}":{body}"#, g.name));
    }
    if shuffle {
        parts.reverse();
    }
    match meta {
        1 => parts.insert(0, r#""__metadata__":{"format":"pt","k":"v"}"#.into()),
        2 => parts.push(r#""__metadata__":null"#.into()),
        3 => parts.push(r#""__metadata__":{"n":1}"#.into()),
        _ => {}
    }
    let h = format!("{{{}}}", parts.join(","));
    file(&h, at.saturating_add_signed(data_nudge as isize))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn generated_headers_agree(
        entries in prop::collection::vec(gen_entry(), 0..6),
        meta in 0u8..4,
        data_nudge in prop_oneof![8 => Just(0i8), 1 => -2i8..3],
        shuffle in any::<bool>(),
    ) {
        check("generated", &gen_file(&entries, meta, data_nudge, shuffle));
    }

    #[test]
    fn mutated_headers_agree(
        entries in prop::collection::vec(gen_entry(), 1..4),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let f = gen_file(&entries, 1, 0, false);
        let n = u64::from_le_bytes(f[..8].try_into().unwrap()) as usize;
        let (mut h, data) = (f[8..8 + n].to_vec(), f.len() - 8 - n);
        for (at, byte, op) in edits {
            let i = at.index(h.len());
            match op {
                0 => h[i] = byte,
                1 => h.insert(i, byte),
                _ => { h.remove(i); }
            }
        }
        check("mutated", &file_bytes(&h, data));
    }
}

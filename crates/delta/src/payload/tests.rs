//! Unit tests of the payload types: validation, canonical order, the JSON shape and the digest.

use std::collections::BTreeMap;

use super::*;
use crate::exact::FloatDType;

fn adapter(layer_id: u32, matrix: &str) -> LoraAdapter {
    LoraAdapter {
        layer_id,
        matrix: matrix.into(),
        rank: 1,
        in_dim: 2,
        out_dim: 3,
        a: vec![0.5, -0.25],
        b: vec![1.0, f32::MIN_POSITIVE, -0.0],
    }
}

fn step(step_id: u32, v: f32) -> TttStep {
    TttStep {
        step_id,
        deltas: BTreeMap::from([("w".into(), vec![v, -v])]),
    }
}

/// One part of every kind, with awkward f32 values.
fn sample() -> Payload {
    let lora = Lora {
        adapters: vec![
            adapter(2, "v_proj"),
            adapter(0, "q_proj"),
            adapter(2, "k_proj"),
        ],
    };
    let ia3 = Ia3 {
        scaling: BTreeMap::from([
            (
                10,
                BTreeMap::from([("k_proj".into(), vec![1.0, 0.1, 1e-45])]),
            ),
            (
                2,
                BTreeMap::from([("down_proj".into(), vec![f32::MAX, -3.4e38])]),
            ),
        ]),
    };
    let full = Full {
        params: BTreeMap::from([
            (
                "model.norm.weight".into(),
                vec![1e-30, 0.3, -7.0, 16777217.0],
            ),
            ("model.layers.0.bias".into(), vec![]),
        ]),
        exact: BTreeMap::from([(
            "model.norm.weight".into(),
            ExactFixups {
                dtype: FloatDType::BF16,
                index: vec![0, 3],
                bits: vec![0x7FC1, 0x8000],
            },
        )]),
    };
    let ttt = InPlaceTtt {
        steps: vec![step(7, 0.7), step(1, 0.1), step(3, 1.0 / 3.0)],
    };
    Payload::new(vec![
        ModelDiff::Lora(lora),
        ModelDiff::Ia3(ia3),
        ModelDiff::Full(full),
        ModelDiff::InPlaceTtt(ttt),
    ])
}

fn bits(p: &Payload) -> Vec<u32> {
    let mut out = Vec::new();
    let mut push = |v: &[f32]| out.extend(v.iter().map(|x| x.to_bits()));
    for part in &p.parts {
        match part {
            ModelDiff::Lora(l) => l.adapters.iter().for_each(|a| {
                push(&a.a);
                push(&a.b);
            }),
            ModelDiff::Ia3(i) => i
                .scaling
                .values()
                .flat_map(|m| m.values())
                .for_each(|v| push(v)),
            ModelDiff::Full(f) => f.params.values().for_each(|v| push(v)),
            ModelDiff::InPlaceTtt(t) => t
                .steps
                .iter()
                .flat_map(|s| s.deltas.values())
                .for_each(|v| push(v)),
        }
    }
    out
}

#[test]
fn kind_tags_are_the_wire_names() {
    let json = String::from_utf8(sample().to_json().unwrap()).unwrap();
    for tag in [
        r#""kind":"lora""#,
        r#""kind":"ia3""#,
        r#""kind":"full""#,
        r#""kind":"in-place-ttt""#,
    ] {
        assert!(json.contains(tag), "{tag} in {json}");
    }
    let kinds: Vec<DiffKind> = sample().parts.iter().map(ModelDiff::kind).collect();
    assert_eq!(
        kinds,
        [
            DiffKind::Lora,
            DiffKind::Ia3,
            DiffKind::Full,
            DiffKind::InPlaceTtt
        ]
    );
    assert_eq!(
        serde_json::to_string(&DiffKind::InPlaceTtt).unwrap(),
        r#""in-place-ttt""#
    );
}

#[test]
fn json_shape_is_model_diff_v1() {
    let mut p = Payload::new(vec![ModelDiff::Lora(Lora {
        adapters: vec![adapter(0, "q_proj")],
    })]);
    assert_eq!(
        String::from_utf8(p.to_json().unwrap()).unwrap(),
        r#"{"schema":"model.diff.v1","parts":[{"kind":"lora","adapters":[{"layer_id":0,"matrix":"q_proj","rank":1,"in_dim":2,"out_dim":3,"a":[0.5,-0.25],"b":[1.0,1.1754944e-38,-0.0]}]}]}"#
    );
    p.seal(Some(Digest::from_bytes([1; 32])), None).unwrap();
    let json = String::from_utf8(p.to_json().unwrap()).unwrap();
    assert!(json.contains(&format!(r#""base_digest":"blake3:{}""#, "01".repeat(32))));
    assert!(json.contains(r#""digest":"blake3:"#) && !json.contains("target_digest"));
    // A Full part without fixups has no `exact` key, and ia3 layer keys are base-10 strings.
    let mut f = Full::default();
    f.params.insert("w".into(), vec![1.0]);
    let mut i = Ia3::default();
    i.scaling
        .insert(12, BTreeMap::from([("k".into(), vec![2.0])]));
    let p = Payload::new(vec![ModelDiff::Full(f), ModelDiff::Ia3(i)]);
    let json = String::from_utf8(p.to_json().unwrap()).unwrap();
    assert!(
        json.contains(r#"{"kind":"full","params":{"w":[1.0]}}"#),
        "{json}"
    );
    assert!(
        json.contains(r#"{"kind":"ia3","scaling":{"12":{"k":[2.0]}}}"#),
        "{json}"
    );
}

#[test]
fn json_round_trips_every_kind_bit_for_bit() {
    let mut p = sample();
    p.seal(None, Some(Digest::from_bytes([9; 32]))).unwrap();
    for json in [p.to_json().unwrap(), p.to_json_pretty().unwrap()] {
        let back = Payload::from_json(&json).unwrap();
        assert_eq!(bits(&back), bits(&p));
        assert_eq!(back, p);
        back.verify_digest().unwrap();
    }
}

#[test]
fn reading_parses_f32_without_double_rounding() {
    // 1.00000005960464477539062500000001 lies just above the midpoint between 1.0 and the next
    // f32; through f64 it rounds to the midpoint and then (ties to even) down to 1.0.
    let json =
        br#"{"kind":"full","params":{"w":[1.00000005960464477539062500000001, 3, -0, 1e-46]}}"#;
    let p = Payload::from_json(json).unwrap();
    let ModelDiff::Full(f) = &p.parts[0] else {
        panic!("not full")
    };
    assert_eq!(f.params["w"][0].to_bits(), 1.0f32.to_bits() + 1);
    assert_eq!(f.params["w"][1], 3.0);
    assert_eq!(f.params["w"][2].to_bits(), (-0.0f32).to_bits());
    assert_eq!(f.params["w"][3].to_bits(), 0);
}

#[test]
fn canonical_order_is_layer_then_matrix_and_step_id() {
    let mut p = sample();
    p.validate_and_canonicalize().unwrap();
    let ModelDiff::Lora(l) = &p.parts[0] else {
        panic!("not lora")
    };
    let order: Vec<(u32, &str)> = l
        .adapters
        .iter()
        .map(|a| (a.layer_id, a.matrix.as_str()))
        .collect();
    assert_eq!(order, [(0, "q_proj"), (2, "k_proj"), (2, "v_proj")]);
    let ModelDiff::InPlaceTtt(t) = &p.parts[3] else {
        panic!("not ttt")
    };
    let ids: Vec<u32> = t.steps.iter().map(|s| s.step_id).collect();
    assert_eq!(ids, [1, 3, 7]);
    // Serialization is canonical even before canonicalizing.
    assert_eq!(sample().to_json().unwrap(), p.to_json().unwrap());
}

#[test]
fn digest_does_not_depend_on_build_order() {
    let a = sample();
    let mut b = sample();
    for part in &mut b.parts {
        match part {
            ModelDiff::Lora(l) => l.adapters.reverse(),
            ModelDiff::InPlaceTtt(t) => t.steps.rotate_left(1),
            _ => {}
        }
    }
    assert_ne!(a, b);
    assert_eq!(a.digest().unwrap(), b.digest().unwrap());
    // Part order, values, base/target digests and -0.0 vs 0.0 all matter.
    let mut c = sample();
    c.parts.swap(0, 1);
    assert_ne!(c.digest().unwrap(), a.digest().unwrap());
    let mut d = sample();
    d.base_digest = Some(Digest::from_bytes([0; 32]));
    assert_ne!(d.digest().unwrap(), a.digest().unwrap());
    let mut e = sample();
    let ModelDiff::Lora(l) = &mut e.parts[0] else {
        panic!("not lora")
    };
    l.adapters[0].b[2] = 0.0;
    assert_ne!(e.digest().unwrap(), a.digest().unwrap());
}

#[test]
fn lora_length_mismatch_names_layer_and_matrix() {
    let mut a = adapter(5, "o_proj");
    a.b.pop();
    let p = Payload::new(vec![ModelDiff::Lora(Lora { adapters: vec![a] })]);
    assert_eq!(
        p.validate().unwrap_err().to_string(),
        "lora layer 5 `o_proj`: `b` has 2 values, expected 3"
    );
    let mut a = adapter(5, "o_proj");
    a.rank = 2;
    let p = Payload::new(vec![ModelDiff::Lora(Lora { adapters: vec![a] })]);
    assert_eq!(
        p.validate().unwrap_err().to_string(),
        "lora layer 5 `o_proj`: `a` has 2 values, expected 4"
    );
    let mut a = adapter(5, "o_proj");
    a.rank = 0;
    assert!(a
        .validate()
        .unwrap_err()
        .to_string()
        .contains("rank must be positive"));
}

#[test]
fn duplicates_and_non_finite_values_are_rejected() {
    let dup = Payload::new(vec![ModelDiff::Lora(Lora {
        adapters: vec![adapter(1, "q"), adapter(1, "q")],
    })]);
    assert_eq!(
        dup.validate().unwrap_err().to_string(),
        "lora layer 1 `q`: duplicate adapter"
    );
    let ttt = Payload::new(vec![ModelDiff::InPlaceTtt(InPlaceTtt {
        steps: vec![step(4, 1.0), step(4, 2.0)],
    })]);
    assert_eq!(
        ttt.validate().unwrap_err().to_string(),
        "in-place-ttt: duplicate step id 4"
    );
    let mut a = adapter(1, "q");
    a.a[1] = f32::NAN;
    assert_eq!(
        a.validate().unwrap_err().to_string(),
        "lora layer 1 `q` a: non-finite value NaN at index 1"
    );
    let mut f = Full::default();
    f.params.insert("w".into(), vec![0.0, f32::INFINITY]);
    let e = ModelDiff::Full(f).validate().unwrap_err().to_string();
    assert_eq!(e, "full `w`: non-finite value inf at index 1");
    let mut t = InPlaceTtt {
        steps: vec![step(1, 1.0), step(2, 1.0)],
    };
    t.steps[1].deltas.get_mut("w").unwrap().push(0.0);
    assert_eq!(
        ModelDiff::InPlaceTtt(t).validate().unwrap_err().to_string(),
        "in-place-ttt step 2 `w`: 3 values, earlier steps have 2"
    );
    // Fixups must refer to a delta of the part.
    let mut f = Full::default();
    f.exact.insert(
        "w".into(),
        ExactFixups {
            dtype: FloatDType::F32,
            index: vec![0],
            bits: vec![0],
        },
    );
    assert!(ModelDiff::Full(f)
        .validate()
        .unwrap_err()
        .to_string()
        .contains("no delta"));
}

#[test]
fn hostile_json_is_an_error() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"schema":"model.diff.v2","parts":[]}"#,
            "unsupported payload schema `model.diff.v2`",
        ),
        (
            r#"{"kind":"lora","adapters":[{"layer_id":0,"matrix":"q","rank":1,"in_dim":1,"out_dim":1,"a":[1],"b":[1e39]}]}"#,
            "non-finite value inf",
        ),
        (
            r#"{"kind":"lora","adapters":[{"layer_id":0,"matrix":"q","rank":1,"in_dim":1,"out_dim":1,"a":["1"],"b":[1]}]}"#,
            "expected a number",
        ),
        (
            r#"{"kind":"full","params":{"w":[1],"w":[2]}}"#,
            "duplicate key `w`",
        ),
        (
            r#"{"kind":"ia3","scaling":{"1":{"k":[1]},"1":{"k":[1]}}}"#,
            "duplicate key `1`",
        ),
        (
            r#"{"kind":"ia3","scaling":{"x":{"k":[1]}}}"#,
            "invalid payload json",
        ),
        (
            r#"{"kind":"full","params":{},"extra":1}"#,
            "unknown field `extra`",
        ),
        (
            r#"{"kind":"lora-x","adapters":[]}"#,
            "unknown variant `lora-x`",
        ),
        (
            r#"{"kind":"full","params":{"w":[1,2"#,
            "invalid payload json",
        ),
        (r#"{"parts":[]}"#, "neither `schema`"),
        (
            r#"{"schema":"model.diff.v1","kind":"full","parts":[]}"#,
            "both `schema` and `kind`",
        ),
        (
            r#"{"schema":"model.diff.v1","parts":[{"kind":"full","params":{"w":[null]}}]}"#,
            "expected a number",
        ),
        (
            r#"{"schema":"model.diff.v1","parts":[],"digest":"blake3:00"}"#,
            "invalid digest",
        ),
        (r#"[1,2]"#, "unrecognised payload encoding"),
        (
            r#"{"kind":"in-place-ttt","steps":[{"step_id":-1,"deltas":{}}]}"#,
            "invalid payload json",
        ),
    ];
    for (json, want) in cases {
        let e = Payload::from_bytes(json.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{json}: {e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }
    assert!(Payload::from_bytes(b"").is_err());
    assert!(Payload::from_bytes(b"  \n").is_err());
    assert!(Payload::from_bytes(b"GGUF").is_err());
}

#[test]
fn digest_mismatch_and_missing_digest_are_reported() {
    let mut p = sample();
    assert_eq!(
        p.verify_digest().unwrap_err().to_string(),
        "payload has no digest (seal it first)"
    );
    let d = p.seal(None, None).unwrap();
    let ModelDiff::Full(f) = &mut p.parts[2] else {
        panic!("not full")
    };
    f.params.get_mut("model.norm.weight").unwrap()[1] = 0.31;
    let computed = p.digest().unwrap();
    assert_eq!(
        p.verify_digest().unwrap_err().to_string(),
        format!("payload digest mismatch: recorded {d}, computed {computed}")
    );
}

#[test]
fn ia3_layer_keys_are_plain_base_10() {
    for key in ["03", "+3", "-1", "3.0", "4294967296"] {
        let json = format!(r#"{{"kind":"ia3","scaling":{{"{key}":{{"k":[1]}}}}}}"#);
        assert!(Payload::from_json(json.as_bytes()).is_err(), "{key}");
    }
}

#[test]
fn serde_json_writes_f32_in_shortest_round_trip_form() {
    // Random bit patterns (finite ones) and every power of two down to the smallest subnormal:
    // the JSON text reads back as the same bits and is no longer than Rust's shortest form.
    let mut x = 0x9E37_79B9u32;
    let randoms = (0..200_000).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        f32::from_bits(x)
    });
    let powers = (0..277).map(|e| 2f32.powi(127 - e));
    for v in randoms.chain(powers).filter(|v| v.is_finite()) {
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(
            text.parse::<f32>().unwrap().to_bits(),
            v.to_bits(),
            "{text}"
        );
        let digits = |s: &str| {
            let mantissa = s.split(['e', 'E']).next().unwrap_or("");
            let d: String = mantissa.chars().filter(char::is_ascii_digit).collect();
            d.trim_start_matches('0').trim_end_matches('0').len()
        };
        let shortest = format!("{v:e}");
        assert!(
            digits(&text) <= digits(&shortest).max(1),
            "{text} vs {shortest}"
        );
    }
}

//! Public-API tests: both encodings, digests across encodings and build orders, hostile
//! containers, validation against a base, the streaming-writer helpers, and proptests of
//! canonicalization.

use std::collections::{BTreeMap, HashMap};

use modeldiff_delta::container::{self, ManifestBuilder, METADATA_KEY};
use modeldiff_delta::{
    BaseTensors, Digest, ExactFixups, FloatDType, Full, Ia3, InPlaceTtt, Lora, LoraAdapter,
    ModelDiff, Payload, PayloadHasher, TttStep,
};
use proptest::prelude::*;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

fn adapter(layer_id: u32, matrix: &str, rank: u32, in_dim: u32, out_dim: u32) -> LoraAdapter {
    let n = |k: u32, s: f32| (0..k).map(|i| (i as f32 + 1.0) * s).collect::<Vec<f32>>();
    LoraAdapter {
        layer_id,
        matrix: matrix.into(),
        rank,
        in_dim,
        out_dim,
        a: n(rank * in_dim, 0.01),
        b: n(out_dim * rank, -0.003),
    }
}

/// Every kind, sized for a base of `base()`.
fn sample() -> Payload {
    let lora = Lora {
        adapters: vec![adapter(1, "v_proj", 2, 4, 8), adapter(0, "q_proj", 1, 4, 8)],
    };
    let ia3 = Ia3 {
        scaling: BTreeMap::from([(
            1,
            BTreeMap::from([
                ("k_proj".into(), vec![1.5; 8]),
                ("down_proj".into(), vec![0.5; 16]),
            ]),
        )]),
    };
    let full = Full {
        params: BTreeMap::from([
            ("model.norm.weight".into(), vec![0.125, -0.0, 1e-40, 3.0]),
            ("model.layers.0.self_attn.q_proj.bias".into(), vec![1.0; 8]),
        ]),
        exact: BTreeMap::from([(
            "model.norm.weight".into(),
            ExactFixups {
                dtype: FloatDType::F16,
                index: vec![1, 2],
                bits: vec![0x7E01, 0x8000],
            },
        )]),
    };
    let ttt = InPlaceTtt {
        steps: vec![
            TttStep {
                step_id: 9,
                deltas: BTreeMap::from([("model.norm.weight".into(), vec![0.1; 4])]),
            },
            TttStep {
                step_id: 2,
                deltas: BTreeMap::from([("model.norm.weight".into(), vec![0.2; 4])]),
            },
        ],
    };
    Payload::new(vec![
        ModelDiff::Lora(lora),
        ModelDiff::Ia3(ia3),
        ModelDiff::Full(full),
        ModelDiff::InPlaceTtt(ttt),
    ])
}

fn base() -> BaseTensors {
    BaseTensors::new([
        ("model.embed_tokens.weight", vec![32, 4]),
        ("model.layers.0.self_attn.q_proj.weight", vec![8, 4]),
        ("model.layers.0.self_attn.q_proj.bias", vec![8]),
        ("model.layers.1.self_attn.v_proj.weight", vec![8, 4]),
        ("model.layers.1.self_attn.k_proj.weight", vec![8, 4]),
        ("model.layers.1.mlp.down_proj.weight", vec![4, 16]),
        ("model.norm.weight", vec![4]),
    ])
}

#[test]
fn container_round_trips_and_matches_json_digest() {
    let mut p = sample();
    let digest = p.seal(Some(Digest::from_bytes([3; 32])), None).unwrap();
    let bytes = container::encode(&p).unwrap();
    assert!(container::looks_like_container(&bytes));
    let back = container::decode(&bytes).unwrap();
    assert_eq!(back, p);
    assert_eq!(back.verify_digest().unwrap(), digest);
    let from_json = Payload::from_bytes(&p.to_json().unwrap()).unwrap();
    let from_container = Payload::from_bytes(&bytes).unwrap();
    assert_eq!(
        from_json.digest().unwrap(),
        from_container.digest().unwrap()
    );
    assert_eq!(from_json, from_container);
    // Encoding is deterministic and independent of build order.
    let mut q = sample();
    let ModelDiff::Lora(l) = &mut q.parts[0] else {
        unreachable!()
    };
    l.adapters.reverse();
    q.seal(Some(Digest::from_bytes([3; 32])), None).unwrap();
    assert_eq!(container::encode(&q).unwrap(), bytes);
}

#[test]
fn container_is_an_ordinary_safetensors_file() {
    let p = sample();
    let bytes = container::encode(&p).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let a = st.tensor("p0.lora.1.v_proj.a").unwrap();
    assert_eq!((a.dtype(), a.shape()), (Dtype::F32, &[2usize, 4][..]));
    let b = st.tensor("p0.lora.1.v_proj.b").unwrap();
    assert_eq!(b.shape(), &[8, 2]);
    assert_eq!(st.tensor("p1.ia3.1.down_proj").unwrap().shape(), &[16]);
    assert_eq!(
        st.tensor("p2.full.model.norm.weight").unwrap().shape(),
        &[4]
    );
    let idx = st.tensor("p2.exact.model.norm.weight.index").unwrap();
    assert_eq!((idx.dtype(), idx.shape()), (Dtype::U64, &[2usize][..]));
    let bits = st.tensor("p2.exact.model.norm.weight.bits").unwrap();
    assert_eq!(bits.dtype(), Dtype::U32);
    assert_eq!(
        st.tensor("p3.ttt.9.model.norm.weight").unwrap().shape(),
        &[4]
    );
    assert_eq!(st.len(), 12);
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let manifest = container::read_manifest(meta.metadata().as_ref().unwrap()).unwrap();
    let json = manifest.to_json();
    assert!(json.contains(r#""a":"p0.lora.0.q_proj.a""#), "{json}");
    assert!(json.contains(r#""kind":"in-place-ttt""#), "{json}");
}

/// A container built from raw tensors and a manifest string.
fn build(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)], manifest: Option<&str>) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let meta = manifest.map(|m| HashMap::from([(METADATA_KEY.to_owned(), m.to_owned())]));
    safetensors::serialize(views, meta).unwrap()
}

#[test]
fn hostile_containers_are_errors() {
    let good = container::encode(&sample()).unwrap();
    // Truncation anywhere is an error, never a panic.
    for cut in [0, 1, 7, 8, 9, 100, good.len() / 2, good.len() - 1] {
        assert!(container::decode(&good[..cut]).is_err(), "cut at {cut}");
        let _ = Payload::from_bytes(&good[..cut]);
    }
    let f = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let full = r#"{"schema":"model.diff.v1","parts":[{"kind":"full","params":{"w":"t"}}]}"#;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            build(&[("t", Dtype::F32, vec![2], f(&[1.0, 2.0]))], None),
            "no __metadata__",
        ),
        (
            build(&[("t", Dtype::F32, vec![2], f(&[1.0, 2.0]))], Some("{")),
            "bad manifest",
        ),
        (
            build(
                &[("t", Dtype::F32, vec![2], f(&[1.0, 2.0]))],
                Some(&full.replace("v1", "v9")),
            ),
            "unsupported payload schema",
        ),
        (
            build(&[], Some(full)),
            "tensor `t`: named by the manifest but absent",
        ),
        (
            build(
                &[
                    ("t", Dtype::F32, vec![2], f(&[1.0, 2.0])),
                    ("x", Dtype::F32, vec![1], f(&[1.0])),
                ],
                Some(full),
            ),
            "tensor `x`: not referenced by the manifest",
        ),
        (
            build(&[("t", Dtype::F64, vec![1], vec![0; 8])], Some(full)),
            "tensor `t`: dtype F64, expected F32",
        ),
        (
            build(&[("t", Dtype::F32, vec![1, 2], f(&[1.0, 2.0]))], Some(full)),
            "expected one dimension",
        ),
        (
            build(
                &[("t", Dtype::F32, vec![2], f(&[1.0, f32::NAN]))],
                Some(full),
            ),
            "full `w`: non-finite value NaN at index 1",
        ),
        (
            build(
                &[("t", Dtype::F32, vec![2], f(&[1.0, 2.0]))],
                Some(
                    r#"{"schema":"model.diff.v1","parts":[{"kind":"full","params":{"w":"t","v":"t"}}]}"#,
                ),
            ),
            "referenced twice",
        ),
        (
            build(
                &[
                    ("a", Dtype::F32, vec![1, 3], f(&[1.0; 3])),
                    ("b", Dtype::F32, vec![2, 1], f(&[1.0; 2])),
                ],
                Some(
                    r#"{"schema":"model.diff.v1","parts":[{"kind":"lora","adapters":[{"layer_id":0,"matrix":"q","rank":1,"in_dim":2,"out_dim":2,"a":"a","b":"b"}]}]}"#,
                ),
            ),
            "tensor `a`: shape [1, 3], expected [1, 2]",
        ),
        (
            build(
                &[("t", Dtype::F32, vec![2], f(&[1.0, 2.0]))],
                Some(
                    r#"{"schema":"model.diff.v1","parts":[{"kind":"full","params":{"w":"t"},"x":1}]}"#,
                ),
            ),
            "bad manifest",
        ),
    ];
    for (bytes, want) in cases {
        let e = container::decode(&bytes).unwrap_err().to_string();
        assert!(e.contains(want), "want `{want}`, got `{e}`");
        assert!(!e.contains('\n'));
    }
}

#[test]
fn validation_against_a_base_names_the_target() {
    let p = sample();
    p.validate_against(&base()).unwrap();
    let check = |part: ModelDiff, want: &str| {
        let e = Payload::new(vec![part])
            .validate_against(&base())
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "want `{want}`, got `{e}`");
    };
    check(
        ModelDiff::Lora(Lora {
            adapters: vec![adapter(7, "q_proj", 1, 4, 8)],
        }),
        "layer 7 `q_proj`: no 2-d `.weight` tensor",
    );
    check(
        ModelDiff::Lora(Lora {
            adapters: vec![adapter(0, "q_proj", 1, 8, 4)],
        }),
        "lora layer 0 `q_proj`: base tensor `model.layers.0.self_attn.q_proj.weight` has shape [8, 4], payload needs [4, 8]",
    );
    check(
        ModelDiff::Ia3(Ia3 {
            scaling: BTreeMap::from([(1, BTreeMap::from([("k_proj".into(), vec![1.0; 5])]))]),
        }),
        "ia3 layer 1 `k_proj`: 5 values match neither out_dim 8 nor in_dim 4",
    );
    let mut f = Full::default();
    f.params.insert("model.missing".into(), vec![0.0]);
    check(
        ModelDiff::Full(f),
        "full `model.missing`: no tensor `model.missing` in the base",
    );
    let mut f = Full::default();
    f.params.insert("model.norm.weight".into(), vec![0.0; 5]);
    check(ModelDiff::Full(f), "needs 5 elements");
    check(
        ModelDiff::InPlaceTtt(InPlaceTtt {
            steps: vec![TttStep {
                step_id: 4,
                deltas: BTreeMap::from([("model.norm.weight".into(), vec![0.0; 3])]),
            }],
        }),
        "in-place-ttt step 4 `model.norm.weight`",
    );
    // A recorded base digest must be the base's.
    let mut p = sample();
    p.base_digest = Some(Digest::from_bytes([1; 32]));
    let e = p
        .validate_against(&base().with_digest(Digest::from_bytes([2; 32])))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("payload base digest blake3:0101"), "{e}");
}

#[test]
fn a_streaming_writer_reproduces_encode_and_digest() {
    // What an extraction writing a huge Full payload tensor by tensor does: build the manifest
    // and tensor list without a Payload, digest parameter by parameter, write the tensors.
    let params: Vec<(&str, Vec<f32>)> = vec![
        ("a.weight", (0..1000).map(|i| i as f32 * 0.5).collect()),
        ("b.bias", vec![-1.0, 2.0]),
    ];
    let fixups = ExactFixups {
        dtype: FloatDType::BF16,
        index: vec![7],
        bits: vec![0xFFC0],
    };
    let base = Some(Digest::from_bytes([5; 32]));

    let mut builder = ManifestBuilder::new(base, None);
    let part = builder.begin_full();
    let mut hasher = PayloadHasher::new(base.as_ref(), None, 1);
    let mut fh = hasher.full_part(params.len() as u64).unwrap();
    for (name, v) in &params {
        builder.add_full_param(part, name, v.len() as u64).unwrap();
        fh.param(name, v.len() as u64).unwrap();
        for chunk in v.chunks(300) {
            fh.values(chunk).unwrap();
        }
    }
    builder
        .add_full_exact(part, "a.weight", fixups.dtype, fixups.len() as u64)
        .unwrap();
    fh.finish(&BTreeMap::from([("a.weight".to_owned(), fixups.clone())]))
        .unwrap();
    let digest = hasher.finish().unwrap();
    builder.set_digest(digest);
    let (manifest, tensors) = builder.finish();

    let bytes_of = |name: &str| -> Vec<u8> {
        if name == container::exact_index_name(0, "a.weight") {
            return fixups.index.iter().flat_map(|x| x.to_le_bytes()).collect();
        }
        if name == container::exact_bits_name(0, "a.weight") {
            return fixups.bits.iter().flat_map(|x| x.to_le_bytes()).collect();
        }
        let (_, v) = params
            .iter()
            .find(|(p, _)| container::full_name(0, p) == name)
            .unwrap();
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    };
    let data: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|t| {
            let dtype = match t.dtype.as_str() {
                "F32" => Dtype::F32,
                "U64" => Dtype::U64,
                _ => Dtype::U32,
            };
            let shape = t.shape.iter().map(|&d| d as usize).collect();
            (t.name.clone(), dtype, shape, bytes_of(&t.name))
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = data
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let written =
        safetensors::serialize(views, Some(manifest.to_metadata().into_iter().collect())).unwrap();

    let mut full = Full::default();
    for (name, v) in &params {
        full.params.insert(name.to_string(), v.clone());
    }
    full.exact.insert("a.weight".into(), fixups);
    let mut payload = Payload::new(vec![ModelDiff::Full(full)]);
    assert_eq!(payload.seal(base, None).unwrap(), digest);
    assert_eq!(written, container::encode(&payload).unwrap());
    assert_eq!(
        container::decode(&written)
            .unwrap()
            .verify_digest()
            .unwrap(),
        digest
    );
}

fn arb_values() -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(
        prop_oneof![
            -1e6f32..1e6,
            Just(-0.0f32),
            Just(f32::MIN_POSITIVE),
            Just(1e-45f32),
            Just(f32::MAX)
        ],
        1..6,
    )
}

fn arb_lora() -> impl Strategy<Value = ModelDiff> {
    prop::collection::vec((0u32..4, 0usize..3, 1u32..3, 1u32..3, 1u32..3), 0..6).prop_map(|v| {
        let mut seen = std::collections::BTreeSet::new();
        let adapters = v
            .into_iter()
            .filter(|(l, m, ..)| seen.insert((*l, *m)))
            .map(|(l, m, r, i, o)| adapter(l, ["q_proj", "k_proj", "o_proj"][m], r, i, o))
            .collect();
        ModelDiff::Lora(Lora { adapters })
    })
}

fn arb_ttt() -> impl Strategy<Value = ModelDiff> {
    (prop::collection::btree_set(0u32..50, 0..6), arb_values()).prop_map(|(ids, v)| {
        let steps = ids
            .into_iter()
            .rev()
            .map(|step_id| TttStep {
                step_id,
                deltas: BTreeMap::from([("w".into(), v.clone())]),
            })
            .collect();
        ModelDiff::InPlaceTtt(InPlaceTtt { steps })
    })
}

fn arb_part() -> impl Strategy<Value = ModelDiff> {
    prop_oneof![
        arb_lora(),
        arb_ttt(),
        prop::collection::btree_map("[a-z.]{1,8}", arb_values(), 0..4).prop_map(|params| {
            ModelDiff::Full(Full {
                params,
                exact: BTreeMap::new(),
            })
        }),
        prop::collection::btree_map(
            0u32..100,
            prop::collection::btree_map("[a-z_]{1,6}", arb_values(), 1..3),
            0..3
        )
        .prop_map(|scaling| ModelDiff::Ia3(Ia3 { scaling })),
    ]
}

proptest! {
    #[test]
    fn canonicalization_is_idempotent_and_fixes_the_digest(
        parts in prop::collection::vec(arb_part(), 0..4),
        seed in any::<u64>(),
    ) {
        let mut p = Payload::new(parts);
        let before = p.digest().unwrap();
        p.validate_and_canonicalize().unwrap();
        let once = p.clone();
        p.validate_and_canonicalize().unwrap();
        prop_assert_eq!(&p, &once);
        prop_assert_eq!(p.digest().unwrap(), before);
        // Shuffling adapters and steps changes neither the digest nor the canonical form.
        let mut shuffled = once.clone();
        for part in &mut shuffled.parts {
            match part {
                ModelDiff::Lora(l) => { let n = l.adapters.len().max(1); l.adapters.rotate_left(seed as usize % n) }
                ModelDiff::InPlaceTtt(t) => { let n = t.steps.len().max(1); t.steps.rotate_right(seed as usize % n) }
                _ => {}
            }
        }
        prop_assert_eq!(shuffled.digest().unwrap(), before);
        shuffled.validate_and_canonicalize().unwrap();
        prop_assert_eq!(&shuffled, &once);
        // Both encodings read back to the canonical form.
        prop_assert_eq!(&Payload::from_bytes(&once.to_json().unwrap()).unwrap(), &once);
        prop_assert_eq!(&Payload::from_bytes(&container::encode(&once).unwrap()).unwrap(), &once);
    }

    #[test]
    fn corrupted_containers_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = container::encode(&sample()).unwrap();
        for (i, v) in flips {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        let _ = Payload::from_bytes(&bytes);
    }
}

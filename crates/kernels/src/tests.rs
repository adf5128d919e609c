//! Every implementation against the scalar reference, and the metrics against exact oracles.

use crate::convert::{bf16_to_f32_with, f16_to_f32_with};
use crate::dispatch::{check, from_name};
use crate::testutil::{pair, Rng, LENGTHS};
use crate::{
    cosine_similarity, l2_distance, max_abs_diff, mean_abs_diff, scalar, DiffStats, Elements, Isa,
    IsaError,
};

/// Relative tolerance for the f64 sums: SIMD and scalar differ only in summation order of
/// at most ~1e4 f64 terms, whose rounding is far below 1e-12 relative.
const SUM_RTOL: f64 = 1e-12;

fn close(x: f64, y: f64, rtol: f64) -> bool {
    (x - y).abs() <= rtol * x.abs().max(y.abs()) + 1e-300
}

fn assert_same(isa: Isa, s: &DiffStats, r: &DiffStats, what: &str) {
    assert_eq!(
        (
            s.len(),
            s.compared(),
            s.nonfinite_a(),
            s.nonfinite_b(),
            s.mismatches()
        ),
        (
            r.len(),
            r.compared(),
            r.nonfinite_a(),
            r.nonfinite_b(),
            r.mismatches()
        ),
        "{isa:?} counts, {what}"
    );
    // The maximum and its index are exact (no rounding involved).
    assert_eq!(
        (s.max_abs(), s.max_abs_index()),
        (r.max_abs(), r.max_abs_index()),
        "{isa:?} max, {what}"
    );
    for (x, y, name) in [
        (s.sum_sq_diff(), r.sum_sq_diff(), "sum_sq_diff"),
        (s.sum_sq_a(), r.sum_sq_a(), "sum_sq_a"),
        (s.sum_sq_b(), r.sum_sq_b(), "sum_sq_b"),
        (s.sum_abs_diff(), r.sum_abs_diff(), "sum_abs_diff"),
    ] {
        assert!(close(x, y, SUM_RTOL), "{isa:?} {name}: {x} vs {y}, {what}");
    }
    // Σ(a−b)(a+b) can cancel to near zero; compare against the magnitude of its terms.
    let scale = r.sum_sq_a() + r.sum_sq_b();
    assert!(
        (s.sum_diff_sum() - r.sum_diff_sum()).abs() <= SUM_RTOL * scale + 1e-300,
        "{isa:?} ds, {what}"
    );
}

#[test]
fn every_isa_matches_scalar_on_seed_table() {
    for isa in Isa::available() {
        for &n in LENGTHS {
            for specials in [false, true] {
                let (a, b) = pair(n as u64 * 31 + specials as u64, n, specials);
                let mut s = DiffStats::default();
                s.update_with(isa, &a, &b, 7);
                let mut r = DiffStats::default();
                scalar::accumulate(&a, &b, 7, &mut r);
                assert_same(isa, &s, &r, &format!("n={n} specials={specials}"));
            }
        }
    }
}

/// The maximum |a−b| planted in several blocks and in the tail: every ISA reports the first
/// occurrence, as the scalar definition does, whatever the block that holds it.
#[test]
fn first_of_equal_maxima_wins_across_blocks() {
    let n = 3 * 4096 + 13;
    for plants in [
        vec![5000, 9000],
        vec![4095, 4096],
        vec![n - 1],
        vec![8191, n - 2],
        vec![12],
    ] {
        let mut rng = Rng(plants[0] as u64);
        let a: Vec<f32> = (0..n).map(|_| rng.unit()).collect();
        let mut b: Vec<f32> = a.iter().map(|&x| x + 0.25 * rng.unit()).collect();
        for &p in &plants {
            b[p] = a[p] + 4.0;
        }
        // A NaN beside a plant must not be taken for it.
        b[plants[0].saturating_sub(1)] = f32::NAN;
        let mut r = DiffStats::default();
        scalar::accumulate(&a, &b, 3, &mut r);
        for isa in Isa::available() {
            let mut s = DiffStats::default();
            s.update_with(isa, &a, &b, 3);
            assert_eq!(
                (s.max_abs(), s.max_abs_index()),
                (r.max_abs(), r.max_abs_index()),
                "{isa:?} plants {plants:?}"
            );
        }
    }
}

/// The self kernel equals the fused kernel with the side on both sides, bit for bit, for every
/// ISA, kind and length of the seed table (special values included).
#[test]
fn self_comparison_equals_the_pair_kernel() {
    for isa in Isa::available() {
        for &n in LENGTHS {
            for specials in [false, true] {
                let (v, _) = pair(n as u64 * 17 + specials as u64, n, specials);
                for kind in ["f32", "f16", "bf16"] {
                    let bytes = encode(kind, &v);
                    let x = side(kind, &v, &bytes);
                    let (mut s, mut r) = (DiffStats::default(), DiffStats::default());
                    s.update_self_with(isa, x, 11);
                    r.update_elements_with(isa, x, x, 11);
                    assert_eq!(s, r, "{isa:?} {kind} n={n} specials={specials}");
                }
            }
        }
    }
}

#[test]
fn all_special_pairs() {
    // Every combination of special values, so each lane sees each case.
    let sp = crate::testutil::SPECIALS;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for &x in sp {
        for &y in sp {
            a.push(x);
            b.push(y);
        }
    }
    let mut r = DiffStats::default();
    scalar::accumulate(&a, &b, 0, &mut r);
    let n = sp.len() as u64;
    assert_eq!(r.nonfinite_a(), 3 * n);
    assert_eq!(r.compared(), (n - 3) * (n - 3));
    for isa in Isa::available() {
        let mut s = DiffStats::default();
        s.update_with(isa, &a, &b, 0);
        assert_same(isa, &s, &r, "special grid");
    }
}

#[test]
fn merge_of_chunks_equals_whole() {
    let (a, b) = pair(99, 10_007, true);
    for isa in Isa::available() {
        let mut whole = DiffStats::default();
        whole.update_with(isa, &a, &b, 0);
        let mut parts = DiffStats::default();
        // Merge in reverse order: the result must not depend on it.
        for start in (0..a.len()).step_by(1000).rev() {
            let end = (start + 1000).min(a.len());
            let mut p = DiffStats::default();
            p.update_with(isa, &a[start..end], &b[start..end], start as u64);
            parts.merge(&p);
        }
        assert_same(isa, &parts, &whole, "chunked");
    }
}

#[test]
fn self_diff_is_exact_zero_and_cosine_one() {
    for isa in Isa::available() {
        for &n in LENGTHS {
            let (a, _) = pair(n as u64, n, true);
            let mut s = DiffStats::default();
            s.update_with(isa, &a, &a, 0);
            assert!(s.identical());
            assert_eq!(s.l2(), 0.0);
            assert_eq!(s.max_abs(), 0.0);
            assert_eq!(s.cosine(), Some(1.0));
        }
    }
    let z = vec![0f32; 33];
    assert_eq!(cosine_similarity(&z, &z), 1.0);
    assert_eq!(cosine_similarity(&[], &[]), 1.0);
    let mut one = z.clone();
    one[5] = 2.0;
    assert_eq!(cosine_similarity(&z, &one), 0.0);
}

#[test]
fn symmetric_up_to_rounding() {
    let (a, b) = pair(5, 3001, true);
    for isa in Isa::available() {
        let (mut ab, mut ba) = (DiffStats::default(), DiffStats::default());
        ab.update_with(isa, &a, &b, 0);
        ba.update_with(isa, &b, &a, 0);
        assert_eq!(ab.l2(), ba.l2());
        assert_eq!(
            (ab.max_abs(), ab.max_abs_index()),
            (ba.max_abs(), ba.max_abs_index())
        );
        assert_eq!(ab.cosine(), ba.cosine());
        assert_eq!(ab.sum_diff_sum(), -ba.sum_diff_sum());
    }
}

/// Exact oracle: for values that are small integers the f64 sums are exact, so the
/// metrics can be checked with `==`.
#[test]
fn exact_on_integers() {
    let a: Vec<f32> = (0..1000).map(|i| (i % 17) as f32 - 8.0).collect();
    let b: Vec<f32> = (0..1000).map(|i| (i % 13) as f32 - 6.0).collect();
    let dd: f64 = a
        .iter()
        .zip(&b)
        .map(|(&x, &y)| ((x - y) as f64).powi(2))
        .sum();
    let sad: f64 = a
        .iter()
        .zip(&b)
        .map(|(&x, &y)| ((x - y) as f64).abs())
        .sum();
    let (max_i, max_v) = a
        .iter()
        .zip(&b)
        .map(|(&x, &y)| ((x - y) as f64).abs())
        .enumerate()
        .fold(
            (0, -1.0),
            |(bi, bv), (i, v)| if v > bv { (i, v) } else { (bi, bv) },
        );
    for isa in Isa::available() {
        let mut s = DiffStats::default();
        s.update_with(isa, &a, &b, 0);
        assert_eq!(s.sum_sq_diff(), dd);
        assert_eq!(s.sum_abs_diff(), sad);
        assert_eq!(
            (s.max_abs(), s.max_abs_index()),
            (max_v, Some(max_i as u64))
        );
    }
    assert_eq!(l2_distance(&a, &b), dd.sqrt());
    assert_eq!(mean_abs_diff(&a, &b), sad / 1000.0);
    assert_eq!(max_abs_diff(&a, &b), max_v);
}

/// 1 − cos must keep relative accuracy for near-identical vectors. The oracle uses the
/// exact identity 1 − cos = ‖a×b‖²-free form: with b = a + ε·e_k (one perturbed element) the
/// sums are computed here in f64 from integers, so the reference is essentially exact.
#[test]
fn one_minus_cosine_is_accurate_near_one() {
    let mut r = Rng(3);
    let a: Vec<f32> = (0..100_003).map(|_| r.unit()).collect();
    let mut b = a.clone();
    b[77] += 1e-6;
    b[50_001] -= 3e-7;
    let (mut aa, mut bb, mut ab) = (0f64, 0f64, 0f64);
    // Kahan-compensated f64 oracle (sums of ~1e5 products of f32 values).
    let (mut ca, mut cb, mut cab) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(&b) {
        let (x, y) = (x as f64, y as f64);
        kahan(&mut aa, &mut ca, x * x);
        kahan(&mut bb, &mut cb, y * y);
        kahan(&mut ab, &mut cab, x * y);
    }
    let reference = 1.0 - ab / (aa.sqrt() * bb.sqrt());
    for isa in Isa::available() {
        let mut s = DiffStats::default();
        s.update_with(isa, &a, &b, 0);
        let got = s.one_minus_cosine().unwrap();
        // The bound: |cos − cos_ref| ≤ 1e-12 + 1e-4·(1 − cos_ref).
        assert!(
            (got - reference).abs() <= 1e-12 + 1e-4 * reference,
            "{isa:?}: {got:e} vs {reference:e}"
        );
        assert!(got > 0.0);
    }
}

fn kahan(sum: &mut f64, c: &mut f64, x: f64) {
    let y = x - *c;
    let t = *sum + y;
    *c = (t - *sum) - y;
    *sum = t;
}

#[test]
fn half_conversions_match_scalar_for_every_bit_pattern() {
    let src: Vec<u8> = (0..=u16::MAX).flat_map(|h| h.to_le_bytes()).collect();
    let n = src.len() / 2;
    let mut want_f16 = vec![0f32; n];
    let mut want_bf16 = vec![0f32; n];
    for (i, c) in src.chunks_exact(2).enumerate() {
        let h = u16::from_le_bytes([c[0], c[1]]);
        want_f16[i] = half::f16::from_bits(h).to_f32();
        // bf16 → f32 is exact bit extension (NaN payloads kept, unlike `half`, which quiets).
        want_bf16[i] = f32::from_bits((h as u32) << 16);
    }
    for isa in Isa::available() {
        // Odd offsets and lengths exercise the tails.
        for (start, end) in [(0, n), (3, n - 5), (1, 18)] {
            let mut got = vec![0f32; end - start];
            f16_to_f32_with(isa, &src[2 * start..2 * end], &mut got);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            // NaN payloads: F16C quiets signalling NaNs exactly as `half` does; compare bits.
            let first_diff =
                |x: &[f32], y: &[f32]| bits(x).iter().zip(bits(y)).position(|(p, q)| *p != q);
            assert_eq!(first_diff(&got, &want_f16[start..end]), None, "{isa:?} f16");
            bf16_to_f32_with(isa, &src[2 * start..2 * end], &mut got);
            assert_eq!(
                first_diff(&got, &want_bf16[start..end]),
                None,
                "{isa:?} bf16"
            );
        }
    }
}

#[test]
fn parse_accepts_every_name_and_rejects_others_listing_the_valid_ones() {
    for &isa in Isa::ALL {
        assert_eq!(Isa::parse(isa.name()), Ok(isa));
        assert_eq!(
            Isa::parse(&format!(" {} ", isa.name().to_uppercase())),
            Ok(isa)
        );
        assert_eq!(isa.name().parse::<Isa>(), Ok(isa));
    }
    for bad in ["", "avx", "sse2", "sve", "neon64", "avx-512"] {
        let err = Isa::parse(bad).unwrap_err();
        assert_eq!(
            err,
            IsaError::Unknown {
                name: bad.to_string()
            }
        );
        assert_eq!(
            err.to_string(),
            format!("unknown instruction set `{bad}`, expected one of: scalar, avx2, avx512, neon")
        );
    }
}

#[test]
fn an_unavailable_isa_is_an_error_naming_the_available_ones() {
    // This CPU may have every implementation, so the check is also driven with a given list.
    let err = check(Isa::Avx512, &[Isa::Scalar, Isa::Avx2]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "instruction set `avx512` is not available on this CPU (available: scalar, avx2)"
    );
    assert_eq!(check(Isa::Avx2, &[Isa::Scalar, Isa::Avx2]), Ok(Isa::Avx2));
    let err = from_name("avx2", &[Isa::Scalar]).unwrap_err();
    assert!(
        matches!(err, IsaError::Unavailable { isa: Isa::Avx2, .. }),
        "{err}"
    );
    assert!(matches!(
        from_name("x", &[Isa::Scalar]),
        Err(IsaError::Unknown { .. })
    ));
    let available = Isa::available();
    assert_eq!(available.first(), Some(&Isa::Scalar));
    for &isa in Isa::ALL {
        if !available.contains(&isa) {
            assert_eq!(
                Isa::force(isa),
                Err(IsaError::Unavailable {
                    isa,
                    available: available.clone()
                })
            );
        }
    }
}

#[test]
fn force_pins_the_selection() {
    // Forcing the current choice again changes nothing for the tests running alongside.
    let isa = Isa::selected();
    assert_eq!(Isa::force(isa), Ok(()));
    assert_eq!(Isa::try_selected(), Ok(isa));
    assert_eq!(Isa::selected(), isa);
    assert!(isa.is_available());
}

#[test]
fn vectorize_runs_the_closure_for_every_isa() {
    let (a, b) = pair(11, 1001, false);
    let want: Vec<f32> = a.iter().zip(&b).map(|(&x, &y)| x * y + 0.5).collect();
    for isa in Isa::available() {
        let got: Vec<f32> =
            isa.vectorize(|| a.iter().zip(&b).map(|(&x, &y)| x * y + 0.5).collect());
        // Bit-identical: Rust never contracts `x * y + 0.5` into a fused multiply-add.
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "{isa}");
    }
}

/// Every kind of side, as (name, encoder of `f32` values to the stored form).
const KINDS: &[&str] = &["f32", "f16", "bf16"];

/// `v` rounded to the kind's stored bytes (for f32, the values themselves).
fn encode(kind: &str, v: &[f32]) -> Vec<u8> {
    match kind {
        "f16" => v
            .iter()
            .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
            .collect(),
        "bf16" => v
            .iter()
            .flat_map(|&x| ((x.to_bits() >> 16) as u16).to_le_bytes())
            .collect(),
        _ => Vec::new(),
    }
}

/// The stored side `bytes` (or `v` for f32) as [`Elements`].
fn side<'a>(kind: &str, v: &'a [f32], bytes: &'a [u8]) -> Elements<'a> {
    match kind {
        "f16" => Elements::F16(bytes),
        "bf16" => Elements::BF16(bytes),
        _ => Elements::F32(v),
    }
}

/// The side's values after conversion by the (already tested) conversion routines.
fn decoded(isa: Isa, kind: &str, v: &[f32], bytes: &[u8]) -> Vec<f32> {
    let mut out = vec![0f32; v.len()];
    match kind {
        "f16" => f16_to_f32_with(isa, bytes, &mut out),
        "bf16" => bf16_to_f32_with(isa, bytes, &mut out),
        _ => out.copy_from_slice(v),
    }
    out
}

#[test]
fn fused_halves_equal_convert_then_update_and_match_scalar() {
    for isa in Isa::available() {
        for &ka in KINDS {
            for &kb in KINDS {
                for &n in LENGTHS {
                    for specials in [false, true] {
                        let what = format!("{ka} vs {kb}, n={n} specials={specials}");
                        let (a, b) = pair(n as u64 * 17 + specials as u64, n, specials);
                        let (ea, eb) = (encode(ka, &a), encode(kb, &b));
                        let (sa, sb) = (side(ka, &a, &ea), side(kb, &b, &eb));
                        let mut fused = DiffStats::default();
                        fused.update_elements_with(isa, sa, sb, 5);
                        // The same ISA's two-pass path: identical bits (exact conversion, same
                        // lanes, same summation order).
                        let (da, db) = (decoded(isa, ka, &a, &ea), decoded(isa, kb, &b, &eb));
                        let mut two_pass = DiffStats::default();
                        two_pass.update_with(isa, &da, &db, 5);
                        assert_eq!(fused, two_pass, "{isa:?} fused vs two-pass, {what}");
                        // The scalar twin of the fused kernel.
                        let mut r = DiffStats::default();
                        scalar::accumulate_elements(sa, sb, 5, &mut r);
                        assert_same(isa, &fused, &r, &what);
                    }
                }
            }
        }
    }
}

/// Stored bytes as an F16 side.
const F16_SIDE: fn(&[u8]) -> Elements = |h| Elements::F16(h);
/// Stored bytes as a BF16 side.
const BF16_SIDE: fn(&[u8]) -> Elements = |h| Elements::BF16(h);

#[test]
fn fused_halves_cover_every_bit_pattern() {
    // Every f16 / bf16 bit pattern (NaNs, infinities, subnormals, ±0) against a rotation of
    // itself and against itself, at an odd offset so lanes and tails see each case.
    let all: Vec<u8> = (0..=u16::MAX).flat_map(|h| h.to_le_bytes()).collect();
    let rotated: Vec<u8> = [&all[2 * 12_345..], &all[..2 * 12_345]].concat();
    for isa in Isa::available() {
        for (name, wrap) in [("f16", F16_SIDE), ("bf16", BF16_SIDE)] {
            for (a, b) in [(&all[6..], &rotated[6..]), (&all[2..], &all[2..])] {
                let mut fused = DiffStats::default();
                fused.update_elements_with(isa, wrap(a), wrap(b), 3);
                let mut r = DiffStats::default();
                scalar::accumulate_elements(wrap(a), wrap(b), 3, &mut r);
                assert_same(isa, &fused, &r, name);
                let len = vec![0.0; a.len() / 2];
                let (da, db) = (decoded(isa, name, &len, a), decoded(isa, name, &len, b));
                let mut two_pass = DiffStats::default();
                two_pass.update_with(isa, &da, &db, 3);
                assert_eq!(fused, two_pass, "{isa:?} {name} fused vs two-pass");
            }
        }
    }
}

#[test]
fn fused_sides_of_odd_bytes_or_unequal_lengths_panic() {
    for (a, b) in [
        (Elements::F16(&[0, 0, 0]), Elements::F16(&[0, 0, 0])),
        (Elements::BF16(&[0, 0]), Elements::F32(&[1.0, 2.0])),
    ] {
        let r = std::panic::catch_unwind(|| DiffStats::default().update_elements(a, b, 0));
        assert!(r.is_err(), "{a:?} vs {b:?}");
    }
}

#[test]
fn unequal_lengths_panic_as_documented() {
    let r = std::panic::catch_unwind(|| l2_distance(&[1.0], &[1.0, 2.0]));
    assert!(r.is_err());
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn simd_equals_scalar(v in proptest::collection::vec((any::<f32>(), any::<f32>()), 0..300)) {
            let (a, b): (Vec<f32>, Vec<f32>) = v.into_iter().unzip();
            let mut r = DiffStats::default();
            scalar::accumulate(&a, &b, 0, &mut r);
            for isa in Isa::available() {
                let mut s = DiffStats::default();
                s.update_with(isa, &a, &b, 0);
                prop_assert_eq!((s.compared(), s.mismatches(), s.nonfinite_a(), s.nonfinite_b()),
                    (r.compared(), r.mismatches(), r.nonfinite_a(), r.nonfinite_b()));
                prop_assert_eq!((s.max_abs(), s.max_abs_index()), (r.max_abs(), r.max_abs_index()));
                // Arbitrary f32 values span 2^256 of magnitude; compare sums relative to the
                // sum of squares' scale.
                let scale = r.sum_sq_a() + r.sum_sq_b() + r.sum_sq_diff();
                prop_assert!((s.sum_sq_diff() - r.sum_sq_diff()).abs() <= 1e-12 * scale);
            }
        }

        #[test]
        fn fused_halves_equal_scalar(v in proptest::collection::vec((any::<u16>(), any::<u16>()), 0..300), bf in any::<bool>()) {
            let a: Vec<u8> = v.iter().flat_map(|p| p.0.to_le_bytes()).collect();
            let b: Vec<u8> = v.iter().flat_map(|p| p.1.to_le_bytes()).collect();
            let wrap = if bf { BF16_SIDE } else { F16_SIDE };
            let mut r = DiffStats::default();
            scalar::accumulate_elements(wrap(&a), wrap(&b), 0, &mut r);
            for isa in Isa::available() {
                let mut s = DiffStats::default();
                s.update_elements_with(isa, wrap(&a), wrap(&b), 0);
                prop_assert_eq!((s.compared(), s.mismatches(), s.nonfinite_a(), s.nonfinite_b()),
                    (r.compared(), r.mismatches(), r.nonfinite_a(), r.nonfinite_b()));
                prop_assert_eq!((s.max_abs(), s.max_abs_index()), (r.max_abs(), r.max_abs_index()));
                let scale = r.sum_sq_a() + r.sum_sq_b() + r.sum_sq_diff();
                prop_assert!((s.sum_sq_diff() - r.sum_sq_diff()).abs() <= 1e-12 * scale);
                prop_assert!((s.sum_diff_sum() - r.sum_diff_sum()).abs() <= 1e-12 * scale);
            }
        }
    }
}

/// The AVX-512 and AVX2 blocks are swept first without per-step finiteness tests: on finite
/// values that sweep equals the careful one bit for bit, and any non-finite value anywhere in
/// the block (either side, first or last lane, the tail) makes it give up.
#[cfg(target_arch = "x86_64")]
#[test]
fn optimistic_and_careful_sweeps_agree_and_any_nonfinite_value_forces_the_careful_one() {
    use crate::elements::{F16, F32};
    use crate::x86_64::{avx2, avx512, Partials};

    fn settle<const W: usize, const L: usize>(
        p: Option<Partials<W, L>>,
        n: usize,
    ) -> Option<(DiffStats, Option<f64>)> {
        p.map(|p| {
            let mut s = DiffStats::default();
            let m = p.finish(n, &mut s);
            (s, m)
        })
    }
    type Sweeps = (
        Option<(DiffStats, Option<f64>)>,
        Option<(DiffStats, Option<f64>)>,
    );
    fn sweeps<const K: u8>(isa: Isa, a: Elements, b: Elements) -> Sweeps {
        let n = a.len();
        // SAFETY: `isa` is available (the caller iterates `Isa::available`), the sides have
        // equal lengths and the kinds `K`, and AVX2 blocks are multiples of 8 long.
        unsafe {
            match isa {
                Isa::Avx512 => (
                    settle(avx512::sweep::<K, K, true>(a, b), n),
                    settle(avx512::sweep::<K, K, false>(a, b), n),
                ),
                _ => (
                    settle(avx2::sweep::<K, K, true>(a, b), n),
                    settle(avx2::sweep::<K, K, false>(a, b), n),
                ),
            }
        }
    }
    let isas: Vec<Isa> = Isa::available()
        .into_iter()
        .filter(|&i| i != Isa::Scalar)
        .collect();
    for n in [8usize, 4000, 4096] {
        let (a, b) = pair(n as u64 + 11, n, false);
        let (ha, hb) = (encode("f16", &a), encode("f16", &b));
        for &isa in &isas {
            let (o, c) = sweeps::<F32>(isa, Elements::F32(&a), Elements::F32(&b));
            assert!(o.is_some() && o == c, "{isa:?} f32 n={n}");
            let (o, c) = sweeps::<F16>(isa, Elements::F16(&ha), Elements::F16(&hb));
            assert!(o.is_some() && o == c, "{isa:?} f16 n={n}");
            for at in [0, n / 2 + 3, n - 1] {
                for bad in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
                    for side in 0..2 {
                        let (mut x, mut y) = (a.clone(), b.clone());
                        if side == 0 {
                            x[at] = bad
                        } else {
                            y[at] = bad
                        }
                        let (o, c) = sweeps::<F32>(isa, Elements::F32(&x), Elements::F32(&y));
                        assert!(o.is_none(), "{isa:?} n={n} at={at} {bad} side {side}");
                        let (s, _) = c.expect("the careful sweep always returns");
                        assert_eq!(s.compared(), n as u64 - 1, "{isa:?} n={n} at={at}");
                    }
                }
            }
        }
    }
}

/// The fused kernels of `isa` on the stored sides `x`, `y` (first pair at flat index `offset`)
/// equal that ISA's `f32` kernel on their decoded values `vx`, `vy` bit for bit, and the
/// scalar twin (see [`assert_same`]).
fn fused_agrees(
    isa: Isa,
    (x, y): (Elements, Elements),
    (vx, vy): (&[f32], &[f32]),
    offset: u64,
    what: &str,
) {
    let mut fused = DiffStats::default();
    fused.update_elements_with(isa, x, y, offset);
    let mut two_pass = DiffStats::default();
    two_pass.update_with(isa, vx, vy, offset);
    assert_eq!(fused, two_pass, "{isa:?} fused vs two-pass, {what}");
    let mut r = DiffStats::default();
    scalar::accumulate_elements(x, y, offset, &mut r);
    assert_same(isa, &fused, &r, what);
}

/// The ggml block kinds as (name, bytes per block, side constructor).
#[allow(clippy::type_complexity)]
const BLOCK_KINDS: &[(&str, usize, fn(&[u8]) -> Elements<'_>)] = &[
    ("q8_0", 34, |b| Elements::Q8_0(b)),
    ("q4_0", 18, |b| Elements::Q4_0(b)),
    ("q4_1", 20, |b| Elements::Q4_1(b)),
    ("iq4_nl", 18, |b| Elements::IQ4_NL(b)),
    ("q5_0", 22, |b| Elements::Q5_0(b)),
    ("q5_1", 24, |b| Elements::Q5_1(b)),
];

/// Blocks of `n` elements (a multiple of 32) of `bb` bytes: random quant bytes (the extremes
/// included) under the binary16 scales `scales` in turn (for `Q4_1` and `Q5_1`, the next scale
/// is the offset), and B's blocks: A's with some bytes moved by one, some blocks rescaled.
fn block_pair(seed: u64, n: usize, bb: usize, scales: &[u16]) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng(seed | 1);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let head = if matches!(bb, 20 | 24) { 4 } else { 2 };
    for blk in 0..n / 32 {
        let d = scales[blk % scales.len()];
        let m = scales[(blk + 1) % scales.len()];
        let q: Vec<u8> = (0..bb - head)
            .map(|i| match i {
                0 if blk % 3 == 0 => 0x80,
                1 if blk % 3 == 0 => 0x7f,
                2 if blk % 3 == 0 => 0xff,
                3 if blk % 3 == 0 => 0x00,
                _ => rng.next_u64() as u8,
            })
            .collect();
        let head_bytes = |d: u16| {
            let mut h = d.to_le_bytes().to_vec();
            if head == 4 {
                h.extend(m.to_le_bytes());
            }
            h
        };
        a.extend(head_bytes(d));
        a.extend(&q);
        b.extend(head_bytes(if blk % 5 == 4 { 0x3c00 } else { d }));
        b.extend(q.iter().map(|&x| match rng.next_u64() % 4 {
            0 => x ^ 1,
            _ => x,
        }));
    }
    (a, b)
}

/// Blocks decoded by definition (ggml's formulas in `f32`).
fn blocks_decoded(kind: &str, bytes: &[u8]) -> Vec<f32> {
    let h = |b: &[u8], at: usize| half::f16::from_le_bytes([b[at], b[at + 1]]).to_f32();
    let nibbles = |qs: &[u8]| -> Vec<u8> {
        let mut v: Vec<u8> = qs.iter().map(|q| q & 0x0f).collect();
        v.extend(qs.iter().map(|q| q >> 4));
        v
    };
    match kind {
        "q8_0" => bytes
            .chunks_exact(34)
            .flat_map(|b| b[2..].iter().map(move |&q| q as i8 as f32 * h(b, 0)))
            .collect(),
        "iq4_nl" => bytes
            .chunks_exact(18)
            .flat_map(|b| {
                const KV: [i8; 16] = [
                    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
                ];
                let d = h(b, 0);
                nibbles(&b[2..])
                    .into_iter()
                    .map(move |q| d * KV[q as usize] as f32)
            })
            .collect(),
        // The fifth bit of element i is bit i of the little-endian u32 before the nibbles.
        "q5_0" | "q5_1" => {
            let (bb, head) = if kind == "q5_0" { (22, 2) } else { (24, 4) };
            bytes
                .chunks_exact(bb)
                .flat_map(|b| {
                    let qh = u32::from_le_bytes(b[head..head + 4].try_into().unwrap());
                    let (d, m) = (h(b, 0), if bb == 24 { h(b, 2) } else { 0.0 });
                    nibbles(&b[head + 4..])
                        .into_iter()
                        .enumerate()
                        .map(move |(i, q)| {
                            let q = q as i32 + 16 * ((qh >> i) & 1) as i32;
                            if bb == 22 {
                                d * (q - 16) as f32
                            } else {
                                d * q as f32 + m
                            }
                        })
                })
                .collect()
        }
        "q4_0" => bytes
            .chunks_exact(18)
            .flat_map(|b| {
                let d = h(b, 0);
                nibbles(&b[2..])
                    .into_iter()
                    .map(move |q| d * (q as f32 - 8.0))
            })
            .collect(),
        _ => bytes
            .chunks_exact(20)
            .flat_map(|b| {
                let (d, m) = (h(b, 0), h(b, 2));
                nibbles(&b[4..]).into_iter().map(move |q| d * q as f32 + m)
            })
            .collect(),
    }
}

/// The fused kernels read ggml blocks (`Q8_0`, `Q4_0`, `Q4_1`, `IQ4_NL`, `Q5_0`, `Q5_1`) in
/// registers: bit for bit what
/// decoding to `f32` and the same ISA's `f32` kernel give, against every other kind of side
/// (blocks of each kind, halves, `f32`) on either side, for the scalar twin too; the
/// self-comparison kernel agrees; non-finite and zero scales count as decoding gives them.
#[test]
fn fused_blocks_equal_decode_then_update_and_match_scalar() {
    // Ordinary scales, then specials: +inf, NaN, zero, a subnormal, the largest finite.
    let plain: &[u16] = &[0x2e66, 0x1c00, 0x3c00, 0xa000];
    let special: &[u16] = &[0x2e66, 0x7c00, 0x1c00, 0x7e00, 0x0000, 0x0001, 0x7bff];
    for isa in Isa::available() {
        for n in [32usize, 64, 96, 4096 + 32, 3 * 4096 + 96] {
            for (si, scales) in [plain, special].into_iter().enumerate() {
                let data: Vec<_> = BLOCK_KINDS
                    .iter()
                    .map(|&(k, bb, _)| {
                        let (x, y) =
                            block_pair(n as u64 * 3 + si as u64 + bb as u64, n, bb, scales);
                        let (dx, dy) = (blocks_decoded(k, &x), blocks_decoded(k, &y));
                        (x, y, dx, dy)
                    })
                    .collect();
                for (&(ka, _, wrap_a), (xa, _, da, _)) in BLOCK_KINDS.iter().zip(&data) {
                    let wa = wrap_a(xa);
                    assert_eq!(wa.len(), n);
                    // Every other side: each block kind's B, and this kind's B decoded and
                    // stored as halves or f32.
                    let mut sides: Vec<(String, Elements, Vec<f32>)> = BLOCK_KINDS
                        .iter()
                        .zip(&data)
                        .map(|(&(k, _, w), (_, y, _, dy))| (k.to_string(), w(y), dy.clone()))
                        .collect();
                    let own = BLOCK_KINDS.iter().position(|k| k.0 == ka).unwrap();
                    let db = &data[own].3;
                    let enc: Vec<(&str, Vec<u8>)> = ["f16", "bf16"]
                        .iter()
                        .map(|&k| (k, encode(k, db)))
                        .collect();
                    for (k, e) in &enc {
                        sides.push((k.to_string(), side(k, db, e), decoded(isa, k, db, e)));
                    }
                    sides.push(("f32".into(), Elements::F32(db), db.clone()));
                    for (kb, eb, vb) in &sides {
                        for swap in [false, true] {
                            let what = format!("{ka} vs {kb} n={n} scales {si} swap={swap}");
                            let (x, y, vx, vy) = if swap {
                                (*eb, wa, vb.as_slice(), da.as_slice())
                            } else {
                                (wa, *eb, da.as_slice(), vb.as_slice())
                            };
                            fused_agrees(isa, (x, y), (vx, vy), 7, &what);
                        }
                    }
                    let (mut s, mut r) = (DiffStats::default(), DiffStats::default());
                    s.update_self_with(isa, wa, 3);
                    r.update_elements_with(isa, wa, wa, 3);
                    assert_eq!(s, r, "{isa:?} {ka} self n={n} scales {si}");
                    if si == 1 && n >= 64 {
                        assert!(
                            s.nonfinite_a() > 0,
                            "{ka}: special scales, non-finite values"
                        );
                    }
                }
            }
        }
    }
}

#[test]
#[should_panic(expected = "whole elements")]
fn a_partial_block_is_refused() {
    let mut s = DiffStats::default();
    s.update_self(Elements::Q4_1(&[0u8; 39]), 0);
}

/// A `float8_e4m3fn` byte by the OCP definition (bias 7, `S.1111.111` NaN, no infinities).
fn e4m3_by_definition(b: u8) -> f32 {
    let sign = if b & 0x80 != 0 { -1.0f32 } else { 1.0 };
    let (e, m) = (((b >> 3) & 0xf) as i32, (b & 7) as f32);
    if e == 15 && b & 7 == 7 {
        f32::NAN
    } else if e == 0 {
        sign * m * 2f32.powi(-9)
    } else {
        sign * (1.0 + m / 8.0) * 2f32.powi(e - 7)
    }
}

/// A `float8_e5m2` byte by definition: bias 15, two mantissa bits, infinities and NaNs as
/// binary16 has them (decoded as `f64`, then narrowed: every value is exact in `f32`).
fn e5m2_by_definition(b: u8) -> f32 {
    let sign = if b & 0x80 != 0 { -1.0f64 } else { 1.0 };
    let (e, m) = (((b >> 2) & 0x1f) as i32, (b & 3) as f64);
    match e {
        31 if m == 0.0 => (sign * f64::INFINITY) as f32,
        // A NaN with the byte's payload in binary16's top mantissa bits, as `half` widens it.
        31 => half::f16::from_bits((b as u16) << 8).to_f32(),
        0 => (sign * m / 4.0 * 2f64.powi(-14)) as f32,
        _ => (sign * (1.0 + m / 4.0) * 2f64.powi(e - 15)) as f32,
    }
}

#[test]
fn f8_getters_decode_every_byte_by_definition() {
    for b in 0..=255u8 {
        let (x, y) = (scalar::e4m3(b), e4m3_by_definition(b));
        assert_eq!(x.to_bits(), y.to_bits(), "e4m3 {b:#04x}: {x} vs {y}");
        let (x, y) = (scalar::e5m2(b), e5m2_by_definition(b));
        assert_eq!(x.to_bits(), y.to_bits(), "e5m2 {b:#04x}: {x} vs {y}");
    }
}

/// The fused kernels read 8-bit floats in registers: every pair of bytes (A the low byte of
/// a 16-bit counter, B its high byte) gives bit for bit what decoding both sides by definition
/// and the same ISA's `f32` kernel give, against each F8 kind and the halves and `f32` holding
/// the same values, on either side, at offsets that move the tails; the scalar twin and the
/// self kernel agree.
#[test]
fn fused_f8_equal_decode_then_update_and_match_scalar() {
    type Decode = fn(u8) -> f32;
    #[allow(clippy::type_complexity)]
    let f8: [(&str, fn(&[u8]) -> Elements<'_>, Decode); 2] = [
        ("e4m3", |b| Elements::F8E4M3(b), e4m3_by_definition),
        ("e5m2", |b| Elements::F8E5M2(b), e5m2_by_definition),
    ];
    let all: Vec<u16> = (0..=u16::MAX).collect();
    let lo: Vec<u8> = all.iter().map(|&i| i as u8).collect();
    let hi: Vec<u8> = all.iter().map(|&i| (i >> 8) as u8).collect();
    for isa in Isa::available() {
        for cut in [0usize, 3, 4096 - 5] {
            for (ka, wrap_a, dec_a) in f8 {
                let (xa, ya) = (&lo[cut..], &hi[cut..]);
                let va: Vec<f32> = xa.iter().map(|&b| dec_a(b)).collect();
                // B: each F8 kind, then A's kind's values as halves and `f32`.
                let mut sides: Vec<(String, Elements, Vec<f32>)> = f8
                    .iter()
                    .map(|&(kb, w, d)| (kb.to_string(), w(ya), ya.iter().map(|&b| d(b)).collect()))
                    .collect();
                let vb: Vec<f32> = ya.iter().map(|&b| dec_a(b)).collect();
                let enc: Vec<(&str, Vec<u8>)> = ["f16", "bf16"]
                    .iter()
                    .map(|&k| (k, encode(k, &vb)))
                    .collect();
                for (k, e) in &enc {
                    sides.push((k.to_string(), side(k, &vb, e), decoded(isa, k, &vb, e)));
                }
                sides.push(("f32".into(), Elements::F32(&vb), vb.clone()));
                for (kb, eb, dvb) in &sides {
                    for swap in [false, true] {
                        let what = format!("{ka} vs {kb} cut={cut} swap={swap}");
                        let (x, y, vx, vy) = if swap {
                            (*eb, wrap_a(xa), dvb.as_slice(), va.as_slice())
                        } else {
                            (wrap_a(xa), *eb, va.as_slice(), dvb.as_slice())
                        };
                        fused_agrees(isa, (x, y), (vx, vy), 9, &what);
                    }
                }
                let (mut s, mut r) = (DiffStats::default(), DiffStats::default());
                s.update_self_with(isa, wrap_a(xa), 3);
                r.update_elements_with(isa, wrap_a(xa), wrap_a(xa), 3);
                assert_eq!(s, r, "{isa:?} {ka} self cut={cut}");
                assert!(s.nonfinite_a() > 0, "{ka}: every byte, NaN among them");
            }
        }
    }
}

/// `Q4_K` super-blocks decoded by ggml's definition (`dequantize_row_q4_K` with
/// `get_scale_min_k4`), in `f32`.
fn q4_k_decoded(bytes: &[u8]) -> Vec<f32> {
    let h = |b: &[u8], at: usize| half::f16::from_le_bytes([b[at], b[at + 1]]).to_f32();
    let mut out = Vec::new();
    for b in bytes.chunks_exact(144) {
        let (d, dmin, sc) = (h(b, 0), h(b, 2), &b[4..16]);
        let mut scale = [0u8; 8];
        let mut min = [0u8; 8];
        for j in 0..8 {
            (scale[j], min[j]) = if j < 4 {
                (sc[j] & 63, sc[j + 4] & 63)
            } else {
                (
                    (sc[j + 4] & 0xf) | ((sc[j - 4] >> 6) << 4),
                    (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4),
                )
            };
        }
        for c in 0..4 {
            let q = &b[16 + 32 * c..][..32];
            for (s, shift) in [(2 * c, 0), (2 * c + 1, 4)] {
                let (d1, m1) = (d * scale[s] as f32, dmin * min[s] as f32);
                out.extend(q.iter().map(|&x| d1 * ((x >> shift) & 0xf) as f32 - m1));
            }
        }
    }
    out
}

/// `IQ4_XS` super-blocks decoded by ggml's definition (`dequantize_row_iq4_xs`), in `f32`.
fn iq4_xs_decoded(bytes: &[u8]) -> Vec<f32> {
    const KV: [i8; 16] = [
        -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
    ];
    let mut out = Vec::new();
    for b in bytes.chunks_exact(136) {
        let d = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
        let scales_h = u16::from_le_bytes([b[2], b[3]]) as i32;
        for ib in 0..8 {
            let ls = ((b[4 + ib / 2] as i32 >> (4 * (ib % 2))) & 0xf)
                | (((scales_h >> (2 * ib)) & 3) << 4);
            let dl = d * (ls - 32) as f32;
            let qs = &b[8 + 16 * ib..][..16];
            out.extend(qs.iter().map(|&q| dl * KV[(q & 0xf) as usize] as f32));
            out.extend(qs.iter().map(|&q| dl * KV[(q >> 4) as usize] as f32));
        }
    }
    out
}

/// `n / 256` random super-blocks of `bb` bytes (`Q4_K` 144, `IQ4_XS` 136) whose binary16
/// factors (`Q4_K` `d` and `dmin`, `IQ4_XS` `d`) are taken from `scales` in turn, and B: A
/// with some quant and scale bytes moved by one and some `d` replaced.
fn k_pair(seed: u64, n: usize, bb: usize, scales: &[u16]) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng(seed | 1);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    // Where the binary16 factors and the scale bytes are.
    let (halves, sc) = if bb == 144 {
        (0..4, 4..16)
    } else {
        (0..2, 2..8)
    };
    for blk in 0..n / 256 {
        let mut x: Vec<u8> = (0..bb)
            .map(|i| match i {
                i if sc.contains(&i) && blk % 4 == 1 => 0xff, // every scale (and min) 63
                i if sc.contains(&i) && blk % 4 == 2 => 0x00,
                _ => rng.next_u64() as u8,
            })
            .collect();
        x[..2].copy_from_slice(&scales[blk % scales.len()].to_le_bytes());
        if bb == 144 {
            x[2..4].copy_from_slice(&scales[(blk + 3) % scales.len()].to_le_bytes());
        }
        let mut y = x.clone();
        if blk % 5 == 4 {
            y[..2].copy_from_slice(&0x3c00u16.to_le_bytes());
        }
        for (i, v) in y.iter_mut().enumerate() {
            if !halves.contains(&i) && rng.next_u64().is_multiple_of(4) {
                *v ^= 1;
            }
        }
        a.extend(x);
        b.extend(y);
    }
    (a, b)
}

/// The 256-element super-block kinds as (name, bytes per super-block, side constructor,
/// decoder).
#[allow(clippy::type_complexity)]
const K_KINDS: &[(
    &str,
    usize,
    fn(&[u8]) -> Elements<'_>,
    fn(&[u8]) -> Vec<f32>,
)] = &[
    ("q4_k", 144, |b| Elements::Q4_K(b), q4_k_decoded),
    ("iq4_xs", 136, |b| Elements::IQ4_XS(b), iq4_xs_decoded),
];

/// The fused kernels read `Q4_K` and `IQ4_XS` super-blocks in registers (each sub-block's
/// factors computed once per kernel block): bit for bit what decoding by definition and the
/// same ISA's `f32` kernel give, against another side of the kind, the other super-block kind,
/// `Q8_0` blocks, and the same values as halves or `f32`, on either side, for the scalar twin
/// too; the self kernel agrees.
#[test]
fn fused_super_blocks_equal_decode_then_update_and_match_scalar() {
    let plain: &[u16] = &[0x2e66, 0x1c00, 0x3c00, 0xa000, 0x0400];
    // +inf, a signalling and a quiet NaN, zero, a subnormal, the largest finite.
    let special: &[u16] = &[
        0x2e66, 0x7c00, 0x1c00, 0x7d00, 0x7e00, 0x0000, 0x0001, 0x7bff,
    ];
    for isa in Isa::available() {
        for n in [256usize, 512, 4096 + 256, 3 * 4096 + 768] {
            for (si, scales) in [plain, special].into_iter().enumerate() {
                let data: Vec<_> = K_KINDS
                    .iter()
                    .map(|&(_, bb, _, dec)| {
                        let (x, y) = k_pair(n as u64 * 5 + si as u64 + bb as u64, n, bb, scales);
                        let (dx, dy) = (dec(&x), dec(&y));
                        (x, y, dx, dy)
                    })
                    .collect();
                let q8 = block_pair(n as u64, n, 34, plain).0;
                let dq8 = blocks_decoded("q8_0", &q8);
                for (k, &(ka, _, wrap, _)) in K_KINDS.iter().enumerate() {
                    let (x, y, dx, dy) = &data[k];
                    let (other, o) = (K_KINDS[1 - k], &data[1 - k]);
                    let mut sides: Vec<(String, Elements, Vec<f32>)> = vec![
                        (ka.into(), wrap(y), dy.clone()),
                        (other.0.into(), (other.2)(&o.0), o.2.clone()),
                        ("q8_0".into(), Elements::Q8_0(&q8), dq8.clone()),
                    ];
                    let enc: Vec<(&str, Vec<u8>)> = ["f16", "bf16"]
                        .iter()
                        .map(|&k| (k, encode(k, dy)))
                        .collect();
                    for (k, e) in &enc {
                        sides.push((k.to_string(), side(k, dy, e), decoded(isa, k, dy, e)));
                    }
                    sides.push(("f32".into(), Elements::F32(dy), dy.clone()));
                    let wa = wrap(x);
                    assert_eq!(wa.len(), n);
                    for (kb, eb, vb) in &sides {
                        for swap in [false, true] {
                            let what = format!("{ka} vs {kb} n={n} scales {si} swap={swap}");
                            let (p, q, vp, vq) = if swap {
                                (*eb, wa, vb.as_slice(), dx.as_slice())
                            } else {
                                (wa, *eb, dx.as_slice(), vb.as_slice())
                            };
                            fused_agrees(isa, (p, q), (vp, vq), 7, &what);
                        }
                    }
                    let (mut s, mut r) = (DiffStats::default(), DiffStats::default());
                    s.update_self_with(isa, wa, 3);
                    r.update_elements_with(isa, wa, wa, 3);
                    assert_eq!(s, r, "{isa:?} {ka} self n={n} scales {si}");
                    assert!(s.max_abs() == 0.0 && s.len() == n as u64);
                    if si == 1 && n >= 512 {
                        assert!(
                            s.nonfinite_a() > 0,
                            "{ka}: special scales, non-finite values"
                        );
                    }
                }
            }
        }
    }
}

/// Every kind of side: (name, stored bytes per 256 elements, side constructor, decoder by
/// definition from the stored bytes).
#[allow(clippy::type_complexity)]
const ALL_KINDS: &[(
    &str,
    usize,
    fn(&[u8]) -> Elements<'_>,
    fn(&[u8]) -> Vec<f32>,
)] = &[
    (
        "f16",
        512,
        |b| Elements::F16(b),
        |b| {
            b.chunks_exact(2)
                .map(|h| half::f16::from_le_bytes([h[0], h[1]]).to_f32())
                .collect()
        },
    ),
    (
        "bf16",
        512,
        |b| Elements::BF16(b),
        |b| {
            b.chunks_exact(2)
                .map(|h| f32::from_bits((u16::from_le_bytes([h[0], h[1]]) as u32) << 16))
                .collect()
        },
    ),
    (
        "q8_0",
        272,
        |b| Elements::Q8_0(b),
        |b| blocks_decoded("q8_0", b),
    ),
    (
        "q4_0",
        144,
        |b| Elements::Q4_0(b),
        |b| blocks_decoded("q4_0", b),
    ),
    (
        "q4_1",
        160,
        |b| Elements::Q4_1(b),
        |b| blocks_decoded("q4_1", b),
    ),
    (
        "iq4_nl",
        144,
        |b| Elements::IQ4_NL(b),
        |b| blocks_decoded("iq4_nl", b),
    ),
    (
        "e4m3",
        256,
        |b| Elements::F8E4M3(b),
        |b| b.iter().map(|&x| e4m3_by_definition(x)).collect(),
    ),
    (
        "e5m2",
        256,
        |b| Elements::F8E5M2(b),
        |b| b.iter().map(|&x| e5m2_by_definition(x)).collect(),
    ),
    (
        "q5_0",
        176,
        |b| Elements::Q5_0(b),
        |b| blocks_decoded("q5_0", b),
    ),
    (
        "q5_1",
        192,
        |b| Elements::Q5_1(b),
        |b| blocks_decoded("q5_1", b),
    ),
    ("q4_k", 144, |b| Elements::Q4_K(b), q4_k_decoded),
    ("iq4_xs", 136, |b| Elements::IQ4_XS(b), iq4_xs_decoded),
];

mod prop_kinds {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any two kinds (F32 among them) over random stored bytes (random scales too: NaN,
        /// infinities, subnormals): the fused kernels of every ISA equal that ISA's `f32`
        /// kernel on both sides decoded by definition, bit for bit, and the scalar twin.
        #[test]
        fn fused_any_pair_of_kinds_equals_decode_then_update(
            ka in 0..=ALL_KINDS.len(),
            kb in 0..=ALL_KINDS.len(),
            blocks in 1usize..20,
            seed in any::<u64>(),
        ) {
            let n = 256 * blocks;
            let mut rng = Rng(seed | 1);
            let mut bytes = |len: usize| (0..len).map(|_| rng.next_u64() as u8).collect::<Vec<u8>>();
            // Kind index `ALL_KINDS.len()` is F32 (random bits).
            let (sa, sb) = (bytes(n * 4), bytes(n * 4));
            let as_f32 = |b: &[u8]| -> Vec<f32> {
                b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
            };
            let (fa, fb) = (as_f32(&sa), as_f32(&sb));
            // The side of kind `k`: its share of the random bytes, or the `f32` values.
            fn make<'a>(k: usize, b: &'a [u8], f: &'a [f32], blocks: usize) -> (Elements<'a>, Vec<f32>) {
                match ALL_KINDS.get(k) {
                    None => (Elements::F32(f), f.to_vec()),
                    Some(&(_, per, wrap, decode)) => {
                        let b = &b[..per * blocks];
                        (wrap(b), decode(b))
                    }
                }
            }
            let name = |k: usize| ALL_KINDS.get(k).map_or("f32", |k| k.0);
            let (na, nb) = (name(ka), name(kb));
            let ((ea, va), (eb, vb)) = (make(ka, &sa, &fa, blocks), make(kb, &sb, &fb, blocks));
            prop_assert_eq!((ea.len(), eb.len(), va.len(), vb.len()), (n, n, n, n));
            let mut r = DiffStats::default();
            scalar::accumulate_elements(ea, eb, 1, &mut r);
            for isa in Isa::available() {
                let mut fused = DiffStats::default();
                fused.update_elements_with(isa, ea, eb, 1);
                let mut two_pass = DiffStats::default();
                two_pass.update_with(isa, &va, &vb, 1);
                prop_assert_eq!(&fused, &two_pass, "{:?} {} vs {}", isa, na, nb);
                prop_assert_eq!(
                    (fused.compared(), fused.mismatches(), fused.nonfinite_a(), fused.nonfinite_b()),
                    (r.compared(), r.mismatches(), r.nonfinite_a(), r.nonfinite_b())
                );
                prop_assert_eq!((fused.max_abs(), fused.max_abs_index()), (r.max_abs(), r.max_abs_index()));
            }
        }
    }
}

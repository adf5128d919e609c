//! Run-time choice of the implementation, made once per process and obeyed by the kernels and,
//! through [`Isa::vectorize`], by other crates' hot loops (the GGUF dequantizers).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;
use std::{fmt, str::FromStr};

use crate::elements::Elements;
use crate::error::IsaError;
use crate::scalar;
use crate::stats::DiffStats;

/// The environment variable that pins an implementation.
const FORCE_VAR: &str = "MODELDIFF_FORCE_ISA";

/// An instruction-set implementation of the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Isa {
    /// Portable scalar code (the reference).
    Scalar,
    /// x86-64 AVX2 + FMA + F16C + BMI1/BMI2 + POPCNT (Haswell, Zen and later).
    Avx2,
    /// x86-64 AVX-512 F, BW and VL on top of [`Isa::Avx2`] (Skylake-SP, Zen 4 and later).
    Avx512,
    /// aarch64 Advanced SIMD (NEON), part of every aarch64 CPU: `f32`, F16 and BF16 sides
    /// (the other kinds of [`Elements`] run the scalar code).
    Neon,
}

/// The selection: `UNSET`, or an index into [`Isa::ALL`].
static SELECTED: AtomicU8 = AtomicU8::new(UNSET);
/// The programmatic override from [`Isa::force`]: `UNSET`, or an index into [`Isa::ALL`].
static FORCED: AtomicU8 = AtomicU8::new(UNSET);
/// Nothing stored yet.
const UNSET: u8 = u8::MAX;

impl Isa {
    /// Every implementation, best last among those of one architecture.
    pub const ALL: &'static [Isa] = &[Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon];

    /// Lower-case name (`scalar`, `avx2`, `avx512`, `neon`), as accepted by [`Isa::parse`] and
    /// `MODELDIFF_FORCE_ISA`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    /// The implementation called `name` (ASCII case and surrounding spaces ignored), whether or
    /// not this CPU has it.
    ///
    /// ```
    /// use modeldiff_kernels::Isa;
    ///
    /// assert_eq!(Isa::parse("AVX2"), Ok(Isa::Avx2));
    /// let err = Isa::parse("neon2").unwrap_err();
    /// assert!(err.to_string().contains("scalar, avx2, avx512, neon"));
    /// ```
    pub fn parse(name: &str) -> Result<Isa, IsaError> {
        let wanted = name.trim();
        Isa::ALL
            .iter()
            .copied()
            .find(|i| i.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| IsaError::Unknown {
                name: name.to_string(),
            })
    }

    /// Whether this implementation can run on the current CPU.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                // Exactly the features `with_avx2` enables.
                is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c")
                    && is_x86_feature_detected!("bmi1")
                    && is_x86_feature_detected!("bmi2")
                    && is_x86_feature_detected!("popcnt")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                // Exactly the features `with_avx512` enables.
                Isa::Avx2.is_available()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            // Another architecture's implementation.
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Every implementation usable on this CPU, scalar first.
    pub fn available() -> Vec<Isa> {
        Isa::ALL
            .iter()
            .copied()
            .filter(|i| i.is_available())
            .collect()
    }

    /// The best implementation this CPU has.
    fn best() -> Isa {
        Isa::ALL
            .iter()
            .copied()
            .rev()
            .find(|i| i.is_available())
            .unwrap_or(Isa::Scalar)
    }

    /// Pins the implementation that [`Isa::selected`] and [`Isa::try_selected`] return from now
    /// on, overriding `MODELDIFF_FORCE_ISA`. Call it before any work starts: calls already under
    /// way keep the implementation they began with.
    ///
    /// # Errors
    /// [`IsaError::Unavailable`] if the CPU lacks `isa`; the selection is then unchanged.
    pub fn force(isa: Isa) -> Result<(), IsaError> {
        check(isa, &Isa::available())?;
        FORCED.store(isa.index(), Ordering::Relaxed);
        SELECTED.store(isa.index(), Ordering::Relaxed);
        Ok(())
    }

    /// The implementation in use: the one given to [`Isa::force`], else the one named by the
    /// environment variable `MODELDIFF_FORCE_ISA` if it is set, else the best available.
    ///
    /// The environment is read once per process.
    ///
    /// # Errors
    /// [`IsaError::Env`] if `MODELDIFF_FORCE_ISA` names an unknown implementation or one this
    /// CPU lacks. There is no silent fallback: binaries call this once up front and report
    /// the error.
    pub fn try_selected() -> Result<Isa, IsaError> {
        if let Some(isa) = Isa::from_index(FORCED.load(Ordering::Relaxed)) {
            return Ok(isa);
        }
        static FROM_ENV: OnceLock<Result<Isa, IsaError>> = OnceLock::new();
        FROM_ENV
            .get_or_init(|| match std::env::var(FORCE_VAR) {
                Ok(value) => from_name(&value, &Isa::available()).map_err(|reason| IsaError::Env {
                    variable: FORCE_VAR,
                    value,
                    reason: Box::new(reason),
                }),
                Err(_) => Ok(Isa::best()),
            })
            .clone()
    }

    /// The implementation in use, cheaply (one relaxed atomic load after the first call), for
    /// hot paths.
    ///
    /// Returns the same as [`Isa::try_selected`] when that is `Ok`, and the best available
    /// implementation when it is an error (a bad `MODELDIFF_FORCE_ISA`). Binaries call
    /// [`Isa::try_selected`] up front so that a bad override is reported rather than ignored.
    #[inline]
    pub fn selected() -> Isa {
        match Isa::from_index(SELECTED.load(Ordering::Relaxed)) {
            Some(isa) => isa,
            None => Isa::select_slow(),
        }
    }

    #[cold]
    fn select_slow() -> Isa {
        let isa = Isa::try_selected().unwrap_or_else(|_| Isa::best());
        // A concurrent `force` wins over this first, lazy initialisation.
        match SELECTED.compare_exchange(UNSET, isa.index(), Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => isa,
            Err(current) => Isa::from_index(current).unwrap_or(isa),
        }
    }

    fn index(self) -> u8 {
        Isa::ALL
            .iter()
            .position(|&i| i == self)
            .expect("every Isa is in Isa::ALL") as u8
    }

    fn from_index(i: u8) -> Option<Isa> {
        Isa::ALL.get(i as usize).copied()
    }

    /// Runs `f` in a function compiled with this implementation's target features, so that
    /// the loops `f` inlines are vectorized for AVX2 or AVX-512 by the compiler. `Scalar` and
    /// `Neon` (whose features every aarch64 build already has) call `f` directly.
    ///
    /// This is the seam through which other crates' hot loops obey the one selection (the GGUF
    /// dequantizers of `modeldiff-formats` run through it).
    ///
    /// Contract: only code inlined into `f` gets the target features, so `f` and everything its
    /// hot loop calls must be inlined. Mark the closure `#[inline(always)]` (one closure body is
    /// called from every ISA's function, and LLVM will not copy a large body into each unless
    /// told to) and the functions it calls, such as per-block decoders, `#[inline(always)]` too;
    /// a call that is not inlined runs portable baseline (SSE2) code. The result is the same as
    /// calling `f` directly: Rust never contracts `a * b + c` into a fused multiply-add or
    /// reassociates floating-point operations, so wider vectors change speed, not bits.
    ///
    /// # Panics
    /// If this implementation is not available on the CPU (values from [`Isa::selected`] and
    /// [`Isa::available`] always are).
    ///
    /// ```
    /// use modeldiff_kernels::Isa;
    ///
    /// let x: Vec<f32> = (0..1000).map(|i| i as f32).collect();
    /// let mut y = vec![0f32; 1000];
    /// for isa in Isa::available() {
    ///     isa.vectorize(
    ///         #[inline(always)]
    ///         || y.iter_mut().zip(&x).for_each(|(o, &v)| *o = v * 0.5 + 1.0),
    ///     );
    ///     assert_eq!(y[10], 6.0);
    /// }
    /// ```
    #[inline]
    pub fn vectorize<R>(self, f: impl FnOnce() -> R) -> R {
        assert!(
            self.is_available(),
            "Isa::vectorize: {self} is not available on this CPU"
        );
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `is_available()` was just checked: it detected every feature `with_avx2`
            // enables at run time with `is_x86_feature_detected!`.
            Isa::Avx2 => unsafe { with_avx2(f) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above, `is_available()` detected every feature `with_avx512` enables.
            Isa::Avx512 => unsafe { with_avx512(f) },
            _ => f(),
        }
    }
}

impl fmt::Display for Isa {
    /// The [`Isa::name`], padded as the formatter asks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for Isa {
    type Err = IsaError;

    /// Same as [`Isa::parse`].
    fn from_str(s: &str) -> Result<Isa, IsaError> {
        Isa::parse(s)
    }
}

/// `isa` if it is in `available`, else [`IsaError::Unavailable`] (the list is a parameter so
/// the error path is testable on any CPU).
pub(crate) fn check(isa: Isa, available: &[Isa]) -> Result<Isa, IsaError> {
    if available.contains(&isa) {
        Ok(isa)
    } else {
        Err(IsaError::Unavailable {
            isa,
            available: available.to_vec(),
        })
    }
}

/// The implementation called `name` if it is in `available`.
pub(crate) fn from_name(name: &str, available: &[Isa]) -> Result<Isa, IsaError> {
    check(Isa::parse(name)?, available)
}

/// Calls `f` with the AVX2 feature set enabled, so that `f` (inlined here) is compiled for it.
///
/// # Safety
/// The CPU must support every feature enabled here (`Isa::Avx2.is_available()` checks them).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c,bmi1,bmi2,popcnt")]
unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Calls `f` with the AVX-512 feature set enabled, so that `f` (inlined here) is compiled for it.
///
/// # Safety
/// The CPU must support every feature enabled here (`Isa::Avx512.is_available()` checks them).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c,bmi1,bmi2,popcnt")]
unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Calls the implementation `isa` of the accumulate kernel. The caller has checked
/// `isa.is_available()` and `a.len() == b.len()`.
pub(crate) fn accumulate(isa: Isa, a: &[f32], b: &[f32], offset: u64, st: &mut DiffStats) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa.is_available()` was checked by the caller (`DiffStats::update_with`
        // asserts it; `Isa::selected` only returns available ISAs), which verified avx2, fma,
        // f16c and popcnt with `is_x86_feature_detected!`.
        Isa::Avx2 => unsafe { crate::x86_64::avx2::accumulate(a, b, offset, st) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, avx512f, avx512bw, avx512vl (and the AVX2 set) were detected at
        // run time.
        Isa::Avx512 => unsafe { crate::x86_64::avx512::accumulate(a, b, offset, st) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `isa.is_available()` was checked by the caller, which detected NEON.
        Isa::Neon => unsafe { crate::aarch64::neon::accumulate(a, b, offset, st) },
        _ => scalar::accumulate(a, b, offset, st),
    }
}

/// Calls the implementation `isa` of the fused accumulate kernel over [`Elements`]. The caller
/// has checked `isa.is_available()` and `a.len() == b.len()`.
pub(crate) fn accumulate_elements(
    isa: Isa,
    a: Elements,
    b: Elements,
    offset: u64,
    st: &mut DiffStats,
) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa.is_available()` was checked by the caller
        // (`DiffStats::update_elements_with` asserts it; `Isa::selected` only returns available
        // ISAs), which verified avx2, fma, f16c and popcnt with `is_x86_feature_detected!`.
        Isa::Avx2 => unsafe { crate::x86_64::avx2::accumulate_elements(a, b, offset, st) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, avx512f, avx512bw, avx512vl (and the AVX2 set) were detected at
        // run time.
        Isa::Avx512 => unsafe { crate::x86_64::avx512::accumulate_elements(a, b, offset, st) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `isa.is_available()` was checked by the caller, which detected NEON.
        Isa::Neon => unsafe { crate::aarch64::neon::accumulate_elements(a, b, offset, st) },
        _ => scalar::accumulate_elements(a, b, offset, st),
    }
}

/// Calls the implementation `isa` of the self-comparison kernel. The caller has checked
/// `isa.is_available()`.
pub(crate) fn accumulate_self(isa: Isa, x: Elements, offset: u64, st: &mut DiffStats) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa.is_available()` was checked by the caller (`DiffStats::update_self_with`
        // asserts it), which verified avx2, fma, f16c and popcnt with `is_x86_feature_detected!`.
        Isa::Avx2 => unsafe { crate::x86_64::avx2::accumulate_self(x, offset, st) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, avx512f, avx512bw, avx512vl (and the AVX2 set) were detected at
        // run time.
        Isa::Avx512 => unsafe { crate::x86_64::avx512::accumulate_self(x, offset, st) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `isa.is_available()` was checked by the caller, which detected NEON.
        Isa::Neon => unsafe { crate::aarch64::neon::accumulate_self(x, offset, st) },
        _ => scalar::accumulate_self(x, offset, st),
    }
}

/// Calls the implementation `isa` of a conversion routine; falls back to `scalar` when the
/// implementation does not exist for this architecture.
pub(crate) fn convert(isa: Isa, kind: crate::convert::Kind, src: &[u8], dst: &mut [f32]) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller (`convert::run`) asserted `isa.is_available()`, which detected
        // avx2, fma, f16c and popcnt at run time.
        Isa::Avx2 => unsafe { crate::x86_64::avx2::convert(kind, src, dst) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, avx512f (and the AVX2 set) were detected at run time.
        Isa::Avx512 => unsafe { crate::x86_64::avx512::convert(kind, src, dst) },
        _ => crate::convert::scalar(kind, src, dst),
    }
}

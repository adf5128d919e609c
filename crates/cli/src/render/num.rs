//! Number styles, one per kind of column, so that a column's numbers line up.
//!
//! - [`sci`]: four significant digits in scientific notation with a signed two-digit exponent
//!   (`2.770e-01`, `3.269e-16`), for distances and errors whose size spans many decades; an
//!   exact zero is `0`.
//! - [`cosine`]: nine decimals (`0.999418444`), where cosines near 1 keep their information.
//! - [`db`]: one decimal (`-31.2`), for decibels.
//! - [`csv`]: the shortest text that reads back as the same `f64`, in the form spreadsheets and
//!   `float()` parse (`0.8630353723700572`, `3.2685e-16`, `0`).
//! - [`bytes`]: binary units for sizes (`512 B`, `16.0 KiB`, `1.5 GiB`).

/// Four significant digits, scientific, exponent signed and at least two digits; `0` for zero.
pub(crate) fn sci(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    if !x.is_finite() {
        return format!("{x}");
    }
    let s = format!("{x:.3e}");
    let (mantissa, exp) = s.split_once('e').expect("LowerExp has an exponent");
    let exp: i32 = exp.parse().expect("LowerExp exponent is an integer");
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// [`sci`] of an optional value, `-` when absent.
pub(crate) fn opt_sci(x: Option<f64>) -> String {
    x.map(sci).unwrap_or_else(|| "-".into())
}

/// A cosine with nine decimals, `-` when undefined.
pub(crate) fn cosine(x: Option<f64>) -> String {
    x.map(|c| format!("{c:.9}")).unwrap_or_else(|| "-".into())
}

/// Decibels with one decimal, `-` when undefined.
pub(crate) fn db(x: Option<f64>) -> String {
    x.map(|d| format!("{d:.1}")).unwrap_or_else(|| "-".into())
}

/// The shortest round-trip text of `x`: positional between 1e-5 and 1e16, scientific outside
/// (like Python's `repr`); empty when absent.
pub(crate) fn csv(x: Option<f64>) -> String {
    let Some(x) = x else {
        return String::new();
    };
    if x == 0.0 {
        "0".into()
    } else if (1e-5..1e16).contains(&x.abs()) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// A byte count in binary units with one decimal (`B` below 1 KiB).
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `n` and the noun, in the plural unless `n` is 1 (`1 tensor`, `2 tensors`).
pub(crate) fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scientific_with_aligned_exponents() {
        assert_eq!(sci(0.0), "0");
        assert_eq!(sci(0.276968), "2.770e-01");
        assert_eq!(sci(3.2686e-16), "3.269e-16");
        assert_eq!(sci(123456.0), "1.235e+05");
        assert_eq!(sci(-0.5), "-5.000e-01");
        assert_eq!(sci(1e100), "1.000e+100");
        assert_eq!(opt_sci(None), "-");
    }

    #[test]
    fn csv_numbers_read_back_and_avoid_rust_exponents() {
        assert_eq!(csv(Some(0.0)), "0");
        assert_eq!(csv(Some(0.8630353723700572)), "0.8630353723700572");
        assert_eq!(csv(Some(3.2685e-16)), "3.2685e-16");
        assert_eq!(csv(Some(1.0)), "1");
        assert_eq!(csv(None), "");
        for x in [1e-7, 0.1, 7.98427068393164, 1e20, 5e-324] {
            assert_eq!(csv(Some(x)).parse::<f64>().unwrap(), x);
        }
    }

    #[test]
    fn sizes_and_plurals() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(16384), "16.0 KiB");
        assert_eq!(bytes(3 << 29), "1.5 GiB");
        assert_eq!(count(1, "tensor"), "1 tensor");
        assert_eq!(count(0, "tensor"), "0 tensors");
        assert_eq!(count(2, "key"), "2 keys");
        assert_eq!(cosine(Some(0.5)), "0.500000000");
        assert_eq!(db(Some(-31.25)), "-31.2");
    }
}

//! The element region two shapes share, walked as contiguous runs.
//!
//! Equal shapes compare every element as one run. Shapes of equal rank compare the overlapping
//! hyper-rectangle (per-dimension minimum): an embedding resized from `[32000, 4096]` to
//! `[32064, 4096]` compares its first 32000 rows as one run, while `[4096, 11008]` against
//! `[4096, 11000]` compares 4096 runs of 11000. Different ranks compare nothing.

/// The elements two shapes share, as `outer` runs of `run` contiguous elements.
///
/// Compared elements are numbered row-major over the region; [`Region::pieces`] maps a range
/// of those numbers to contiguous runs of flat indices in A and in B.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    comparable: bool,
    /// Extents of the dimensions that are iterated run by run (outermost first).
    outer: Vec<u64>,
    /// Element strides of those dimensions in A and in B.
    stride_a: Vec<u64>,
    stride_b: Vec<u64>,
    /// Contiguous elements per run.
    run: u64,
}

impl Region {
    /// The region shapes `a` and `b` share (nothing when their ranks differ).
    pub fn new(a: &[u64], b: &[u64]) -> Region {
        if a.len() != b.len() {
            return Region {
                comparable: false,
                outer: vec![],
                stride_a: vec![],
                stride_b: vec![],
                run: 0,
            };
        }
        if a.contains(&0) || b.contains(&0) {
            // Nothing overlaps; the products below could overflow on the other dimensions.
            return Region {
                comparable: true,
                outer: vec![],
                stride_a: vec![],
                stride_b: vec![],
                run: 0,
            };
        }
        let rank = a.len();
        // Dimensions k+1.. are equal in both shapes; the run spans dimensions k.. .
        let mut k = rank;
        while k > 0 && a[k - 1] == b[k - 1] {
            k -= 1;
        }
        if k == 0 {
            return Region {
                comparable: true,
                outer: vec![],
                stride_a: vec![],
                stride_b: vec![],
                run: a.iter().product(),
            };
        }
        let k = k - 1;
        let tail: u64 = a[k + 1..].iter().product();
        let run = a[k].min(b[k]) * tail;
        let strides = |s: &[u64]| {
            let mut st = vec![0u64; k];
            let mut acc: u64 = s[k..].iter().product();
            for j in (0..k).rev() {
                st[j] = acc;
                acc *= s[j];
            }
            st
        };
        let outer = (0..k).map(|j| a[j].min(b[j])).collect();
        Region {
            comparable: true,
            outer,
            stride_a: strides(a),
            stride_b: strides(b),
            run,
        }
    }

    /// Whether the shapes have equal ranks, so that a region (possibly empty) is compared.
    pub fn is_comparable(&self) -> bool {
        self.comparable
    }

    /// Number of compared elements.
    pub fn total(&self) -> u64 {
        if !self.comparable {
            return 0;
        }
        self.outer.iter().product::<u64>() * self.run
    }

    /// Flat offsets in A and B of the first element of run `r`.
    fn bases(&self, mut r: u64) -> (u64, u64) {
        let (mut oa, mut ob) = (0, 0);
        for j in (0..self.outer.len()).rev() {
            let i = r % self.outer[j];
            r /= self.outer[j];
            oa += i * self.stride_a[j];
            ob += i * self.stride_b[j];
        }
        (oa, ob)
    }

    /// Contiguous pieces `(offset_a, offset_b, len)` covering compared elements `start..end`.
    pub fn pieces(&self, start: u64, end: u64) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        let mut k = start;
        std::iter::from_fn(move || {
            if k >= end || self.run == 0 {
                return None;
            }
            let (r, pos) = (k / self.run, k % self.run);
            let len = (self.run - pos).min(end - k);
            let (oa, ob) = self.bases(r);
            k += len;
            Some((oa + pos, ob + pos, len))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Region;

    fn all(r: &Region) -> Vec<(u64, u64, u64)> {
        r.pieces(0, r.total()).collect()
    }

    #[test]
    fn equal_shapes_are_one_run() {
        let r = Region::new(&[3, 4], &[3, 4]);
        assert_eq!(all(&r), vec![(0, 0, 12)]);
        assert_eq!(Region::new(&[], &[]).total(), 1);
        assert_eq!(Region::new(&[0, 5], &[0, 5]).total(), 0);
    }

    #[test]
    fn zero_dimensions_do_not_overflow_the_other_products() {
        // Found by fuzzing: GGUF `ne` [0, 2^32, 2^32] is [2^32, 2^32, 0] row-major.
        let big = 1u64 << 32;
        assert_eq!(Region::new(&[big, big, 0], &[big, big, 0]).total(), 0);
        assert_eq!(Region::new(&[0, big, big, 5], &[0, big, big, 6]).total(), 0);
        assert!(all(&Region::new(&[big, 0], &[big, 3])).is_empty());
    }

    #[test]
    fn grown_rows_compare_the_common_rows() {
        let r = Region::new(&[4, 3], &[6, 3]);
        assert_eq!(all(&r), vec![(0, 0, 12)]);
    }

    #[test]
    fn narrower_columns_walk_row_by_row() {
        let r = Region::new(&[2, 5], &[3, 4]);
        assert_eq!(all(&r), vec![(0, 0, 4), (5, 4, 4)]);
        // Split across a chunk boundary inside a run.
        assert_eq!(
            r.pieces(2, 7).collect::<Vec<_>>(),
            vec![(2, 2, 2), (5, 4, 3)]
        );
    }

    #[test]
    fn rank_change_compares_nothing() {
        let r = Region::new(&[4, 4], &[16]);
        assert!(!r.is_comparable());
        assert_eq!(r.total(), 0);
    }

    #[test]
    fn three_d_inner_change() {
        let r = Region::new(&[2, 2, 3], &[2, 2, 2]);
        assert_eq!(all(&r), vec![(0, 0, 2), (3, 2, 2), (6, 4, 2), (9, 6, 2)]);
    }
}

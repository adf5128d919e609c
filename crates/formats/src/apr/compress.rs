//! Bounded decompression of APR payloads (one LZ4 block or one Zstd frame).
//!
//! The declared uncompressed size is checked against [`MAX_DECOMPRESSED_BYTES`] and against the
//! codec's largest possible expansion of the compressed bytes *before* anything is allocated;
//! then exactly that many bytes are allocated and the stream is decoded into them. A stream that
//! would produce more is stopped at the buffer's end and rejected, and one that produces less is
//! rejected too, so a decompression bomb costs at most the declared size, never more.

/// Largest uncompressed payload accepted (16 GiB): above every APR model we know of (the format
/// targets models that fit in memory after decompression), and low enough that a lying header
/// cannot make us reserve an absurd amount of memory.
pub(crate) const MAX_DECOMPRESSED_BYTES: u64 = 16 << 30;

/// Largest expansion of an LZ4 block. Each extra length byte (0xFF) of an LZ4 sequence adds at
/// most 255 bytes of output, so no valid block expands by more than 255:1 (plus a few bytes of
/// slack, [`RATIO_SLACK_BYTES`]); a larger declared size is a lie we refuse without allocating.
pub(crate) const LZ4_MAX_RATIO: u64 = 255;

/// Largest expansion of a Zstd frame: an RLE block is a 3-byte header plus 1 byte and expands to
/// at most 128 KiB (the maximum block size), i.e. 32768:1.
pub(crate) const ZSTD_MAX_RATIO: u64 = 32 * 1024;

/// Fixed slack added to the ratio bound so tiny payloads (headers, one short literal run) are
/// not refused.
pub(crate) const RATIO_SLACK_BYTES: u64 = 64;

/// A payload compression codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Codec {
    /// One raw LZ4 block (the 4-byte size prefix is read by the caller).
    Lz4,
    /// One Zstd frame.
    Zstd,
}

impl Codec {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
        }
    }

    fn max_ratio(self) -> u64 {
        match self {
            Codec::Lz4 => LZ4_MAX_RATIO,
            Codec::Zstd => ZSTD_MAX_RATIO,
        }
    }
}

/// Checks a declared uncompressed size against the limits, without allocating.
pub(crate) fn check_declared(
    codec: Codec,
    declared: u64,
    compressed: u64,
) -> Result<usize, String> {
    if declared > MAX_DECOMPRESSED_BYTES {
        return Err(format!(
            "{} payload declares {declared} uncompressed bytes, above the limit of {MAX_DECOMPRESSED_BYTES}",
            codec.name()
        ));
    }
    let bound = compressed
        .saturating_mul(codec.max_ratio())
        .saturating_add(RATIO_SLACK_BYTES);
    if declared > bound {
        return Err(format!(
            "{} payload declares {declared} uncompressed bytes from {compressed} compressed bytes, more than the codec's {}:1 maximum expansion",
            codec.name(),
            codec.max_ratio()
        ));
    }
    usize::try_from(declared)
        .map_err(|_| format!("declared size {declared} does not fit in memory"))
}

/// Decompresses `src` into a new buffer of exactly `declared` bytes (already checked with
/// [`check_declared`]), failing if the stream yields more or fewer bytes.
pub(crate) fn decompress(codec: Codec, src: &[u8], declared: usize) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; declared];
    let produced = match codec {
        Codec::Lz4 => lz4_flex::block::decompress_into(src, &mut out).map_err(|e| {
            format!("lz4 block is corrupt or decompresses to more than the declared {declared} bytes ({e})")
        })?,
        Codec::Zstd => zstd_into(src, &mut out)?,
    };
    if produced != declared {
        return Err(format!(
            "{} payload decompresses to {produced} bytes, but {declared} were declared",
            codec.name()
        ));
    }
    Ok(out)
}

/// Streams one Zstd frame into `out`, refusing output beyond its end and bytes after the frame.
fn zstd_into(src: &[u8], out: &mut [u8]) -> Result<usize, String> {
    use zstd::stream::raw::{Decoder, Operation};
    let declared = out.len();
    let err = |e: std::io::Error| {
        format!("zstd frame is corrupt or larger than the declared {declared} bytes ({e})")
    };
    let mut dec = Decoder::new().map_err(err)?;
    let (mut read, mut written) = (0usize, 0usize);
    loop {
        let full = written == out.len();
        let mut probe = [0u8; 1];
        let dst: &mut [u8] = if full {
            &mut probe
        } else {
            &mut out[written..]
        };
        let st = dec.run_on_buffers(&src[read..], dst).map_err(err)?;
        read += st.bytes_read;
        if full && st.bytes_written > 0 {
            return Err(format!(
                "zstd frame decompresses to more than the declared {} bytes",
                out.len()
            ));
        }
        written += if full { 0 } else { st.bytes_written };
        if st.remaining == 0 {
            if read < src.len() {
                return Err(format!("{} bytes follow the zstd frame", src.len() - read));
            }
            return Ok(written);
        }
        if st.bytes_read == 0 && st.bytes_written == 0 {
            return Err(format!(
                "zstd frame is truncated after {written} of {} declared bytes",
                out.len()
            ));
        }
    }
}

/// A Zstd frame decoded incrementally, for frames that do not declare their content size
/// (streaming writers such as `zstd::encode_all`, which apr-format uses, omit it).
///
/// The output grows only as the frame actually produces bytes, and never past the length a
/// caller asks for ([`ZstdStream::fill_to`]), so a caller bounds the allocation by the sizes the
/// file's own header and index declare, stage by stage.
pub(crate) struct ZstdStream<'a> {
    dec: zstd::stream::raw::Decoder<'static>,
    src: &'a [u8],
    read: usize,
    out: Vec<u8>,
    /// The frame has ended (every byte it holds is in `out`).
    done: bool,
}

/// Output produced per decoder call while filling.
const ZSTD_STEP_BYTES: usize = 1 << 16;

impl<'a> ZstdStream<'a> {
    pub(crate) fn new(src: &'a [u8]) -> Result<ZstdStream<'a>, String> {
        let dec = zstd::stream::raw::Decoder::new()
            .map_err(|e| format!("cannot start a zstd decoder ({e})"))?;
        Ok(ZstdStream {
            dec,
            src,
            read: 0,
            out: Vec::new(),
            done: false,
        })
    }

    /// The bytes decoded so far.
    pub(crate) fn decoded(&self) -> &[u8] {
        &self.out
    }

    /// Decodes until at least `n` bytes are out or the frame ends, never producing more than
    /// `n` bytes in total.
    pub(crate) fn fill_to(&mut self, n: usize) -> Result<(), String> {
        use zstd::stream::raw::Operation;
        let mut step = [0u8; ZSTD_STEP_BYTES];
        while !self.done && self.out.len() < n {
            let want = (n - self.out.len()).min(ZSTD_STEP_BYTES);
            let st = self
                .dec
                .run_on_buffers(&self.src[self.read..], &mut step[..want])
                .map_err(|e| format!("zstd frame is corrupt ({e})"))?;
            self.read += st.bytes_read;
            self.out.extend_from_slice(&step[..st.bytes_written]);
            if st.remaining == 0 {
                self.done = true;
            } else if st.bytes_read == 0 && st.bytes_written == 0 {
                return Err(format!(
                    "zstd frame is truncated after {} decompressed bytes",
                    self.out.len()
                ));
            }
        }
        Ok(())
    }

    /// Decodes the rest of the frame, which must end within `limit` bytes of output (the size
    /// the file declares), and returns the output.
    pub(crate) fn finish(mut self, limit: usize) -> Result<Vec<u8>, String> {
        self.fill_to(limit)?;
        if !self.done {
            // One more byte tells a frame that ends exactly at the limit from a longer one.
            self.fill_to(limit.saturating_add(1))?;
            if self.out.len() > limit {
                return Err(format!(
                    "zstd frame decompresses to more than the {limit} bytes the header and index declare"
                ));
            }
        }
        if self.read < self.src.len() {
            return Err(format!(
                "{} bytes follow the zstd frame",
                self.src.len() - self.read
            ));
        }
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_before_allocating() {
        assert!(check_declared(Codec::Zstd, MAX_DECOMPRESSED_BYTES + 1, u64::MAX).is_err());
        assert!(check_declared(Codec::Lz4, 256 * 100 + RATIO_SLACK_BYTES, 100).is_err());
        assert_eq!(check_declared(Codec::Lz4, 255 * 100, 100), Ok(25500));
    }

    #[test]
    fn zstd_exact_short_long_trailing() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let z = zstd::encode_all(&data[..], 3).unwrap();
        assert_eq!(decompress(Codec::Zstd, &z, data.len()).unwrap(), data);
        assert!(decompress(Codec::Zstd, &z, data.len() - 1).is_err());
        assert!(decompress(Codec::Zstd, &z, data.len() + 1).is_err());
        assert!(decompress(Codec::Zstd, &z[..z.len() - 5], data.len()).is_err());
        let mut two = z.clone();
        two.extend_from_slice(&z);
        assert!(decompress(Codec::Zstd, &two, data.len()).is_err());
        assert!(decompress(Codec::Zstd, b"not zstd at all", 10).is_err());
        let empty = zstd::encode_all(&[][..], 3).unwrap();
        assert_eq!(
            decompress(Codec::Zstd, &empty, 0).unwrap(),
            Vec::<u8>::new()
        );
    }

    #[test]
    fn zstd_stream_without_content_size_is_bounded() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 13) as u8).collect();
        let z = zstd::encode_all(&data[..], 3).unwrap();
        assert!(matches!(
            zstd::zstd_safe::get_frame_content_size(&z),
            Ok(None)
        ));
        // Staged: a prefix first, then the rest.
        let mut s = ZstdStream::new(&z).unwrap();
        s.fill_to(1000).unwrap();
        assert_eq!(s.decoded(), &data[..1000]);
        assert_eq!(s.finish(data.len()).unwrap(), data);
        // A limit below the frame's size is an error, and the output never passes it.
        let e = ZstdStream::new(&z)
            .unwrap()
            .finish(data.len() - 1)
            .unwrap_err();
        assert!(e.contains("more than the"), "{e}");
        // A larger limit is fine; trailing bytes and truncation are errors.
        assert_eq!(
            ZstdStream::new(&z)
                .unwrap()
                .finish(usize::MAX)
                .unwrap()
                .len(),
            data.len()
        );
        let mut two = z.clone();
        two.extend_from_slice(b"junk");
        assert!(ZstdStream::new(&two).unwrap().finish(1 << 20).is_err());
        assert!(ZstdStream::new(&z[..z.len() / 2])
            .unwrap()
            .finish(1 << 20)
            .is_err());
        assert!(ZstdStream::new(b"not zstd").unwrap().finish(10).is_err());
    }

    #[test]
    fn lz4_exact_short_long() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 7) as u8).collect();
        let c = lz4_flex::block::compress(&data);
        assert_eq!(decompress(Codec::Lz4, &c, data.len()).unwrap(), data);
        assert!(decompress(Codec::Lz4, &c, data.len() - 1).is_err());
        assert!(decompress(Codec::Lz4, &c, data.len() + 1).is_err());
        assert!(decompress(Codec::Lz4, &c[..c.len() / 2], data.len()).is_err());
    }
}

//! [`OpenOptions`]: how a model is opened.

/// Options for [`crate::open_with`] and [`crate::open_bytes_with`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OpenOptions {
    /// Verify checksums where the format has them (APR CRC32). Default `true`.
    pub verify_checksums: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            verify_checksums: true,
        }
    }
}

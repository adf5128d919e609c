//! [`OpenOptions`]: how a model is opened.

/// Options for [`crate::open_with`] and [`crate::open_bytes_with`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OpenOptions {
    /// Verify checksums where the format has them (APR CRC32). Default `true`.
    pub verify_checksums: bool,
    /// The folder every file a model names (shards, external data) must resolve inside; by
    /// default the model file's own folder. Set for `hf://` references to the model's folder
    /// in the cache, whose snapshot files link into its `blobs/`.
    pub(crate) root: Option<std::path::PathBuf>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            verify_checksums: true,
            root: None,
        }
    }
}

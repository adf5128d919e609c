//! A mapped file truncated under an open [`Model`]: reads go on (on zeros) instead of killing the
//! process with SIGBUS, and [`Model::check_unchanged`] reports the change.

#![cfg(any(target_os = "linux", target_os = "android", target_os = "macos"))]

use modeldiff_formats::{open, Error};

#[test]
fn truncated_file_reads_as_changed_not_sigbus() {
    let n = 1 << 20;
    let mut header = format!(
        r#"{{"w":{{"dtype":"F32","shape":[{n}],"data_offsets":[0,{}]}}}}"#,
        4 * n
    );
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend((0..n).flat_map(|i| (i as f32 + 1.0).to_le_bytes()));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &bytes).unwrap();

    let model = open(file.path()).unwrap();
    model.check_unchanged().unwrap();
    file.as_file().set_len(bytes.len() as u64 / 2).unwrap();

    // Every element is still readable: the lost pages read as zeros.
    let mut out = vec![0f32; n];
    model.decode_f32(0, 0..n, &mut out).unwrap();
    assert_eq!(out[0], 1.0);
    assert_eq!(out[n - 1], 0.0);
    let view = model.f32_view(0).unwrap();
    assert_eq!(view[n - 1], 0.0);

    let err = model.check_unchanged().unwrap_err();
    assert!(matches!(&err, Error::Changed { path } if path == file.path()));
    assert_eq!(
        err.to_string(),
        format!("{}: file changed while reading", file.path().display())
    );
}

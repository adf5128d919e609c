//! placeholder
pub(crate) fn run(_: &std::path::Path) -> Result<(), String> {
    Ok(())
}

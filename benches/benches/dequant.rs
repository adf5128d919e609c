//! Placeholder until the dequant benchmarks land.
fn main() {}

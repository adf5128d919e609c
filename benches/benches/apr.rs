//! Placeholder until the apr benchmarks land.
fn main() {}

//! Placeholder until the kernels benchmarks land.
fn main() {}

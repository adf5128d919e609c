//! Criterion benchmarks for modeldiff; see `benches/`.

//! Writes the man pages of `modeldiff` (and of each subcommand) from the clap definitions:
//! `cargo xtask man`, or `cargo run -p modeldiff-cli --example man -- DIR` (default
//! `target/man`, giving `target/man/modeldiff.1`, `modeldiff-diff.1`, ...).
//!
//! The argument definitions are the binary's own `src/args.rs`, included here, so the pages
//! cannot drift from the command.

#[allow(dead_code)]
#[path = "../src/args.rs"]
mod args;
#[allow(dead_code)]
#[path = "../src/delta_cmd.rs"]
mod delta_cmd;

use std::path::PathBuf;

use clap::CommandFactory;

fn main() -> std::io::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/man"));
    std::fs::create_dir_all(&dir)?;
    clap_mangen::generate_to(args::Cli::command(), &dir)?;
    println!("{}", dir.join("modeldiff.1").display());
    Ok(())
}

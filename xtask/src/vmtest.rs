//! `cargo xtask vmtest`.

use anyhow::Result;

/// Arguments of `cargo xtask vmtest`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `cargo xtask vmtest`.
pub fn run(_args: Args) -> Result<()> {
    anyhow::bail!("cargo xtask vmtest is being written")
}

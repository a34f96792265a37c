//! `cargo xtask scenario`.

use anyhow::Result;

/// Arguments of `cargo xtask scenario`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `cargo xtask scenario`.
pub fn run(_args: Args) -> Result<()> {
    anyhow::bail!("cargo xtask scenario is being written")
}

//! `cargo xtask build`.

use anyhow::Result;

/// Arguments of `cargo xtask build`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `cargo xtask build`.
pub fn run(_args: Args) -> Result<()> {
    anyhow::bail!("cargo xtask build is being written")
}

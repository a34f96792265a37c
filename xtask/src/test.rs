//! `cargo xtask test`: every test of the workspace, on a fresh machine.
//!
//! The order matters: the eBPF object must exist before the workspace's tests are
//! compiled (the `veto` binary embeds it, and the enforcement tests run it for real),
//! and the VM smoke run needs the release `veto` that `build_all` produced.

use anyhow::{Context, Result};

use crate::util::{cargo, run as run_cmd};
use crate::{build, vmtest};

/// Arguments of `cargo xtask test`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Skip the VM smoke run (bookworm 6.1 under QEMU); the host tests still run.
    #[arg(long)]
    pub no_vm: bool,
    /// Extra arguments for `cargo test` (after `--`, e.g. a test name filter).
    #[arg(last = true)]
    pub cargo_args: Vec<String>,
}

/// Runs `cargo xtask test`.
pub fn run(args: Args) -> Result<()> {
    // The Log4Shell scenario's tests compile and run Java 17 for real.
    build::ensure_debian_packages(&[
        ("openjdk-17-jdk-headless", "javac"),
        ("bash", "bash"),
        // pahole: the independent oracle the BTF offset tests compare against.
        ("dwarves", "pahole"),
    ])?;
    let obj = build::build_all().context("building veto and its eBPF object")?;
    step("running the workspace's tests (unit, property, integration, host enforcement)");
    run_cmd(
        cargo()
            .args(["test", "--workspace", "--all-targets"])
            .args(&args.cargo_args)
            .env("VETO_EBPF_OBJECT", &obj)
            // Enforcement tests skip only when the object is absent; here it was
            // just built, so an absent object must fail them instead.
            .env("VETO_REQUIRE_EBPF", "1"),
    )?;
    if args.no_vm {
        step("VM smoke run skipped (--no-vm)");
    } else {
        step(
            "VM smoke run on Debian bookworm 6.1 under QEMU: probe, the whole end-to-end suite, the default scenario",
        );
        vmtest::smoke().context("the VM smoke run failed")?;
    }
    step("all tests passed");
    Ok(())
}

fn step(msg: &str) {
    eprintln!("xtask test: {msg}");
}

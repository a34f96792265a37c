//! `cargo xtask <task>`: every task installs what it needs, then does its job.

use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "veto's developer tasks")]
struct Args {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Run every test of the workspace.
    Test,
    /// The main job: check the seed policies and show their plans.
    Demo,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.task {
        Task::Test => test(),
        Task::Demo => demo(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it).
fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent folder")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn test() -> Result<()> {
    run(cargo().args(["test", "--workspace", "--all-targets"]))
}

fn demo() -> Result<()> {
    run(cargo().args([
        "run",
        "--quiet",
        "--package",
        "veto",
        "--",
        "policy",
        "check",
        "testdata/seed-policies/block-log4shell-sigkill.yaml",
        "testdata/seed-policies/block-log4shell-lsm.yaml",
    ]))
}

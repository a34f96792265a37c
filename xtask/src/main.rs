//! `cargo xtask <task>`: every task installs what it needs, then does its job.

mod build;
mod demo;
mod scenario;
mod test;
mod util;
mod vmtest;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "veto's developer tasks")]
struct Args {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Build target/release/veto with the eBPF object embedded (installs the toolchain pieces it needs).
    Build(build::Args),
    /// Run every test of the workspace, host and VM.
    Test(test::Args),
    /// The main job until the VM runner lands.
    Demo(demo::Args),
    /// Boot the kernel matrix under QEMU and run tests and scenarios inside each.
    Vmtest(vmtest::Args),
    /// Run an attack scenario on the host.
    Scenario(scenario::Args),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.task {
        Task::Build(a) => build::run(a),
        Task::Test(a) => test::run(a),
        Task::Demo(a) => demo::run(a),
        Task::Vmtest(a) => vmtest::run(a),
        Task::Scenario(a) => scenario::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

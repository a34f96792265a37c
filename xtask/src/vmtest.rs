//! `cargo xtask vmtest`: boot the kernel matrix under QEMU and run veto's guest tests
//! and the chosen scenario inside each kernel.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use veto_vmtest::matrix::{self, Options};
use veto_vmtest::ui::Terminal;

use crate::util::{cargo, root, run as run_cmd};

/// Arguments of `cargo xtask vmtest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run only this kernel (a name from kernels.toml; repeatable). Default: the default matrix.
    #[arg(long = "kernel", value_name = "NAME")]
    pub kernels: Vec<String>,
    /// Run only tests whose name contains this; comma-separated alternatives
    /// (`probe,e2e::seed`) each must match a test. veto's end-to-end suite is
    /// `e2e::TEST`.
    #[arg(long, value_name = "SUBSTR[,SUBSTR…]")]
    pub test: Option<String>,
    /// The scenario to run (default: enforce-exec-sh).
    #[arg(long, value_name = "NAME")]
    pub scenario: Option<String>,
    /// VMs in parallel (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Run only the K-th of N slices of the selected kernels (for CI fan-out).
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Re-resolve the kernels' package versions and checksums into kernels.lock first.
    #[arg(long)]
    pub update_kernels: bool,
    /// veto binary to put in the guests (default: the release or debug build, if built).
    #[arg(long, value_name = "PATH")]
    pub veto: Option<PathBuf>,
    /// The CI smoke run: the default selection on Debian bookworm 6.1 cloud only (see [`smoke`]).
    #[arg(long, conflicts_with_all = ["kernels", "test", "scenario", "shard", "update_kernels"])]
    pub smoke: bool,
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (k, n) = s.split_once('/').ok_or("expected K/N, e.g. 1/4")?;
    let k: usize = k.parse().map_err(|e| format!("K: {e}"))?;
    let n: usize = n.parse().map_err(|e| format!("N: {e}"))?;
    if n == 0 || k == 0 || k > n {
        return Err("need 1 <= K <= N".into());
    }
    Ok((k, n))
}

/// The cargo target folder this invocation uses.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Builds the guest programs statically: musl if the target can be had, else glibc
/// with a static C runtime. Returns the folder holding them.
pub fn build_guest_programs() -> Result<PathBuf> {
    const MUSL: &str = "x86_64-unknown-linux-musl";
    let have_musl = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == MUSL)
        })
        .unwrap_or(false)
        || Command::new("rustup")
            .args(["target", "add", MUSL])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    let (target, rustflags) = if have_musl {
        (MUSL, None)
    } else {
        eprintln!("vmtest: no {MUSL} target; building the guest programs with a static glibc");
        (
            "x86_64-unknown-linux-gnu",
            Some("-C target-feature=+crt-static"),
        )
    };
    let mut cmd = cargo();
    cmd.args([
        "build",
        "--release",
        "-p",
        "veto-guest",
        "--bins",
        "--target",
        target,
    ]);
    if let Some(f) = rustflags {
        cmd.env("RUSTFLAGS", f);
    }
    run_cmd(&mut cmd).context("building the guest programs")?;
    Ok(target_dir().join(target).join("release"))
}

/// Builds veto's root end-to-end suite (userland/tests/enforce.rs) for the guests:
/// the same libtest binary the host runs, in release (user-space work under TCG is
/// slow enough without debug code), with the eBPF object `cargo xtask build` made.
pub fn build_suite() -> Result<veto_vmtest::suite::HostSuite> {
    let obj = crate::build::ebpf_object_path();
    if !obj.is_file() {
        bail!(
            "{} is missing: run `cargo xtask build` first (veto's end-to-end suite in the guests needs the eBPF object), or leave the suite out with --test",
            obj.display()
        );
    }
    let out = cargo()
        .args([
            "test",
            "--release",
            "-p",
            "veto",
            "--test",
            veto_vmtest::suite::TEST_TARGET,
            "--no-run",
            "--message-format=json",
        ])
        .env("VETO_EBPF_OBJECT", &obj)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("starting cargo to build the end-to-end suite")?;
    if !out.status.success() {
        bail!("building veto's end-to-end suite failed: {}", out.status);
    }
    let suite = veto_vmtest::suite::HostSuite::from_cargo_json(
        &String::from_utf8_lossy(&out.stdout),
        &root(),
    )?;
    eprintln!(
        "vmtest: end-to-end suite {} ({} tests), veto {}",
        suite.test_binary.display(),
        suite.tests.len(),
        suite.veto.display()
    );
    Ok(suite)
}

/// Options for a run from the repository, with host packages and guest programs
/// ready.
fn prepare(args: &Args) -> Result<Options> {
    let installed = veto_vmtest::host::ensure_host_packages()?;
    if !installed.is_empty() {
        eprintln!("vmtest: installed {}", installed.join(" "));
    }
    let guest_bin_dir = build_guest_programs()?;
    let suite = if veto_vmtest::registry::filter_may_select_suite(args.test.as_deref()) {
        Some(build_suite()?)
    } else {
        None
    };
    let log4shell = if args.scenario.as_deref() == Some(veto_vmtest::registry::LOG4SHELL) {
        run_cmd(cargo().args(["build", "--release", "-p", "veto-log4shell"]))
            .context("building the Log4Shell scenario")?;
        Some(target_dir().join("release/veto-log4shell"))
    } else {
        None
    };
    let repo = root();
    // After the suite's build, which may have just built a fresher release veto.
    let veto =
        veto_vmtest::image::find_veto(args.veto.as_deref(), &[target_dir(), repo.join("target")]);
    match &veto {
        Some(v) => eprintln!("vmtest: guest veto binary: {}", v.display()),
        None => eprintln!(
            "vmtest: no veto binary built (cargo xtask build): tests that need it will fail saying so"
        ),
    }
    let cache_dir = std::env::var_os("VETO_VMTEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target/vmtest-cache"));
    Ok(Options {
        out_dir: std::env::var_os("VETO_VMTEST_OUT")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.join("target/vmtest")),
        cache_dir,
        kernels: args.kernels.clone(),
        test_filter: args.test.clone(),
        scenario: args.scenario.clone(),
        jobs: args.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }),
        shard: args.shard,
        update_kernels: args.update_kernels,
        guest_bin_dir,
        veto,
        suite,
        log4shell,
        deadline: None::<Duration>,
        repo,
    })
}

/// Runs `cargo xtask vmtest`.
pub fn run(args: Args) -> Result<()> {
    if args.smoke {
        return smoke();
    }
    let opts = prepare(&args)?;
    let ui = Terminal::new();
    let summary = matrix::run(&opts, &|p| ui.show(p))?;
    println!("\n{}", summary.table);
    println!("results: {}", opts.out_dir.join("results.json").display());
    if summary.failed {
        bail!(
            "the kernel matrix has failures (see {})",
            opts.out_dir.join("report.md").display()
        );
    }
    Ok(())
}

/// The VM smoke run for `cargo xtask test`: on Debian bookworm 6.1 cloud (fetched
/// when not cached), the default selection: the probe, veto's whole root
/// end-to-end suite (one guest test per test) and the default enforced scenario,
/// so every submission proves enforcement in a real guest kernel through the whole
/// VM path (fetch, initramfs, static init, boot, results channel, verdict), while
/// the full matrix stays `cargo xtask vmtest`. Under TCG each test of the suite
/// starts its own veto and waits for the verifier (about 15 to 25 s each on this
/// 2-core machine, about 6 minutes for the suite); if the suite outgrows the
/// budget, narrow it here with a comma-separated `--test` list
/// (`probe,e2e::seed_policy,enforce-exec-sh`), each of which must match a test.
pub fn smoke() -> Result<()> {
    run(Args {
        kernels: vec!["6.1".into()],
        test: None,
        scenario: None,
        jobs: None,
        shard: None,
        update_kernels: false,
        veto: None,
        smoke: false,
    })
}

//! `cargo xtask build`: the eBPF object and `target/release/veto` with it embedded.
//!
//! Everything the build needs and the machine lacks is installed here, each step
//! checked first so a second run does nothing beyond cargo's own up-to-date check:
//! Debian packages (a C toolchain for llvm-sys), `rust-src` for the toolchain that
//! builds the eBPF crate, and `bpf-linker` built from crates.io against that
//! toolchain's own libLLVM (release binaries cannot be downloaded here, and a linker
//! built against another LLVM major would emit bitcode the compiler cannot read).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::util::{cargo, root, run as run_cmd};

/// Arguments of `cargo xtask build`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `cargo xtask build`.
pub fn run(_args: Args) -> Result<()> {
    let started = Instant::now();
    build_all()?;
    step(&format!("done in {:.1} s", started.elapsed().as_secs_f64()));
    Ok(())
}

/// The toolchain that compiles the eBPF crate and the linker that goes with it.
#[derive(Debug, Clone)]
pub struct Toolchain {
    /// rustup toolchain name (`nightly` or `stable`).
    pub name: String,
    /// True when `-Z build-std` needs `RUSTC_BOOTSTRAP=1` (stable).
    pub bootstrap: bool,
    /// The toolchain's sysroot.
    pub sysroot: PathBuf,
    /// Folder holding `bpf-linker`.
    pub linker_bin: PathBuf,
}

/// Debian packages the build needs, with the command that proves each one present.
const DEBIAN_PACKAGES: &[(&str, &str)] = &[("build-essential", "cc")];

fn step(msg: &str) {
    eprintln!("xtask build: {msg}");
}

fn have_command(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}

/// Installs the Debian packages whose command is missing (one apt-get call at most).
pub fn ensure_debian_packages(packages: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .filter(|(_, cmd)| !have_command(cmd))
        .map(|(pkg, _)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    step(&format!(
        "installing Debian packages: {}",
        missing.join(" ")
    ));
    if !have_command("apt-get") {
        bail!(
            "these packages are needed but apt-get is not available: {}",
            missing.join(" ")
        );
    }
    run_cmd(Command::new("apt-get").args(["update", "-q"]))
        .context("apt-get update failed (network to the Debian mirror?)")?;
    run_cmd(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .with_context(|| format!("apt-get install {} failed", missing.join(" ")))
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("could not start {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Picks the toolchain for the eBPF crate: nightly if installed, else stable with
/// `RUSTC_BOOTSTRAP=1` (both accept `-Z build-std`).
fn pick_toolchain() -> Result<(String, bool)> {
    let list = output(Command::new("rustup").args(["toolchain", "list"]))
        .context("rustup is needed to build the eBPF crate")?;
    if list.lines().any(|l| l.starts_with("nightly")) {
        Ok(("nightly".into(), false))
    } else {
        Ok(("stable".into(), true))
    }
}

/// Makes sure `rust-src` is there (`-Z build-std=core` compiles core from it).
fn ensure_rust_src(toolchain: &str, sysroot: &Path) -> Result<()> {
    let core = sysroot.join("lib/rustlib/src/rust/library/core/Cargo.toml");
    if core.is_file() {
        return Ok(());
    }
    step(&format!("installing rust-src for {toolchain}"));
    run_cmd(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", toolchain]))
}

/// The toolchain's own libLLVM: its file name and the LLVM major it carries.
///
/// The name looks like `libLLVM.so.22.1-rust-1.97.0-nightly`; the major is read
/// from it rather than assumed, because toolchains move.
pub fn find_libllvm(sysroot: &Path) -> Result<(PathBuf, u32)> {
    let lib = sysroot.join("lib");
    let entries =
        std::fs::read_dir(&lib).with_context(|| format!("cannot list {}", lib.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix("libLLVM.so.") {
            let major: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            if let Ok(major) = major.parse() {
                return Ok((entry.path(), major));
            }
        }
    }
    bail!(
        "no libLLVM.so.<major>.<minor>-rust-* in {}: this toolchain does not ship its LLVM as a shared library, so bpf-linker cannot be built against it",
        lib.display()
    )
}

/// Builds bpf-linker against `libllvm` unless a build for exactly that library is cached.
///
/// The cache folder is keyed by the library's file name (LLVM version and toolchain
/// version), so a toolchain update gets a fresh linker and an unchanged one never
/// rebuilds.
fn ensure_bpf_linker(libllvm: &Path, major: u32) -> Result<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    let key = libllvm
        .file_name()
        .expect("libLLVM path has a file name")
        .to_string_lossy()
        .replace(['/', ' '], "_");
    let dir = cargo_home
        .join("veto-tools")
        .join(format!("bpf-linker-{key}"));
    let bin = dir.join("bin");
    let linker = bin.join("bpf-linker");
    let lib_dir = libllvm.parent().expect("libLLVM has a folder");
    if linker.is_file()
        && Command::new(&linker)
            .arg("--version")
            .env("LD_LIBRARY_PATH", lib_dir)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    {
        return Ok(bin);
    }
    // llvm-sys looks for lib/libLLVM.so under LLVM_PREFIX; the toolchain names
    // its copy differently, so a folder with one symlink stands in for an install.
    let prefix = dir.join("llvm");
    std::fs::create_dir_all(prefix.join("lib"))?;
    let link = prefix.join("lib/libLLVM.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(libllvm, &link)
        .with_context(|| format!("cannot create {}", link.display()))?;
    step(&format!(
        "building bpf-linker from crates.io against {} (LLVM {major}); takes a few minutes, once",
        libllvm.display()
    ));
    let started = Instant::now();
    run_cmd(
        Command::new("cargo")
            .args(["+stable", "install", "bpf-linker", "--locked"])
            .args(["--no-default-features", "--features"])
            .arg(format!("llvm-{major}"))
            .arg("--root")
            .arg(&dir)
            .env("LLVM_PREFIX", &prefix)
            .env(format!("LLVM_SYS_{major}0_PREFIX"), &prefix)
            .env("LD_LIBRARY_PATH", lib_dir)
            .env_remove("CARGO_TARGET_DIR"),
    )
    .context("building bpf-linker failed (does this bpf-linker release offer the llvm feature for this LLVM major?)")?;
    step(&format!(
        "bpf-linker built in {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(bin)
}

/// Installs whatever the eBPF build lacks and returns the toolchain to build it with.
pub fn ensure_toolchain() -> Result<Toolchain> {
    ensure_debian_packages(DEBIAN_PACKAGES)?;
    let (name, bootstrap) = pick_toolchain()?;
    let sysroot = PathBuf::from(output(
        Command::new("rustc")
            .arg(format!("+{name}"))
            .args(["--print", "sysroot"]),
    )?);
    ensure_rust_src(&name, &sysroot)?;
    let (libllvm, major) = find_libllvm(&sysroot)?;
    let linker_bin = ensure_bpf_linker(&libllvm, major)?;
    Ok(Toolchain {
        name,
        bootstrap,
        sysroot,
        linker_bin,
    })
}

/// Where `cargo xtask build` puts the eBPF object. Fixed under the workspace's
/// `target/` (not `CARGO_TARGET_DIR`) so that userland's build script finds it
/// whichever target folder the user-space build uses.
pub fn ebpf_object_path() -> PathBuf {
    root().join("target/bpf/bpfel-unknown-none/release/enforcer-ebpf")
}

/// Builds the eBPF object with `tc`; returns its path.
pub fn build_ebpf(tc: &Toolchain) -> Result<PathBuf> {
    step(&format!("building the eBPF object with {}", tc.name));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![tc.linker_bin.clone()];
    dirs.extend(std::env::split_paths(&path));
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root().join("enforcer-ebpf"))
        .arg(format!("+{}", tc.name))
        .args([
            "build",
            "--target",
            "bpfel-unknown-none",
            "-Z",
            "build-std=core",
            "--release",
        ])
        .env("CARGO_TARGET_DIR", root().join("target/bpf"))
        .env("PATH", std::env::join_paths(dirs)?)
        .env("LD_LIBRARY_PATH", tc.sysroot.join("lib"))
        // The outer cargo (of `cargo xtask`) sets these for its own toolchain;
        // they would pin the inner build to stable.
        .env_remove("RUSTC")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    if tc.bootstrap {
        cmd.env("RUSTC_BOOTSTRAP", "1");
    }
    run_cmd(&mut cmd)?;
    let obj = ebpf_object_path();
    if !obj.is_file() {
        bail!("the eBPF build succeeded but {} is missing", obj.display());
    }
    Ok(obj)
}

/// Everything: toolchain pieces, the eBPF object, then the release `veto` with the
/// object embedded (its build script reads `VETO_EBPF_OBJECT`).
pub fn build_all() -> Result<PathBuf> {
    let tc = ensure_toolchain()?;
    let obj = build_ebpf(&tc)?;
    step("building veto (release) with the eBPF object embedded");
    run_cmd(
        cargo()
            .args(["build", "--release", "--package", "veto", "--bins"])
            .env("VETO_EBPF_OBJECT", &obj),
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let veto = target.join("release/veto");
    step(&format!("built {}", veto.display()));
    Ok(obj)
}

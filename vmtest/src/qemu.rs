//! One QEMU boot: command line, results channel, deadline.
//!
//! Always TCG (`-accel tcg -cpu max`): this machine is itself a VM and its KVM fails
//! or hangs, so nothing is auto-detected. The console goes to one serial port and a
//! file; results go to a second serial port and another file, polled while the VM
//! runs so boot time is measured on the host clock.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What to boot.
#[derive(Debug, Clone)]
pub struct BootSpec {
    /// Kernel image.
    pub kernel: PathBuf,
    /// Initramfs (uncompressed cpio).
    pub initrd: PathBuf,
    /// Extra kernel command line.
    pub append: String,
    /// Guest memory in MiB.
    pub memory_mb: u32,
    /// Where the console is written.
    pub console_log: PathBuf,
    /// Where the results channel is written.
    pub results_log: PathBuf,
    /// Wall-clock limit; the VM is killed when it passes.
    pub deadline: Duration,
    /// Further QEMU arguments (e.g. a 9p share).
    pub extra_args: Vec<String>,
}

/// How a boot ended.
#[derive(Debug, Clone, PartialEq)]
pub struct BootOutcome {
    /// QEMU's exit status, None if killed.
    pub exit_code: Option<i32>,
    /// Killed at the deadline.
    pub timed_out: bool,
    /// Host seconds from start to the guest init's first line (None if never).
    pub boot_s: Option<f64>,
    /// Host seconds from start to the end.
    pub wall_s: f64,
    /// Everything read from the results channel.
    pub results: String,
}

/// A boot that could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot run qemu-system-x86_64: {0}")]
pub struct QemuError(pub String);

/// The kernel command line every boot gets before the kernel's own `append`.
pub const BASE_APPEND: &str =
    "console=ttyS0 panic=-1 oops=panic rdinit=/init loglevel=6 no_timer_check";

/// The QEMU command for `spec`.
pub fn command(spec: &BootSpec) -> Command {
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-accel", "tcg", "-cpu", "max", "-smp", "1"])
        .arg("-m")
        .arg(spec.memory_mb.to_string())
        .args([
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
        ])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .arg("-kernel")
        .arg(&spec.kernel)
        .arg("-initrd")
        .arg(&spec.initrd)
        .arg("-append")
        .arg(format!("{BASE_APPEND} {}", spec.append).trim())
        .arg("-serial")
        .arg(format!("file:{}", spec.console_log.display()))
        .arg("-serial")
        .arg(format!("file:{}", spec.results_log.display()))
        .args(&spec.extra_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    cmd
}

/// Where QEMU's own messages go: a file beside the console, not a pipe, so a
/// chatty QEMU can never block on a full pipe while we wait for it.
fn stderr_file(spec: &BootSpec) -> PathBuf {
    spec.console_log.with_file_name("qemu-stderr.log")
}

/// Boots and waits for the end or the deadline; never leaves QEMU running.
pub fn boot(spec: &BootSpec, mut on_line: impl FnMut(&str)) -> Result<BootOutcome, QemuError> {
    for f in [&spec.console_log, &spec.results_log] {
        std::fs::write(f, "").map_err(|e| QemuError(format!("{}: {e}", f.display())))?;
    }
    let started = Instant::now();
    let mut child = command(spec)
        .spawn()
        .map_err(|e| QemuError(e.to_string()))?;
    let mut results = String::new();
    let mut offset = 0u64;
    let mut boot_s = None;
    let mut poll = |results: &mut String, boot_s: &mut Option<f64>| {
        let new = read_from(&spec.results_log, &mut offset);
        if new.is_empty() {
            return;
        }
        let before = results.len();
        results.push_str(&new);
        // Hand over complete lines only.
        let start = results[..before].rfind('\n').map(|i| i + 1).unwrap_or(0);
        let complete_end = results.rfind('\n').map(|i| i + 1).unwrap_or(0);
        if complete_end > start {
            for line in results[start..complete_end].lines() {
                if boot_s.is_none() && line.contains("\"event\":\"init\"") {
                    *boot_s = Some(started.elapsed().as_secs_f64());
                }
                on_line(line);
            }
        }
    };
    let (exit_code, timed_out) = loop {
        poll(&mut results, &mut boot_s);
        match child.try_wait() {
            Ok(Some(st)) => break (st.code(), false),
            Ok(None) if started.elapsed() >= spec.deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break (None, true);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(QemuError(e.to_string()));
            }
        }
    };
    poll(&mut results, &mut boot_s);
    if exit_code.is_some() && !results.is_empty() && !results.ends_with('\n') {
        // A final line without newline still counts as read; it is judged later.
        on_line(results.rsplit('\n').next().unwrap_or(""));
    }
    let stderr = std::fs::read_to_string(stderr_file(spec)).unwrap_or_default();
    if exit_code == Some(1) && boot_s.is_none() && !stderr.trim().is_empty() {
        // QEMU itself refused (bad option, missing file): that is not a guest result.
        return Err(QemuError(stderr.trim().to_string()));
    }
    Ok(BootOutcome {
        exit_code,
        timed_out,
        boot_s,
        wall_s: started.elapsed().as_secs_f64(),
        results,
    })
}

fn read_from(path: &Path, offset: &mut u64) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    if f.seek(SeekFrom::Start(*offset)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    *offset += buf.len() as u64;
    String::from_utf8_lossy(&buf).into_owned()
}

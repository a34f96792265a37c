//! What the running kernel offers, as `veto run` needs to know it before it
//! loads anything, plus the cgroup v2 confinement target.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use veto_policy::plan::KernelNeed;

use crate::compile::Kernel;
use crate::tpformat::{self, Format, FormatError};

/// The running kernel.
pub struct HostKernel;

fn lsm_list() -> String {
    let p = Path::new("/sys/kernel/security/lsm");
    if !p.exists() {
        // securityfs may simply not be mounted yet.
        let _ = std::process::Command::new("mount")
            .args(["-t", "securityfs", "securityfs", "/sys/kernel/security"])
            .status();
    }
    std::fs::read_to_string(p).unwrap_or_default()
}

impl Kernel for HostKernel {
    fn format(&self, category: &str, name: &str) -> Result<Format, FormatError> {
        tpformat::read(category, name)
    }

    fn has(&self, need: KernelNeed) -> bool {
        match need {
            KernelNeed::Tracepoint => tpformat::tracefs().is_ok(),
            // Present since 5.3, older than every kernel veto targets.
            KernelNeed::SendSignal => true,
            // CONFIG_KPROBES builds kprobe_events into tracefs.
            KernelNeed::Kprobe => tpformat::tracefs()
                .map(|t| t.join("kprobe_events").exists())
                .unwrap_or(false),
            // "bpf" in the active LSM list is necessary, and also where attach
            // works: a trial load is what `veto probe` does; until both agree
            // here, a kernel whose list lacks "bpf" is reported as lacking it
            // and a kernel with it is trusted to load (the load then fails
            // with the kernel's own error, before anything is attached).
            KernelNeed::BpfLsm => lsm_list().split(',').any(|l| l.trim() == "bpf") && trial_ok(),
            KernelNeed::FmodRet => trial_ok(),
        }
    }
}

/// BPF trampolines (LSM and fmod_ret programs) are refused on some kernels
/// even with BTF present (this project's host: EPERM). `VETO_ASSUME_TRAMPOLINES=1`
/// overrides for kernels known to have them until the probe's trial load is wired in.
fn trial_ok() -> bool {
    std::env::var("VETO_ASSUME_TRAMPOLINES").is_ok_and(|v| v == "1")
}

/// Errors of finding the confinement cgroup.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// No cgroup2 mount in /proc/mounts.
    #[error("no cgroup2 filesystem is mounted (looked in /proc/mounts)")]
    NoCgroup2,
    /// The cgroup does not exist.
    #[error("cgroup {0} does not exist under the cgroup2 mount {1}")]
    Missing(PathBuf, PathBuf),
}

/// A cgroup v2 to confine to: its id and its depth below the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confinement {
    /// The directory.
    pub path: PathBuf,
    /// cgroup id (the directory's inode number).
    pub id: u64,
    /// Depth below the cgroup2 root (the root is 0).
    pub level: u32,
}

/// The cgroup2 mount point, from /proc/mounts (on hybrid hosts it is not at
/// /sys/fs/cgroup).
pub fn cgroup2_mount() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(f[1]))
    })
}

/// Resolves `--cgroup PATH`: an absolute path inside the cgroup2 mount, or a
/// path relative to its root.
pub fn confinement(path: &Path) -> Result<Confinement, CgroupError> {
    let root = cgroup2_mount().ok_or(CgroupError::NoCgroup2)?;
    let full = if path.starts_with(&root) {
        path.to_path_buf()
    } else {
        root.join(path.strip_prefix("/").unwrap_or(path))
    };
    let meta = std::fs::metadata(&full)
        .ok()
        .filter(|m| m.is_dir())
        .ok_or_else(|| CgroupError::Missing(path.to_path_buf(), root.clone()))?;
    let level = full
        .strip_prefix(&root)
        .map(|r| r.components().count() as u32)
        .unwrap_or(0);
    Ok(Confinement {
        path: full,
        id: meta.ino(),
        level,
    })
}

/// The ids of `root` and every cgroup below it (the confinement set).
pub fn subtree_ids(root: &Path) -> Vec<u64> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if let Ok(m) = std::fs::metadata(&dir) {
            out.push(m.ino());
        }
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(e.path());
                }
            }
        }
    }
    out
}

//! What the running kernel offers, as `veto run` needs to know it before it
//! loads anything, plus the cgroup v2 confinement target.
//!
//! Capabilities come from [`crate::probe`]: trial loads and attaches on the
//! running kernel, never guesses, so a refusal names what the kernel lacks
//! (and why the probe thinks so) and is never confused with what veto does
//! not implement yet.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use veto_policy::plan::KernelNeed;

use crate::compile::Kernel;
use crate::mounts::{self, MountError};
use crate::probe::Capabilities;
use crate::tpformat::{self, Format, FormatError};

/// The running kernel, as probed.
pub struct HostKernel<'a> {
    caps: &'a Capabilities,
}

impl<'a> HostKernel<'a> {
    /// The kernel whose capabilities `caps` holds (from [`crate::probe::probe`]).
    pub fn new(caps: &'a Capabilities) -> Self {
        HostKernel { caps }
    }
}

impl Kernel for HostKernel<'_> {
    fn format(&self, category: &str, name: &str) -> Result<Format, FormatError> {
        tpformat::read(category, name)
    }

    fn has(&self, need: KernelNeed) -> bool {
        self.caps.check_need(need).is_ok()
    }
}

/// Errors of finding the confinement cgroup.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// No cgroup2 mount in /proc/mounts, or /proc/mounts unreadable.
    #[error(transparent)]
    Mount(#[from] MountError),
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

/// Resolves `--cgroup PATH`: an absolute path inside the cgroup2 mount, or a
/// path relative to its root.
pub fn confinement(path: &Path) -> Result<Confinement, CgroupError> {
    let root = mounts::cgroup2()?;
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

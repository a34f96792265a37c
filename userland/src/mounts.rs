//! The pseudo file systems veto needs, found through /proc/mounts and mounted
//! where missing.
//!
//! - tracefs: tracepoint formats and ids (`events/<category>/<name>/`).
//! - securityfs: the active LSM list (`lsm`), which says whether BPF LSM is on.
//! - bpffs: pinning, when asked for.
//! - cgroup2: `--cgroup` confinement. Hosts with hybrid cgroups mount it beside
//!   the v1 hierarchies (e.g. only at /sys/fs/cgroup/unified), so it is looked
//!   up by file system type, never assumed at /sys/fs/cgroup. veto does not mount
//!   cgroup2 itself: where it lives is the init system's decision.

use std::ffi::CString;
use std::path::{Path, PathBuf};

/// Errors of finding or mounting a file system.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// /proc/mounts could not be read.
    #[error("cannot read /proc/mounts: {0}")]
    ReadMounts(std::io::Error),
    /// The mount point directory could not be created.
    #[error("cannot create mount point {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// mount(2) failed.
    #[error(
        "cannot mount {fstype} at {path}: {source} (veto needs root or CAP_SYS_ADMIN to mount it)"
    )]
    Mount {
        /// The file system type.
        fstype: &'static str,
        /// Where.
        path: PathBuf,
        /// The errno.
        source: std::io::Error,
    },
    /// No cgroup2 file system is mounted.
    #[error(
        "no cgroup2 file system is mounted (none in /proc/mounts); mount one, e.g. `mount -t cgroup2 none /sys/fs/cgroup/unified`"
    )]
    NoCgroup2,
}

/// One line of /proc/mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// The source (`none`, `/dev/vda`).
    pub source: String,
    /// Where it is mounted.
    pub target: PathBuf,
    /// File system type (`cgroup2`, `tracefs`).
    pub fstype: String,
    /// Mount options as written.
    pub options: String,
}

/// Whether a file system was there already or veto mounted it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", content = "path", rename_all = "snake_case")]
pub enum Mounted {
    /// Already mounted here (the first mount of that type in /proc/mounts).
    Found(PathBuf),
    /// veto mounted it here just now.
    MountedNow(PathBuf),
}

impl Mounted {
    /// Where the file system is.
    pub fn path(&self) -> &Path {
        match self {
            Mounted::Found(p) | Mounted::MountedNow(p) => p,
        }
    }
}

/// The standard place of tracefs.
pub const TRACEFS: &str = "/sys/kernel/tracing";
/// The standard place of securityfs.
pub const SECURITYFS: &str = "/sys/kernel/security";
/// The standard place of bpffs.
pub const BPFFS: &str = "/sys/fs/bpf";

/// Parses the text of /proc/mounts. Paths there escape space, tab, newline and
/// backslash as octal (`\040`); those are decoded.
pub fn parse_mounts(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            Some(MountEntry {
                source: unescape(f.next()?),
                target: PathBuf::from(unescape(f.next()?)),
                fstype: f.next()?.to_owned(),
                options: f.next().unwrap_or("").to_owned(),
            })
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let digit = |b: u8| u32::from(b - b'0');
            let v = digit(bytes[i + 1]) * 64 + digit(bytes[i + 2]) * 8 + digit(bytes[i + 3]);
            out.push(v as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The current mount table.
pub fn mounts() -> Result<Vec<MountEntry>, MountError> {
    let text = std::fs::read_to_string("/proc/mounts").map_err(MountError::ReadMounts)?;
    Ok(parse_mounts(&text))
}

/// Where the first mount of `fstype` is, if any.
pub fn find(fstype: &str) -> Result<Option<PathBuf>, MountError> {
    Ok(mounts()?
        .into_iter()
        .find(|m| m.fstype == fstype)
        .map(|m| m.target))
}

/// The cgroup2 mount (on hybrid hosts, the one beside the v1 hierarchies).
pub fn cgroup2() -> Result<PathBuf, MountError> {
    find("cgroup2")?.ok_or(MountError::NoCgroup2)
}

/// tracefs, mounted at /sys/kernel/tracing if no tracefs is mounted anywhere
/// (an old-style /sys/kernel/debug/tracing mount is used as found).
pub fn ensure_tracefs() -> Result<Mounted, MountError> {
    ensure("tracefs", Path::new(TRACEFS))
}

/// securityfs, mounted at /sys/kernel/security if missing.
pub fn ensure_securityfs() -> Result<Mounted, MountError> {
    ensure("securityfs", Path::new(SECURITYFS))
}

/// bpffs, mounted at /sys/fs/bpf if missing.
pub fn ensure_bpffs() -> Result<Mounted, MountError> {
    ensure("bpf", Path::new(BPFFS))
}

/// Finds a mount of `fstype` or mounts one at `at`.
fn ensure(fstype: &'static str, at: &Path) -> Result<Mounted, MountError> {
    if let Some(found) = find(fstype)? {
        return Ok(Mounted::Found(found));
    }
    std::fs::create_dir_all(at).map_err(|source| MountError::CreateDir {
        path: at.to_owned(),
        source,
    })?;
    mount(fstype, at)?;
    Ok(Mounted::MountedNow(at.to_owned()))
}

/// mount -t fstype fstype at (nosuid, nodev, noexec like the distributions do).
fn mount(fstype: &'static str, at: &Path) -> Result<(), MountError> {
    let err = |source| MountError::Mount {
        fstype,
        path: at.to_owned(),
        source,
    };
    let c_type = CString::new(fstype).expect("file system names have no NUL");
    let c_at = CString::new(at.as_os_str().as_encoded_bytes())
        .map_err(|_| err(std::io::Error::from_raw_os_error(libc::EINVAL)))?;
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RELATIME;
    // SAFETY: all pointers are valid NUL-terminated strings for the duration of
    // the call; data is NULL, which every one of these file systems accepts.
    let rc = unsafe {
        libc::mount(
            c_type.as_ptr(),
            c_at.as_ptr(),
            c_type.as_ptr(),
            flags,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(err(std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_table_lines_are_split_and_octal_escapes_decoded() {
        let text = "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n\
                    cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n\
                    /dev/sdb1 /mnt/my\\040disk ext4 rw 0 0\n";
        let m = parse_mounts(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].fstype, "cgroup2");
        assert_eq!(m[1].target, PathBuf::from("/sys/fs/cgroup/unified"));
        assert_eq!(m[2].target, PathBuf::from("/mnt/my disk"));
    }

    #[test]
    fn cgroup2_is_found_by_type_beside_v1_hierarchies() {
        let path = cgroup2().expect("this host mounts cgroup2");
        assert!(path.join("cgroup.procs").exists(), "{}", path.display());
        let fstype = mounts()
            .unwrap()
            .into_iter()
            .find(|m| m.target == path)
            .unwrap()
            .fstype;
        assert_eq!(fstype, "cgroup2");
    }

    #[test]
    fn tracefs_is_mounted_or_mounted_now_and_has_event_formats() {
        let m = ensure_tracefs().expect("tracefs mounts as root");
        assert!(
            m.path()
                .join("events/sched/sched_process_exec/format")
                .exists()
        );
        // A second call finds it.
        assert!(matches!(ensure_tracefs().unwrap(), Mounted::Found(_)));
    }

    #[test]
    fn securityfs_is_mounted_or_mounted_now_and_lists_active_lsms() {
        let m = ensure_securityfs().expect("securityfs mounts as root");
        let lsm = std::fs::read_to_string(m.path().join("lsm")).unwrap();
        assert!(lsm.contains("capability"), "{lsm}");
    }

    #[test]
    fn bpffs_is_mounted_or_mounted_now() {
        let m = ensure_bpffs().expect("bpffs mounts as root");
        assert!(matches!(ensure_bpffs().unwrap(), Mounted::Found(ref p) if p == m.path()));
    }
}

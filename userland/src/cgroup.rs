//! cgroup v2 groups: how `veto run --cgroup` is confined and how tests give
//! their processes a group of their own, so that an enforcing test can never
//! hit the toolchain, the test runner or CI.
//!
//! The id of a cgroup v2 group is the inode number of its directory: that is
//! the number `bpf_get_current_cgroup_id()` returns in a program for a task in
//! the group, so user space can hand it to the kernel side without any lookup.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::mounts::{self, MountError};

/// Errors of working with a cgroup.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// cgroup2 could not be found.
    #[error(transparent)]
    Mount(#[from] MountError),
    /// A file or directory operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The path is not inside the cgroup2 mount.
    #[error("{path} is not a cgroup v2 directory (cgroup2 is mounted at {root})")]
    NotCgroup2 {
        /// The path given.
        path: PathBuf,
        /// Where cgroup2 is mounted.
        root: PathBuf,
    },
    /// Processes were still in the group when it was to be removed.
    #[error("cgroup {path} still holds processes {pids:?} after they were killed")]
    Busy {
        /// The group.
        path: PathBuf,
        /// Who was left.
        pids: Vec<u32>,
    },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CgroupError {
    let path = path.to_owned();
    move |source| CgroupError::Io { what, path, source }
}

/// A cgroup v2 group that veto created; removed (its processes killed first)
/// when dropped, so a failing test leaves nothing behind.
#[derive(Debug)]
pub struct Cgroup {
    path: PathBuf,
    id: u64,
    removed: bool,
}

impl Cgroup {
    /// Creates a fresh group `<cgroup2 root>/<prefix>-<pid>-<n>`, unique within
    /// this process and across processes.
    pub fn create(prefix: &str) -> Result<Cgroup, CgroupError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let root = mounts::cgroup2()?;
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = root.join(name);
        std::fs::create_dir(&path).map_err(io("cannot create cgroup", &path))?;
        let id = cgroup_id(&path)?;
        Ok(Cgroup {
            path,
            id,
            removed: false,
        })
    }

    /// The group's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The group's id, as `bpf_get_current_cgroup_id()` reports it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Moves process `pid` (all its threads) into the group.
    pub fn add_pid(&self, pid: u32) -> Result<(), CgroupError> {
        let procs = self.path.join("cgroup.procs");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&procs)
            .map_err(io("cannot open", &procs))?;
        // One write per pid: the kernel takes exactly one pid per write(2).
        f.write_all(pid.to_string().as_bytes())
            .map_err(io("cannot move a process into", &self.path))
    }

    /// The processes in the group now.
    pub fn pids(&self) -> Result<Vec<u32>, CgroupError> {
        read_pids(&self.path.join("cgroup.procs"))
    }

    /// Kills every process in the group with SIGKILL, repeating until none is
    /// left (a process may fork while being killed), for at most 5 seconds.
    pub fn kill_all(&self) -> Result<(), CgroupError> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let pids = self.pids()?;
            if pids.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(CgroupError::Busy {
                    path: self.path.clone(),
                    pids,
                });
            }
            // cgroup.kill (Linux 5.14+) kills the whole subtree atomically; on
            // older kernels, or if it fails, signal each process.
            let kill_file = self.path.join("cgroup.kill");
            if std::fs::write(&kill_file, "1").is_err() {
                for pid in pids {
                    // SAFETY: kill(2) with a pid read from this group's own list.
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills what is left in the group and removes it.
    pub fn remove(mut self) -> Result<(), CgroupError> {
        self.removed = true;
        remove_dir(&self.path)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if !self.removed {
            let _ = remove_dir(&self.path);
        }
    }
}

/// Kills the processes of a group and removes its directory. A dying process
/// leaves cgroup.procs slightly after it is reaped, so rmdir is retried briefly
/// on EBUSY.
fn remove_dir(path: &Path) -> Result<(), CgroupError> {
    let cg = Cgroup {
        path: path.to_owned(),
        id: 0,
        removed: true,
    };
    cg.kill_all()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(io("cannot remove cgroup", path)(e)),
        }
    }
}

fn read_pids(procs: &Path) -> Result<Vec<u32>, CgroupError> {
    let text = std::fs::read_to_string(procs).map_err(io("cannot read", procs))?;
    Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

/// The id of the cgroup v2 directory `path` (its inode number), checking that
/// it is inside the cgroup2 mount.
pub fn cgroup_id(path: &Path) -> Result<u64, CgroupError> {
    let root = mounts::cgroup2()?;
    let canonical = path
        .canonicalize()
        .map_err(io("cannot resolve cgroup path", path))?;
    if !canonical.starts_with(&root) || !canonical.join("cgroup.procs").exists() {
        return Err(CgroupError::NotCgroup2 {
            path: path.to_owned(),
            root,
        });
    }
    let meta = std::fs::metadata(&canonical).map_err(io("cannot stat", &canonical))?;
    Ok(meta.ino())
}

/// The cgroup v2 directory process `pid` is in (the `0::` line of
/// /proc/PID/cgroup, joined to the cgroup2 mount).
pub fn of_pid(pid: u32) -> Result<PathBuf, CgroupError> {
    let file = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let text = std::fs::read_to_string(&file).map_err(io("cannot read", &file))?;
    let rel = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("/");
    Ok(mounts::cgroup2()?.join(rel.trim_start_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    fn sleeper() -> std::process::Child {
        Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .spawn()
            .expect("sleep runs")
    }

    #[test]
    fn a_process_moved_into_a_fresh_group_is_listed_there() {
        let cg = Cgroup::create("veto-test").unwrap();
        let mut child = sleeper();
        cg.add_pid(child.id()).unwrap();
        assert_eq!(cg.pids().unwrap(), vec![child.id()]);
        assert_eq!(of_pid(child.id()).unwrap(), cg.path());
        let path = cg.path().to_owned();
        cg.remove().unwrap();
        // Removing killed the sleeper.
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
        assert!(!path.exists());
    }

    #[test]
    fn group_id_is_the_inode_number_of_its_directory() {
        let cg = Cgroup::create("veto-test").unwrap();
        let ino = std::fs::metadata(cg.path()).unwrap().ino();
        assert_eq!(cg.id(), ino);
        assert_eq!(cgroup_id(cg.path()).unwrap(), ino);
    }

    #[test]
    fn a_directory_outside_cgroup2_is_refused() {
        let err = cgroup_id(Path::new("/tmp")).unwrap_err();
        assert!(matches!(err, CgroupError::NotCgroup2 { .. }), "{err}");
    }

    #[test]
    fn dropping_a_group_kills_its_processes_and_removes_it() {
        let cg = Cgroup::create("veto-test").unwrap();
        let mut child = sleeper();
        cg.add_pid(child.id()).unwrap();
        let path = cg.path().to_owned();
        drop(cg);
        assert!(child.wait().unwrap().code().is_none());
        assert!(!path.exists());
    }
}

/// The id user space computes is the one the kernel reports: a raw tracepoint
/// program calling `bpf_get_current_cgroup_id()` is run (BPF_PROG_TEST_RUN) by
/// a process inside the group, in that process's own task.
#[cfg(test)]
mod kernel_agrees {
    use super::*;
    use crate::probe::bpf::{self, Insn, ProgSpec, ProgType, helper};
    use std::io::{BufRead, Write};
    use std::process::{Command, Stdio};

    const CHILD_ENV: &str = "VETO_TEST_CGROUP_ID_CHILD";

    /// Runs in a child process (see below): waits until the parent has moved it
    /// into the group, then prints the low 32 bits of its current cgroup id.
    #[test]
    #[ignore = "run as a child process by group_id_is_what_bpf_get_current_cgroup_id_returns"]
    fn report_current_cgroup_id_child() {
        if std::env::var_os(CHILD_ENV).is_none() {
            return;
        }
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).unwrap();
        let insns = [Insn::call(helper::GET_CURRENT_CGROUP_ID), Insn::exit()];
        let prog = bpf::load(&ProgSpec {
            prog_type: ProgType::RawTracepoint,
            attach_type: None,
            attach_btf_id: 0,
            insns: &insns,
        })
        .unwrap();
        let id = bpf::test_run(&prog, &[0]).unwrap();
        println!("cgroup-id-low32={id}");
    }

    #[test]
    fn group_id_is_what_bpf_get_current_cgroup_id_returns() {
        let cg = Cgroup::create("veto-test").unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "cgroup::kernel_agrees::report_current_cgroup_id_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        cg.add_pid(child.id()).unwrap();
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let reported: u32 = text
            .lines()
            .find_map(|l| l.split_once("cgroup-id-low32="))
            .and_then(|(_, id)| id.split_whitespace().next())
            .unwrap_or_else(|| panic!("child printed no id: {text}"))
            .parse()
            .unwrap();
        assert_eq!(reported, cg.id() as u32);
    }
}

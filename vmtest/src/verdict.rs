//! Judging a boot: a kernel passed only with the done exit code AND the done
//! marker AND a result line for every test it was asked to run. A panic (which
//! QEMU reports as exit 0), an oops, a hang or a missing line is a failure with its
//! reason.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use veto_guest::protocol::{DONE_QEMU_STATUS, Event, Status};

use crate::config::Kernel;
use crate::qemu::BootOutcome;
use crate::registry::GuestTest;

/// The result of one test on one kernel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestResult {
    /// Kernel name.
    pub kernel: String,
    /// Test name.
    pub test: String,
    /// pass / fail / unsupported.
    pub status: &'static str,
    /// Why (empty for pass).
    pub reason: String,
    /// Seconds inside the guest (emulated).
    pub duration_s: f64,
    /// The test's output (for the per-kernel log, not results.json).
    #[serde(skip)]
    pub output: String,
}

/// One kernel's run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelRun {
    /// Kernel name.
    pub name: String,
    /// `uname -r` as the guest reported it (or the package's, if it never spoke).
    pub release: String,
    /// pass / fail: whether the VM ran every test to its done marker.
    pub status: &'static str,
    /// Why it failed.
    pub reason: String,
    /// Host seconds from QEMU start to the guest init's first line.
    pub boot_s: Option<f64>,
    /// Program load time reported by the tests (seconds, emulated), if any.
    pub load_s: Option<f64>,
    /// Seconds a program load ran before it failed (verifier time spent), if the
    /// load never succeeded.
    pub load_failed_s: Option<f64>,
    /// Host seconds of the whole boot.
    pub wall_s: f64,
    /// The probe's capability row.
    pub capabilities: BTreeMap<String, bool>,
    /// Why each missing capability is missing.
    #[serde(skip)]
    pub capability_reasons: BTreeMap<String, String>,
    /// Per-test results.
    #[serde(skip)]
    pub results: Vec<TestResult>,
}

/// Most meaningful line of a console for a failure reason.
fn console_reason(console: &str) -> Option<String> {
    let keys = ["Kernel panic", "Oops:", "BUG:", "general protection fault"];
    console
        .lines()
        .find(|l| keys.iter().any(|k| l.contains(k)))
        .map(|l| l.trim().to_string())
}

/// Judges one boot of `kernel` that was asked to run `tests`.
pub fn judge(
    kernel: &Kernel,
    release: &str,
    tests: &[GuestTest],
    outcome: &BootOutcome,
    console: &str,
) -> KernelRun {
    let mut run = KernelRun {
        name: kernel.name.clone(),
        release: release.to_string(),
        status: "pass",
        reason: String::new(),
        boot_s: outcome.boot_s,
        load_s: None,
        load_failed_s: None,
        wall_s: outcome.wall_s,
        capabilities: BTreeMap::new(),
        capability_reasons: BTreeMap::new(),
        results: Vec::new(),
    };
    let mut done = false;
    let mut seen: BTreeMap<String, TestResult> = BTreeMap::new();
    let mut problems = Vec::new();
    for line in outcome.results.lines() {
        let line = line.trim_matches(|c: char| c == '\r' || c == '\0' || c.is_whitespace());
        if line.is_empty() {
            continue;
        }
        let Ok(event) = serde_json::from_str::<Event>(line) else {
            problems.push(format!("garbled results line: {}", truncate(line, 120)));
            continue;
        };
        match event {
            Event::Init { release, .. } => run.release = release,
            Event::ModuleError { module, error } => {
                problems.push(format!("module {module}: {error}"))
            }
            Event::Ready { mount_errors, .. } => {
                for m in mount_errors {
                    // Not a failure by itself: tests needing the mount say so.
                    run.capability_reasons
                        .insert(format!("mount {m}"), m.clone());
                }
            }
            Event::Result {
                test,
                status,
                reason,
                duration_s,
                output,
                metrics,
            } => {
                if let Some(l) = metrics.get("load_s") {
                    run.load_s = Some(run.load_s.map_or(*l, |p: f64| p.max(*l)));
                }
                if let Some(l) = metrics.get("load_failed_s") {
                    run.load_failed_s = Some(run.load_failed_s.map_or(*l, |p: f64| p.max(*l)));
                }
                if test == "probe" {
                    read_capabilities(&output, &mut run);
                }
                seen.insert(
                    test.clone(),
                    TestResult {
                        kernel: kernel.name.clone(),
                        test,
                        status: status.as_str(),
                        reason,
                        duration_s,
                        output,
                    },
                );
            }
            Event::Done { .. } => done = true,
        }
    }

    // The VM-level verdict: every condition, each with its own reason.
    let vm_reason = if outcome.timed_out {
        Some(format!(
            "deadline of {:.0} s passed: VM killed{}",
            outcome.wall_s,
            console_reason(console)
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ))
    } else if let Some(r) = console_reason(console) {
        Some(r)
    } else if outcome.exit_code != Some(DONE_QEMU_STATUS) {
        Some(format!(
            "QEMU exited with {:?}, not the done status {DONE_QEMU_STATUS} (guest powered off or panicked)",
            outcome.exit_code
        ))
    } else if !done {
        Some("no done marker on the results channel".into())
    } else {
        None
    };
    if outcome.boot_s.is_none() && vm_reason.is_some() {
        problems.insert(0, "the guest init never reported".into());
    }

    for t in tests {
        let mut r = seen.remove(&t.name).unwrap_or_else(|| TestResult {
            kernel: kernel.name.clone(),
            test: t.name.to_string(),
            status: "fail",
            reason: format!(
                "no result line: {}",
                vm_reason
                    .clone()
                    .unwrap_or_else(|| "the guest skipped it".into())
            ),
            duration_s: 0.0,
            output: String::new(),
        });
        // Unsupported where kernels.toml promises the capability is a failure.
        if r.status == Status::Unsupported.as_str() {
            let promised: Vec<&str> = t
                .needs
                .iter()
                .copied()
                .filter(|n| kernel.expect.iter().any(|e| e == n))
                .collect();
            if !promised.is_empty() {
                r.status = "fail";
                r.reason = format!(
                    "unsupported although kernels.toml expects {}: {}",
                    promised.join(", "),
                    r.reason
                );
            }
        }
        if t.name == "probe" && r.status == "pass" {
            let missing: Vec<String> = kernel
                .expect
                .iter()
                .filter(|e| run.capabilities.get(e.as_str()) != Some(&true))
                .map(|e| match run.capability_reasons.get(e) {
                    Some(why) => format!("{e} ({why})"),
                    None => e.clone(),
                })
                .collect();
            if !missing.is_empty() {
                r.status = "fail";
                r.reason = format!("kernels.toml expects {}", missing.join(", "));
            }
        }
        run.results.push(r);
    }
    if let Some(reason) = vm_reason {
        run.status = "fail";
        run.reason = std::iter::once(reason)
            .chain(problems)
            .collect::<Vec<_>>()
            .join("; ");
    } else if !problems.is_empty() {
        run.status = "fail";
        run.reason = problems.join("; ");
    }
    run
}

fn read_capabilities(output: &str, run: &mut KernelRun) {
    let Some(row) = output
        .lines()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
    else {
        return;
    };
    if let Some(caps) = row.get("capabilities").and_then(Value::as_object) {
        for (k, v) in caps {
            run.capabilities
                .insert(k.clone(), v.as_bool().unwrap_or(false));
        }
    }
    if let Some(reasons) = row.get("reasons").and_then(Value::as_object) {
        for (k, v) in reasons {
            run.capability_reasons
                .insert(k.clone(), v.as_str().unwrap_or("").to_string());
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut cut = n;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Matrix;
    use crate::registry::select;
    use std::path::Path;

    fn kernel(expect: &str) -> Kernel {
        let t = format!(
            "[[kernel]]\nname = \"k\"\nsuite = \"bookworm\"\npackage = \"p\"\nflavour = \"cloud\"\nexpect = [{expect}]\n"
        );
        Matrix::parse(Path::new("kernels.toml"), &t)
            .unwrap()
            .kernels
            .remove(0)
    }

    fn outcome(exit: Option<i32>, lines: &[&str]) -> BootOutcome {
        BootOutcome {
            exit_code: exit,
            timed_out: false,
            boot_s: Some(3.0),
            wall_s: 10.0,
            results: lines.iter().map(|l| format!("{l}\n")).collect(),
        }
    }

    const INIT: &str = r#"{"event":"init","uptime_s":1.0,"release":"6.1.0-50-cloud-amd64"}"#;
    const PROBE: &str = r#"{"event":"result","test":"probe","status":"pass","reason":"","duration_s":1.0,"output":"{\"capabilities\":{\"prog_lsm\":false,\"prog_tracepoint\":true},\"reasons\":{\"prog_lsm\":\"EINVAL\"}}\n","metrics":{}}"#;
    const SCEN_UNSUP: &str = r#"{"event":"result","test":"enforce-exec-sh","status":"unsupported","reason":"no send_signal","duration_s":1.0,"output":"","metrics":{"load_s":2.5}}"#;
    const DONE: &str = r#"{"event":"done","tests":2}"#;

    #[test]
    fn a_complete_run_passes_and_keeps_capabilities_and_load_time() {
        let tests = select(None, None, Some(&crate::suite::HostSuite::default())).unwrap();
        let r = judge(
            &kernel(""),
            "x",
            &tests,
            &outcome(Some(85), &[INIT, PROBE, SCEN_UNSUP, DONE]),
            "",
        );
        assert_eq!(r.status, "pass", "{}", r.reason);
        assert_eq!(r.release, "6.1.0-50-cloud-amd64");
        assert_eq!(r.capabilities.get("prog_tracepoint"), Some(&true));
        assert_eq!(r.load_s, Some(2.5));
        assert_eq!(r.results[1].status, "unsupported");
    }

    #[test]
    fn a_panic_exit_zero_with_every_line_is_still_a_failure() {
        let tests = select(None, None, Some(&crate::suite::HostSuite::default())).unwrap();
        let r = judge(
            &kernel(""),
            "x",
            &tests,
            &outcome(Some(0), &[INIT, PROBE, SCEN_UNSUP]),
            "[ 1.0] Kernel panic - not syncing: Attempted to kill init!\n",
        );
        assert_eq!(r.status, "fail");
        assert!(r.reason.contains("Kernel panic"), "{}", r.reason);
    }

    #[test]
    fn the_done_status_without_the_done_marker_fails() {
        let tests = select(None, None, Some(&crate::suite::HostSuite::default())).unwrap();
        let r = judge(
            &kernel(""),
            "x",
            &tests,
            &outcome(Some(85), &[INIT, PROBE, SCEN_UNSUP]),
            "",
        );
        assert_eq!(r.status, "fail");
        assert_eq!(r.reason, "no done marker on the results channel");
    }

    #[test]
    fn a_missing_result_line_fails_that_test_with_the_vm_reason() {
        let tests = select(None, None, Some(&crate::suite::HostSuite::default())).unwrap();
        let r = judge(
            &kernel(""),
            "x",
            &tests,
            &outcome(Some(0), &[INIT, PROBE]),
            "",
        );
        assert_eq!(r.results[1].status, "fail");
        assert!(
            r.results[1]
                .reason
                .starts_with("no result line: QEMU exited with Some(0)"),
            "{}",
            r.results[1].reason
        );
    }

    #[test]
    fn unsupported_where_the_capability_is_expected_is_a_failure() {
        let tests = select(None, None, Some(&crate::suite::HostSuite::default())).unwrap();
        let r = judge(
            &kernel("\"helper_send_signal\""),
            "x",
            &tests,
            &outcome(Some(85), &[INIT, PROBE, SCEN_UNSUP, DONE]),
            "",
        );
        assert_eq!(r.results[1].status, "fail");
        assert!(
            r.results[1].reason.contains("expects helper_send_signal"),
            "{}",
            r.results[1].reason
        );
    }

    #[test]
    fn a_probe_missing_an_expected_capability_fails_with_the_reason() {
        let tests = select(None, None, Some(&crate::suite::HostSuite::default())).unwrap();
        let r = judge(
            &kernel("\"prog_lsm\""),
            "x",
            &tests,
            &outcome(Some(85), &[INIT, PROBE, SCEN_UNSUP, DONE]),
            "",
        );
        assert_eq!(r.results[0].status, "fail");
        assert_eq!(
            r.results[0].reason,
            "kernels.toml expects prog_lsm (EINVAL)"
        );
    }

    #[test]
    fn the_verifier_time_of_a_failed_load_is_kept_apart_from_load_time() {
        let tests = select(None, None, Some(&crate::suite::HostSuite::default())).unwrap();
        let failed = r#"{"event":"result","test":"enforce-exec-sh","status":"fail","reason":"veto run exited","duration_s":93.0,"output":"","metrics":{"load_failed_s":92.6}}"#;
        let r = judge(
            &kernel(""),
            "x",
            &tests,
            &outcome(Some(85), &[INIT, PROBE, failed, DONE]),
            "",
        );
        assert_eq!(r.load_s, None);
        assert_eq!(r.load_failed_s, Some(92.6));
    }
}

//! Judging one test of a Rust libtest binary (veto's host end-to-end suite) run in a
//! guest: `BINARY --exact NAME --test-threads=1 --nocapture`.
//!
//! libtest's exit code alone is not enough: an ignored test, and a test that skips
//! itself (it prints `SKIPPED: why` and returns, as veto's suite does without root or
//! without its eBPF object), both exit 0. Those are `unsupported` with their reason,
//! never a pass.

/// What one libtest run means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The test ran and passed.
    Pass,
    /// The test did not run here; the reason.
    Unsupported(String),
    /// The test failed, or the run did not run it; the reason.
    Fail(String),
}

/// The counts of libtest's `test result:` summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Summary {
    passed: u32,
    failed: u32,
    ignored: u32,
}

fn summary(stdout: &str) -> Option<Summary> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("test result:"))?;
    let mut s = Summary::default();
    for part in line.split(';') {
        let mut words = part.split_whitespace().rev();
        let (Some(what), Some(n)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse() else { continue };
        match what {
            "passed" => s.passed = n,
            "failed" => s.failed = n,
            "ignored" => s.ignored = n,
            _ => {}
        }
    }
    Some(s)
}

/// The panic message of a failed test: the `panicked at` location and the line after.
fn panic_message(output: &str) -> Option<String> {
    let lines: Vec<&str> = output.lines().collect();
    let at = lines.iter().position(|l| l.contains("panicked at"))?;
    let location = lines[at]
        .split("panicked at")
        .nth(1)
        .unwrap_or("")
        .trim()
        .trim_end_matches(':');
    let message = lines.get(at + 1).map(|l| l.trim()).unwrap_or("");
    Some(format!("panicked at {location}: {message}"))
}

/// The reason libtest gives for an ignored test (`test X ... ignored, why`).
fn ignore_reason(stdout: &str, name: &str) -> Option<String> {
    let prefix = format!("test {name} ... ignored");
    let line = stdout.lines().find(|l| l.starts_with(&prefix))?;
    Some(
        line[prefix.len()..]
            .trim_start_matches(',')
            .trim()
            .to_string(),
    )
}

/// Judges the run of test `name`: its exit code (`None`: killed by a signal) and
/// what it printed.
pub fn judge(name: &str, exit_code: Option<i32>, stdout: &str, stderr: &str) -> Verdict {
    let both = format!("{stdout}\n{stderr}");
    let Some(s) = summary(stdout) else {
        return Verdict::Fail(match (exit_code, panic_message(&both)) {
            (_, Some(p)) => p,
            (Some(c), None) => format!("exit code {c} without a libtest summary"),
            (None, None) => "killed by a signal before libtest's summary".into(),
        });
    };
    match (s.passed, s.failed, s.ignored) {
        (0, 0, 0) => Verdict::Fail(format!("the binary has no test named {name:?}")),
        (0, 0, _) => Verdict::Unsupported(match ignore_reason(stdout, name) {
            Some(why) if !why.is_empty() => format!("ignored by the test: {why}"),
            _ => "ignored by the test (#[ignore])".into(),
        }),
        (1, 0, 0) if exit_code == Some(0) => {
            match both.lines().find_map(|l| l.trim().strip_prefix("SKIPPED:")) {
                Some(why) => Verdict::Unsupported(format!("skipped by the test: {}", why.trim())),
                None => Verdict::Pass,
            }
        }
        _ => Verdict::Fail(
            panic_message(&both).unwrap_or_else(|| format!("libtest: {s:?}, exit {exit_code:?}")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASS: &str = "\nrunning 1 test\ntest a_test ... ok\n\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 15 filtered out; finished in 3.21s\n\n";

    #[test]
    fn a_passing_test_passes() {
        assert_eq!(judge("a_test", Some(0), PASS, ""), Verdict::Pass);
    }

    #[test]
    fn a_test_that_skips_itself_is_unsupported_with_its_reason() {
        let err = "SKIPPED: enforcement tests need root (CAP_BPF, CAP_SYS_ADMIN)\n";
        assert_eq!(
            judge("a_test", Some(0), PASS, err),
            Verdict::Unsupported(
                "skipped by the test: enforcement tests need root (CAP_BPF, CAP_SYS_ADMIN)".into()
            )
        );
    }

    #[test]
    fn an_ignored_test_is_unsupported_with_its_reason() {
        let out = "running 1 test\ntest a_test ... ignored, needs a C compiler\n\ntest result: ok. 0 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s\n";
        assert_eq!(
            judge("a_test", Some(0), out, ""),
            Verdict::Unsupported("ignored by the test: needs a C compiler".into())
        );
    }

    #[test]
    fn a_failing_test_fails_with_its_panic_message() {
        let out = "running 1 test\ntest a_test ... FAILED\n\nfailures:\n\nfailures:\n    a_test\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.00s\n";
        let err = "thread 'a_test' (42) panicked at userland/tests/enforce.rs:310:5:\nassertion `left == right` failed\n";
        assert_eq!(
            judge("a_test", Some(101), out, err),
            Verdict::Fail(
                "panicked at userland/tests/enforce.rs:310:5: assertion `left == right` failed"
                    .into()
            )
        );
    }

    #[test]
    fn an_unknown_name_and_a_missing_summary_fail() {
        let none = "running 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 16 filtered out; finished in 0.00s\n";
        assert!(
            matches!(judge("nope", Some(0), none, ""), Verdict::Fail(r) if r.contains("no test named"))
        );
        assert!(
            matches!(judge("a_test", None, "running 1 test\n", ""), Verdict::Fail(r) if r.contains("signal"))
        );
    }
}

//! veto's root end-to-end suite (userland/tests/enforce.rs), built on the host and
//! run inside each guest kernel: the same libtest binary, one guest test per test.
//!
//! The suite finds `veto` through `CARGO_BIN_EXE_veto`, an absolute host path
//! compiled into the test binary, and its seed policies through
//! `CARGO_MANIFEST_DIR`. The image mirrors those host paths inside the guest, so the
//! binary runs there unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The integration-test target of the `veto` package that holds the suite.
pub const TEST_TARGET: &str = "enforce";

/// The binary target the suite runs (its `CARGO_BIN_EXE_veto`).
pub const VETO_TARGET: &str = "veto";

/// A suite problem.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// cargo's JSON named no executable for a target.
    #[error("cargo's build output names no executable for the {0:?} target")]
    NoArtifact(&'static str),
    /// The binary could not list its tests.
    #[error("{binary}: cannot list its tests: {reason}")]
    List {
        /// Test binary.
        binary: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The built suite: what goes into the guest and the tests to run there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSuite {
    /// The libtest binary, placed at the same path in the guest.
    pub test_binary: PathBuf,
    /// The `veto` it runs (its compiled-in `CARGO_BIN_EXE_veto`), same path in the guest.
    pub veto: PathBuf,
    /// The repository root on the host (the suite reads testdata/ below it).
    pub repo: PathBuf,
    /// Test names, as libtest lists them.
    pub tests: Vec<String>,
}

impl HostSuite {
    /// The suite from cargo's `--message-format=json` output of
    /// `cargo test -p veto --test enforce --no-run`, its tests listed by the binary.
    pub fn from_cargo_json(cargo_stdout: &str, repo: &Path) -> Result<HostSuite, SuiteError> {
        let (test_binary, veto) = artifacts(cargo_stdout)?;
        let tests = list_tests(&test_binary)?;
        Ok(HostSuite {
            test_binary,
            veto,
            repo: repo.to_path_buf(),
            tests,
        })
    }
}

/// The test executable and the veto executable from cargo's JSON messages.
pub fn artifacts(cargo_stdout: &str) -> Result<(PathBuf, PathBuf), SuiteError> {
    let mut test = None;
    let mut veto = None;
    for line in cargo_stdout.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(exe) = v["executable"].as_str() else {
            continue;
        };
        let name = v["target"]["name"].as_str().unwrap_or("");
        let kinds = v["target"]["kind"].as_array().cloned().unwrap_or_default();
        let is_test = v["profile"]["test"] == true;
        if name == TEST_TARGET && is_test && kinds.iter().any(|k| k == "test") {
            test = Some(PathBuf::from(exe));
        } else if name == VETO_TARGET && !is_test && kinds.iter().any(|k| k == "bin") {
            veto = Some(PathBuf::from(exe));
        }
    }
    Ok((
        test.ok_or(SuiteError::NoArtifact(TEST_TARGET))?,
        veto.ok_or(SuiteError::NoArtifact(VETO_TARGET))?,
    ))
}

/// The tests a libtest binary holds (`--list --format terse`: `name: test` lines).
pub fn list_tests(binary: &Path) -> Result<Vec<String>, SuiteError> {
    let err = |reason: String| SuiteError::List {
        binary: binary.to_path_buf(),
        reason,
    };
    let out = Command::new(binary)
        .args(["--list", "--format", "terse"])
        .output()
        .map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        return Err(err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(parse_list(&String::from_utf8_lossy(&out.stdout)))
}

fn parse_list(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_are_the_test_binary_and_the_veto_bin() {
        let json = [
            r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"veto"},"profile":{"test":false},"executable":null}"#,
            r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"veto"},"profile":{"test":false},"executable":"/t/release/veto"}"#,
            r#"{"reason":"compiler-artifact","target":{"kind":["test"],"name":"enforce"},"profile":{"test":true},"executable":"/t/release/deps/enforce-1234"}"#,
            r#"{"reason":"build-finished","success":true}"#,
            "not json",
        ]
        .join("\n");
        assert_eq!(
            artifacts(&json).unwrap(),
            (
                PathBuf::from("/t/release/deps/enforce-1234"),
                PathBuf::from("/t/release/veto")
            )
        );
        assert!(matches!(
            artifacts(r#"{"reason":"build-finished"}"#),
            Err(SuiteError::NoArtifact("enforce"))
        ));
    }

    #[test]
    fn the_terse_list_gives_test_names_only() {
        let out = "a_test: test\nb::c: test\nbench_x: benchmark\n\n";
        assert_eq!(parse_list(out), ["a_test", "b::c"]);
    }

    #[test]
    fn a_real_libtest_binary_lists_its_tests() {
        // This very test binary is a libtest binary: it must list this test.
        let me = std::env::current_exe().unwrap();
        let tests = list_tests(&me).unwrap();
        assert!(
            tests
                .iter()
                .any(|t| t == "suite::tests::a_real_libtest_binary_lists_its_tests"),
            "{tests:?}"
        );
    }
}

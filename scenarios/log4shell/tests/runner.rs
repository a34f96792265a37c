//! The `veto-log4shell` binary: bad input, missing prerequisites, interruption.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use veto_log4shell::procfs;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_veto-log4shell"))
}

#[test]
fn unknown_options_are_rejected() {
    let out = bin().args(["run", "--frobnicate"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--frobnicate"), "{err}");
}

#[test]
fn an_unknown_expectation_is_rejected() {
    let out = bin().args(["run", "--expect", "pwned"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("compromised") && err.contains("blocked"),
        "{err}"
    );
}

#[test]
fn missing_java_is_named_with_how_to_install_it() {
    let empty = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["run", "-o"])
        .arg(empty.path().join("outcome.json"))
        .env("PATH", empty.path())
        .env_remove("JAVA_HOME")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`java` not found"), "{err}");
    assert!(
        err.contains("apt-get install openjdk-17-jdk-headless"),
        "{err}"
    );
    assert!(!empty.path().join("outcome.json").exists());
}

#[test]
fn missing_javac_is_named_with_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/usr/bin/java", dir.path().join("java")).unwrap();
    let out = bin()
        .args(["run", "-o"])
        .arg(dir.path().join("outcome.json"))
        .env("PATH", dir.path())
        .env_remove("JAVA_HOME")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`javac` not found"), "{err}");
    assert!(err.contains("openjdk-17-jdk-headless"), "{err}");
}

/// Ctrl-C while the JVM is up: the runner tears everything down and exits 130.
#[test]
fn sigint_tears_everything_down() {
    let dir = tempfile::tempdir().unwrap();
    let child = bin()
        .args(["run", "-o"])
        .arg(dir.path().join("outcome.json"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let runner = child.id() as i32;
    // Wait for the JVM to appear under the runner.
    let start = Instant::now();
    let java = loop {
        let found = procfs::children(runner)
            .into_iter()
            .find(|&p| procfs::exe(p).is_some_and(|e| e.ends_with("/java")));
        if let Some(pid) = found {
            break pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the JVM never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    // SAFETY: signalling the child this test started.
    unsafe {
        libc::kill(runner, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted by SIGINT"), "{err}");
    // The JVM's process group is gone. Its members were reparented to the runner (a
    // subreaper) or reaped by it; give pid 1 nothing to do.
    assert!(
        procfs::group_members(java).is_empty(),
        "{:?}",
        procfs::group_members(java)
    );
}

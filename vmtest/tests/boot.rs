//! Real boots of Debian bookworm 6.1 cloud (fetched into the cache when missing)
//! with initramfs images whose /init misbehaves on purpose: the runner must call
//! them failures, never passes.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use veto_vmtest::config::Matrix;
use veto_vmtest::fetch::{Fetcher, KernelFiles};
use veto_vmtest::initramfs::{Initramfs, Node};
use veto_vmtest::lock::Lock;
use veto_vmtest::qemu::{BootSpec, boot};
use veto_vmtest::registry::select;
use veto_vmtest::verdict::judge;

const KERNEL: &str = "6.1";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The locked 6.1 kernel, fetched once for all tests of this file.
fn kernel() -> &'static (Matrix, KernelFiles) {
    static K: OnceLock<(Matrix, KernelFiles)> = OnceLock::new();
    K.get_or_init(|| {
        veto_vmtest::host::ensure_host_packages().expect("host packages");
        let repo = repo();
        let matrix = Matrix::load(&repo.join("kernels.toml")).unwrap();
        let lock = Lock::load(&repo.join("kernels.lock")).unwrap();
        let k = matrix
            .kernels
            .iter()
            .find(|k| k.name == KERNEL)
            .unwrap()
            .clone();
        let cache = std::env::var_os("VETO_VMTEST_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.join("target/vmtest-cache"));
        let suites = ["bookworm".to_string()].into();
        let files = Fetcher::new(&cache, suites, &|_| {})
            .prepare(&k, &lock)
            .unwrap();
        (matrix, files)
    })
}

/// An image whose /init is a busybox shell script.
fn script_image(script: &str, dir: &Path) -> PathBuf {
    let mut img = Initramfs::new();
    img.copy("/bin/busybox", Path::new("/bin/busybox")).unwrap();
    img.symlink("/bin/sh", "busybox");
    img.symlink("/bin/sleep", "busybox");
    img.add("/dev/console", Node::CharDev { major: 5, minor: 1 });
    img.file(
        "/init",
        format!("#!/bin/sh\n{script}\n").into_bytes(),
        0o755,
    );
    let path = dir.join("initramfs.cpio");
    std::fs::write(&path, img.to_bytes()).unwrap();
    path
}

fn spec(dir: &Path, initrd: PathBuf, deadline: Duration) -> BootSpec {
    let (_, files) = kernel();
    BootSpec {
        kernel: files.vmlinuz.clone(),
        initrd,
        append: String::new(),
        memory_mb: 256,
        console_log: dir.join("console.log"),
        results_log: dir.join("results.jsonl"),
        deadline,
        extra_args: Vec::new(),
    }
}

#[test]
fn a_guest_whose_init_exits_panics_and_is_reported_failed_not_passed() {
    let dir = tempfile::tempdir().unwrap();
    let initrd = script_image("echo init giving up; exit 3", dir.path());
    let spec = spec(dir.path(), initrd, Duration::from_secs(120));
    let outcome = boot(&spec, |_| {}).unwrap();
    // The trap this guards against: QEMU reports the panic like a clean poweroff.
    assert_eq!(outcome.exit_code, Some(0));
    assert!(!outcome.timed_out);

    let (matrix, files) = kernel();
    let k = matrix.kernels.iter().find(|k| k.name == KERNEL).unwrap();
    let console = std::fs::read_to_string(&spec.console_log).unwrap();
    let tests = select(None, Some("probe"), None).unwrap();
    let run = judge(k, &files.release, &tests, &outcome, &console);
    assert_eq!(run.status, "fail");
    assert!(run.reason.contains("Kernel panic"), "{}", run.reason);
    assert_eq!(run.results[0].status, "fail");
    assert!(
        run.results[0].reason.starts_with("no result line: "),
        "{}",
        run.results[0].reason
    );
}

#[test]
fn a_hung_guest_is_killed_at_its_deadline_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let initrd = script_image("while :; do sleep 1; done", dir.path());
    let deadline = Duration::from_secs(20);
    let spec = spec(dir.path(), initrd, deadline);
    let outcome = boot(&spec, |_| {}).unwrap();
    assert!(outcome.timed_out);
    assert_eq!(outcome.exit_code, None);
    assert!(
        outcome.wall_s >= deadline.as_secs_f64(),
        "{}",
        outcome.wall_s
    );
    assert!(
        outcome.wall_s < deadline.as_secs_f64() + 10.0,
        "{}",
        outcome.wall_s
    );

    let (matrix, files) = kernel();
    let k = matrix.kernels.iter().find(|k| k.name == KERNEL).unwrap();
    let console = std::fs::read_to_string(&spec.console_log).unwrap();
    let tests = select(None, Some("probe"), None).unwrap();
    let run = judge(k, &files.release, &tests, &outcome, &console);
    assert_eq!(run.status, "fail");
    assert!(
        run.reason.starts_with("deadline of 20 s passed: VM killed"),
        "{}",
        run.reason
    );
}

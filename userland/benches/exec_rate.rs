//! Exec rate of a fork+exec loop without veto, with the seed Sigkill policy
//! loaded (a binary that does not match), and with a 10,000-value
//! matchBinaries list: the per-event cost must not grow with the list.
//!
//! `cargo bench -p veto --bench exec_rate` (root, after `cargo xtask build`).
//! Prints the figures and writes target/bench/exec_rate.json. Not a test: no
//! threshold, nothing passes or fails.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use veto::cgroup::Cgroup;

const LOOPS: u32 = 2000;
const ROUNDS: usize = 5;

/// The child side: `LOOPS` fork+exec of /bin/true, prints execs per second.
fn child_loop(n: u32) {
    let t = Instant::now();
    for _ in 0..n {
        let st = Command::new("/bin/true").status().expect("exec /bin/true");
        assert!(st.success());
    }
    println!("{}", n as f64 / t.elapsed().as_secs_f64());
}

fn rate_in(cg: &Cgroup) -> f64 {
    let procs = std::ffi::CString::new(
        cg.path()
            .join("cgroup.procs")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env("VETO_BENCH_CHILD", LOOPS.to_string())
        .stdout(Stdio::piped());
    // SAFETY: async-signal-safe calls only, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
            if fd >= 0 {
                libc::write(fd, b"0".as_ptr() as *const _, 1);
                libc::close(fd);
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

struct Veto {
    child: std::process::Child,
    load_ms: u64,
}

fn start(policy: &Path, cg: &Cgroup) -> Veto {
    let mut child = Command::new(env!("CARGO_BIN_EXE_veto"))
        .args(["run", "--stats-interval", "0", "--policy"])
        .arg(policy)
        .arg("--cgroup")
        .arg(cg.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let mut lines = BufReader::new(err).lines();
    let mut load_ms = 0;
    for l in lines.by_ref() {
        let l = l.unwrap();
        if l.contains("ready") {
            load_ms = l
                .split("loaded in ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    Veto { child, load_ms }
}

fn stop(mut v: Veto) {
    unsafe { libc::kill(v.child.id() as i32, libc::SIGINT) };
    let _ = v.child.wait();
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    if let Ok(n) = std::env::var("VETO_BENCH_CHILD") {
        child_loop(n.parse().unwrap());
        return;
    }
    if veto::loader::object().is_none() {
        eprintln!(
            "exec_rate: veto was built without its eBPF object; run `cargo xtask build` first"
        );
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir).unwrap();
    let seed = root.join("testdata/seed-policies/block-log4shell-sigkill.yaml");
    let mut big = String::from(
        "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: \"big-list\"\nspec:\n  kprobes:\n  - call: \"sys_execve\"\n    syscall: true\n    args:\n    - index: 0\n      type: \"string\"\n    selectors:\n    - matchBinaries:\n      - operator: \"In\"\n        values:\n",
    );
    for i in 0..10_000 {
        big.push_str(&format!("        - \"/opt/bench/bin/tool-{i:05}\"\n"));
    }
    big.push_str("      matchArgs:\n      - index: 0\n        operator: \"Equal\"\n        values: [\"/bin/sh\"]\n      matchActions:\n      - action: \"Sigkill\"\n");
    let big_path = out_dir.join("big-list.yaml");
    std::fs::write(&big_path, big).unwrap();

    let cg = Cgroup::create("veto-bench").unwrap();
    let mut none = Vec::new();
    let mut seeded = Vec::new();
    let mut listed = Vec::new();
    let mut load = Vec::new();
    for _ in 0..ROUNDS {
        none.push(rate_in(&cg));
        let v = start(&seed, &cg);
        load.push(v.load_ms);
        seeded.push(rate_in(&cg));
        stop(v);
        let v = start(&big_path, &cg);
        load.push(v.load_ms);
        listed.push(rate_in(&cg));
        stop(v);
        std::thread::sleep(Duration::from_millis(200));
    }
    cg.remove().unwrap();
    let (n, s, l) = (
        median(none.clone()),
        median(seeded.clone()),
        median(listed.clone()),
    );
    println!(
        "exec_rate: fork+exec of /bin/true, {LOOPS} per sample, median of {ROUNDS} (2 cores, shared machine)"
    );
    println!("  no veto:                        {n:8.0} exec/s");
    println!(
        "  seed policy (no match):         {s:8.0} exec/s  ratio {:.3}",
        s / n
    );
    println!(
        "  10,000-value matchBinaries:     {l:8.0} exec/s  ratio {:.3}",
        l / n
    );
    println!("  veto load+verify at start (ms): {load:?}");
    let json = serde_json::json!({
        "loops_per_sample": LOOPS,
        "rounds": ROUNDS,
        "exec_per_s": { "no_veto": none, "seed_policy": seeded, "list_10000": listed },
        "median": { "no_veto": n, "seed_policy": s, "list_10000": l },
        "ratio_to_no_veto": { "seed_policy": s / n, "list_10000": l / n },
        "veto_load_ms": load,
    });
    let path = out_dir.join("exec_rate.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    println!("  written: {}", path.display());
}

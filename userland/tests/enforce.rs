//! End to end on the host kernel: `veto run` with real policies, real processes
//! really exec'ing, and what really happened to them.
//!
//! Every test confines veto to a fresh cgroup v2 group holding only the test's
//! own processes (`--cgroup`), so no policy here can touch the toolchain, the
//! test runner or CI. The tests run one at a time (a lock): the machine has
//! two cores and each veto verifies its programs at start.
//!
//! The program under test is a copy of `env` in a temporary folder (its own
//! path, so a policy can name it): `launcher PROGRAM ARGS…` execs PROGRAM with
//! exactly the filename given, which is what a syscall hook on execve sees.

use std::ffi::CString;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use veto::cgroup::Cgroup;

static SERIAL: Mutex<()> = Mutex::new(());

const VETO: &str = env!("CARGO_BIN_EXE_veto");

/// Skips (loudly) when this veto was built without its eBPF object, and when
/// not root. `cargo xtask test` always builds the object first.
fn can_run() -> bool {
    if veto::loader::object().is_none() {
        eprintln!(
            "SKIPPED: veto was built without the eBPF object; run `cargo xtask build` (cargo xtask test does) to run the enforcement tests"
        );
        return false;
    }
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: enforcement tests need root (CAP_BPF, CAP_SYS_ADMIN)");
        return false;
    }
    true
}

/// What every enforcement test starts with: the skip check, the lock that keeps
/// the tests' veto runs one at a time, and a scratch folder. `None`: skip.
fn start(name: &str) -> Option<(std::sync::MutexGuard<'static, ()>, Scratch)> {
    if !can_run() {
        return None;
    }
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    Some((guard, Scratch::new(name)))
}

/// A temporary folder removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("veto-e2e-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p.canonicalize().unwrap())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// A copy of `env` named `name` (its own inode, so its own real path).
    fn launcher(&self, name: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::copy("/usr/bin/env", &p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn policy(&self, name: &str, yaml: &str) -> PathBuf {
        let p = self.path(&format!("{name}.yaml"));
        std::fs::write(&p, yaml).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `veto run`, ready.
struct Veto {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: Vec<String>,
}

impl Veto {
    fn start(policies: &[&Path], cgroup: &Cgroup) -> Veto {
        let mut cmd = Command::new(VETO);
        cmd.arg("run");
        for p in policies {
            cmd.arg("--policy").arg(p);
        }
        cmd.arg("--cgroup")
            .arg(cgroup.path())
            .args(["-o", "json", "--stats-interval", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start veto");
        let (otx, orx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = otx.send(l);
            }
        });
        let (etx, erx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = etx.send(l);
            }
        });
        let mut stderr = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match erx.recv_timeout(Duration::from_millis(200)) {
                Ok(l) => {
                    let ready = l.contains("ready");
                    stderr.push(l);
                    if ready {
                        break;
                    }
                }
                Err(_) => {
                    if let Ok(Some(st)) = child.try_wait() {
                        panic!("veto exited before ready ({st}):\n{}", stderr.join("\n"));
                    }
                    assert!(
                        Instant::now() < deadline,
                        "veto not ready in 120 s:\n{}",
                        stderr.join("\n")
                    );
                }
            }
        }
        // Keep draining stderr so veto never blocks on it.
        std::thread::spawn(move || while erx.recv().is_ok() {});
        Veto {
            child,
            stdout: orx,
            stderr,
        }
    }

    /// SIGINT, wait, and every event printed.
    fn stop(mut self) -> Vec<Value> {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let st = self.child.wait().unwrap();
        assert!(
            st.success(),
            "veto exited with {st}: {}",
            self.stderr.join("\n")
        );
        let mut events = Vec::new();
        while let Ok(l) = self.stdout.recv_timeout(Duration::from_secs(2)) {
            events.push(serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")));
        }
        events
    }
}

impl Drop for Veto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `program args` inside `cgroup` (moved there between fork and exec,
/// so every process it starts is confined from its first instruction).
fn spawn_in(cgroup: &Cgroup, cwd: &Path, program: &Path, args: &[&str]) -> Child {
    let procs = CString::new(
        cgroup
            .path()
            .join("cgroup.procs")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(cwd).stdin(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let ok = libc::write(fd, b"0".as_ptr() as *const _, 1) == 1;
            libc::close(fd);
            if ok {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    cmd.spawn().expect("spawn test process")
}

fn wait(mut child: Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("test process did not finish in 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The shell command that proves the shell ran: it creates `marker`.
fn touch(marker: &Path) -> String {
    format!("echo ran > {}", marker.display())
}

fn kprobe_events<'a>(events: &'a [Value], policy: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter_map(|e| e.get("process_kprobe"))
        .filter(|k| k["policy_name"] == policy)
        .collect()
}

fn sigkill_policy(
    name: &str,
    binaries: &str,
    extra: &str,
    arg_op: &str,
    arg: &str,
    action: &str,
) -> String {
    format!(
        r#"apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: "{name}"
spec:
  kprobes:
  - call: "sys_execve"
    syscall: true
    args:
    - index: 0
      type: "string"
    selectors:
    - {binaries}{extra}
      matchArgs:
      - index: 0
        operator: "{arg_op}"
        values: ["{arg}"]
      matchActions:
      - {action}
"#
    )
}

fn bin_in(op: &str, values: &[&Path], follow: bool) -> String {
    let vals: Vec<String> = values
        .iter()
        .map(|v| format!("\"{}\"", v.display()))
        .collect();
    let follow = if follow {
        "\n        followChildren: true"
    } else {
        ""
    };
    format!(
        "matchBinaries:\n      - operator: \"{op}\"\n        values: [{}]{follow}",
        vals.join(", ")
    )
}

/// Runs one confined scenario: veto with `policy`, then `program args` in the
/// test's cgroup; returns its exit status and the events.
fn scenario(policy: &Path, cwd: &Path, program: &Path, args: &[&str]) -> (ExitStatus, Vec<Value>) {
    let cg = Cgroup::create("veto-e2e").expect("create a cgroup v2 group");
    let veto = Veto::start(&[policy], &cg);
    let st = wait(spawn_in(&cg, cwd, program, args));
    std::thread::sleep(Duration::from_millis(300));
    let events = veto.stop();
    cg.remove().expect("remove the test cgroup");
    (st, events)
}

#[test]
fn seed_policy_kills_the_binary_exec_ing_sh_before_the_shell_runs() {
    let Some((_g, s)) = start("seed") else {
        return;
    };
    let launcher = s.launcher("launcher");
    let marker = s.path("marker");
    // The seed policy, byte for byte, with only the binary path changed.
    let seed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/seed-policies/block-log4shell-sigkill.yaml"),
    )
    .unwrap()
    .replace("/usr/bin/java", launcher.to_str().unwrap());
    let policy = s.policy("seed", &seed);
    let (st, events) = scenario(
        &policy,
        &s.0,
        &launcher,
        &["/bin/sh", "-c", &touch(&marker)],
    );
    assert_eq!(st.signal(), Some(libc::SIGKILL), "wait status: {st}");
    assert!(!marker.exists(), "the shell ran");
    let k = kprobe_events(&events, "block-log4shell-sigkill");
    assert_eq!(k.len(), 1, "events: {events:#?}");
    assert_eq!(k[0]["action"], "KPROBE_ACTION_SIGKILL");
    assert_eq!(k[0]["function_name"], "__x64_sys_execve");
    assert_eq!(k[0]["args"][0]["string_arg"], "/bin/sh");
    assert_eq!(k[0]["process"]["exe"], launcher.to_str().unwrap());
}

#[test]
fn same_binary_exec_ing_another_program_is_allowed() {
    let Some((_g, s)) = start("other-prog") else {
        return;
    };
    let launcher = s.launcher("launcher");
    let policy = s.policy(
        "p",
        &sigkill_policy(
            "kill-sh",
            &bin_in("In", &[&launcher], false),
            "",
            "Equal",
            "/bin/sh",
            "action: Sigkill",
        ),
    );
    let (st, events) = scenario(&policy, &s.0, &launcher, &["/bin/true"]);
    assert!(st.success(), "wait status: {st}");
    assert!(kprobe_events(&events, "kill-sh").is_empty());
    assert!(
        events
            .iter()
            .any(|e| e["process_exec"]["process"]["exe"] == "/usr/bin/true"),
        "the exec of /bin/true is reported: {events:#?}"
    );
}

#[test]
fn another_binary_exec_ing_sh_is_allowed() {
    let Some((_g, s)) = start("other-bin") else {
        return;
    };
    let launcher = s.launcher("launcher");
    let other = s.launcher("other");
    let marker = s.path("marker");
    let policy = s.policy(
        "p",
        &sigkill_policy(
            "kill-sh",
            &bin_in("In", &[&launcher], false),
            "",
            "Equal",
            "/bin/sh",
            "action: Sigkill",
        ),
    );
    let (st, _) = scenario(&policy, &s.0, &other, &["/bin/sh", "-c", &touch(&marker)]);
    assert!(st.success(), "wait status: {st}");
    assert!(marker.exists(), "the shell did not run");
}

#[test]
fn not_in_kills_every_binary_but_the_listed_one() {
    let Some((_g, s)) = start("notin") else {
        return;
    };
    let allowed = s.launcher("allowed");
    let other = s.launcher("other");
    let m1 = s.path("m1");
    let m2 = s.path("m2");
    let policy = s.policy(
        "p",
        &sigkill_policy(
            "notin",
            &bin_in("NotIn", &[&allowed], false),
            "",
            "Equal",
            "/bin/sh",
            "action: Sigkill",
        ),
    );
    let cg = Cgroup::create("veto-e2e").unwrap();
    let veto = Veto::start(&[&policy], &cg);
    let st_other = wait(spawn_in(&cg, &s.0, &other, &["/bin/sh", "-c", &touch(&m1)]));
    let st_allowed = wait(spawn_in(
        &cg,
        &s.0,
        &allowed,
        &["/bin/sh", "-c", &touch(&m2)],
    ));
    drop(veto.stop());
    cg.remove().unwrap();
    assert_eq!(st_other.signal(), Some(libc::SIGKILL), "{st_other}");
    assert!(!m1.exists());
    assert!(st_allowed.success(), "{st_allowed}");
    assert!(m2.exists());
}

#[test]
fn prefix_on_the_binary_path_kills() {
    let Some((_g, s)) = start("prefix") else {
        return;
    };
    let launcher = s.launcher("launcher");
    let marker = s.path("marker");
    let dir = format!("{}/", s.0.display());
    let policy = s.policy(
        "p",
        &sigkill_policy(
            "prefix",
            &format!("matchBinaries:\n      - operator: \"Prefix\"\n        values: [\"{dir}\"]"),
            "",
            "Equal",
            "/bin/sh",
            "action: Sigkill",
        ),
    );
    let (st, _) = scenario(
        &policy,
        &s.0,
        &launcher,
        &["/bin/sh", "-c", &touch(&marker)],
    );
    assert_eq!(st.signal(), Some(libc::SIGKILL), "{st}");
    assert!(!marker.exists());
}

#[test]
fn postfix_on_the_argument_kills_and_its_miss_allows() {
    let Some((_g, s)) = start("postfix") else {
        return;
    };
    let launcher = s.launcher("launcher");
    let m1 = s.path("m1");
    let policy = s.policy(
        "p",
        &sigkill_policy(
            "postfix",
            &bin_in("In", &[&launcher], false),
            "",
            "Postfix",
            "/sh",
            "action: Sigkill",
        ),
    );
    let cg = Cgroup::create("veto-e2e").unwrap();
    let veto = Veto::start(&[&policy], &cg);
    let killed = wait(spawn_in(
        &cg,
        &s.0,
        &launcher,
        &["/usr/bin/sh", "-c", &touch(&m1)],
    ));
    let allowed = wait(spawn_in(&cg, &s.0, &launcher, &["/bin/true"]));
    drop(veto.stop());
    cg.remove().unwrap();
    assert_eq!(killed.signal(), Some(libc::SIGKILL), "{killed}");
    assert!(!m1.exists());
    assert!(allowed.success(), "{allowed}");
}

#[test]
fn follow_children_extends_the_match_to_descendants() {
    let Some((_g, s)) = start("follow") else {
        return;
    };
    let launcher = s.launcher("launcher");
    let with = s.path("with");
    let without = s.path("without");
    // launcher → bash (allowed: not /bin/sh) → a child of bash exec's /bin/sh.
    let script = |m: &Path| format!("/bin/sh -c '{}'; true", touch(m));
    let follow = s.policy(
        "follow",
        &sigkill_policy(
            "follow",
            &bin_in("In", &[&launcher], true),
            "",
            "Equal",
            "/bin/sh",
            "action: Sigkill",
        ),
    );
    let (_, events) = scenario(
        &follow,
        &s.0,
        &launcher,
        &["/bin/bash", "-c", &script(&with)],
    );
    assert!(
        !with.exists(),
        "a descendant ran /bin/sh under followChildren"
    );
    assert_eq!(kprobe_events(&events, "follow").len(), 1, "{events:#?}");
    let plain = s.policy(
        "plain",
        &sigkill_policy(
            "plain",
            &bin_in("In", &[&launcher], false),
            "",
            "Equal",
            "/bin/sh",
            "action: Sigkill",
        ),
    );
    let (st, _) = scenario(
        &plain,
        &s.0,
        &launcher,
        &["/bin/bash", "-c", &script(&without)],
    );
    assert!(st.success(), "{st}");
    assert!(
        without.exists(),
        "without followChildren the descendant is not matched"
    );
}

#[test]
fn match_pids_kills_a_process_started_before_veto() {
    let Some((_g, s)) = start("pids") else {
        return;
    };
    let go = s.path("go");
    let marker = s.path("marker");
    let cg = Cgroup::create("veto-e2e").unwrap();
    let waiter = format!(
        "while [ ! -e {} ]; do sleep 0.05; done; exec /bin/sh -c '{}'",
        go.display(),
        touch(&marker)
    );
    let child = spawn_in(&cg, &s.0, Path::new("/bin/bash"), &["-c", &waiter]);
    let pid = child.id();
    let policy = s.policy(
        "p",
        &format!(
            r#"apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: "pids"
spec:
  kprobes:
  - call: "sys_execve"
    syscall: true
    args:
    - index: 0
      type: "string"
    selectors:
    - matchPIDs:
      - operator: "In"
        values: [{pid}]
      matchArgs:
      - index: 0
        operator: "Equal"
        values: ["/bin/sh"]
      matchActions:
      - action: Sigkill
"#
        ),
    );
    let veto = Veto::start(&[&policy], &cg);
    std::fs::write(&go, "").unwrap();
    let st = wait(child);
    let events = veto.stop();
    cg.remove().unwrap();
    assert_eq!(st.signal(), Some(libc::SIGKILL), "{st}");
    assert!(!marker.exists());
    let k = kprobe_events(&events, "pids");
    assert_eq!(k.len(), 1, "{events:#?}");
    assert_eq!(k[0]["process"]["pid"], pid);
}

#[test]
fn signal_action_sends_the_given_signal() {
    let Some((_g, s)) = start("signal") else {
        return;
    };
    let launcher = s.launcher("launcher");
    let policy = s.policy(
        "p",
        &sigkill_policy(
            "usr1",
            &bin_in("In", &[&launcher], false),
            "",
            "Equal",
            "/bin/sh",
            "action: Signal\n        argSig: 10",
        ),
    );
    let (st, events) = scenario(&policy, &s.0, &launcher, &["/bin/sh", "-c", "true"]);
    assert_eq!(st.signal(), Some(libc::SIGUSR1), "{st}");
    let k = kprobe_events(&events, "usr1");
    assert_eq!(k.len(), 1, "{events:#?}");
    assert_eq!(k[0]["action"], "KPROBE_ACTION_SIGNAL");
}

#[test]
fn sigkill_wins_over_another_signal_in_one_selector_and_across_policies() {
    let Some((_g, s)) = start("killwins") else {
        return;
    };
    let launcher = s.launcher("launcher");
    let marker = s.path("marker");
    // One selector asking for SIGKILL and then SIGUSR1: the process must die
    // by SIGKILL (a later, milder signal must not replace the kill).
    let both = s.policy(
        "both",
        &sigkill_policy(
            "both",
            &bin_in("In", &[&launcher], false),
            "",
            "Equal",
            "/bin/sh",
            "action: Sigkill\n      - action: Signal\n        argSig: 10",
        ),
    );
    let (st, events) = scenario(&both, &s.0, &launcher, &["/bin/sh", "-c", &touch(&marker)]);
    assert_eq!(st.signal(), Some(libc::SIGKILL), "{st}");
    assert!(!marker.exists(), "the shell ran");
    let k = kprobe_events(&events, "both");
    assert_eq!(k.len(), 1, "{events:#?}");
    assert_eq!(k[0]["action"], "KPROBE_ACTION_SIGKILL");

    // Two policies on one hook, the milder one loaded first: the strongest
    // effect wins, and each policy still reports its own action.
    let usr1 = s.policy(
        "usr1",
        &sigkill_policy(
            "usr1",
            &bin_in("In", &[&launcher], false),
            "",
            "Equal",
            "/bin/sh",
            "action: Signal\n        argSig: 10",
        ),
    );
    let kill = s.policy(
        "kill",
        &sigkill_policy(
            "kill",
            &bin_in("In", &[&launcher], false),
            "",
            "Equal",
            "/bin/sh",
            "action: Sigkill",
        ),
    );
    let cg = Cgroup::create("veto-e2e").unwrap();
    let veto = Veto::start(&[&usr1, &kill], &cg);
    let st = wait(spawn_in(
        &cg,
        &s.0,
        &launcher,
        &["/bin/sh", "-c", &touch(&marker)],
    ));
    std::thread::sleep(Duration::from_millis(300));
    let events = veto.stop();
    cg.remove().unwrap();
    assert_eq!(st.signal(), Some(libc::SIGKILL), "{st}");
    assert!(!marker.exists(), "the shell ran");
    let u = kprobe_events(&events, "usr1");
    let k = kprobe_events(&events, "kill");
    assert_eq!((u.len(), k.len()), (1, 1), "{events:#?}");
    assert_eq!(u[0]["action"], "KPROBE_ACTION_SIGNAL");
    assert_eq!(k[0]["action"], "KPROBE_ACTION_SIGKILL");
}

#[test]
fn follow_children_passes_a_parent_mark_taken_after_the_fork_at_the_child_exec() {
    let Some((_g, s)) = start("follow-late") else {
        return;
    };
    let launcher = s.launcher("launcher");
    // The tree: bash forks a child that waits, then bash execs the listed
    // launcher (which execs bash again and stays the child's parent); only
    // then the child execs bash, whose own child execs /bin/sh. The child
    // was forked unmarked; it must take its parent's mark at its exec.
    let tree = |marker: &Path, done: &Path, go: &Path| {
        format!(
            "( while [ ! -e {go} ]; do sleep 0.05; done; exec /bin/bash -c \"/bin/sh -c '{touch}'; echo > {done}\" ) & \
             exec {launcher} /bin/bash -c \"echo > {go}; for i in \\$(seq 400); do [ -e {done} ] && exit 0; sleep 0.05; done; exit 3\"",
            go = go.display(),
            done = done.display(),
            touch = touch(marker),
            launcher = launcher.display(),
        )
    };
    let follow = s.policy(
        "follow",
        &sigkill_policy(
            "follow",
            &bin_in("In", &[&launcher], true),
            "",
            "Equal",
            "/bin/sh",
            "action: Sigkill",
        ),
    );
    let (with, done, go) = (s.path("with"), s.path("done1"), s.path("go1"));
    let (st, events) = scenario(
        &follow,
        &s.0,
        Path::new("/bin/bash"),
        &["-c", &tree(&with, &done, &go)],
    );
    assert!(st.success(), "the tree did not finish: {st}");
    assert!(
        !with.exists(),
        "a child forked before its parent exec'd the listed binary ran /bin/sh"
    );
    let k = kprobe_events(&events, "follow");
    assert_eq!(k.len(), 1, "{events:#?}");
    assert_eq!(k[0]["action"], "KPROBE_ACTION_SIGKILL");

    // The same tree without followChildren: nothing is killed, so the mark
    // (not something else in the tree) made the difference.
    let plain = s.policy(
        "plain",
        &sigkill_policy(
            "plain",
            &bin_in("In", &[&launcher], false),
            "",
            "Equal",
            "/bin/sh",
            "action: Sigkill",
        ),
    );
    let (without, done, go) = (s.path("without"), s.path("done2"), s.path("go2"));
    let (st, _) = scenario(
        &plain,
        &s.0,
        Path::new("/bin/bash"),
        &["-c", &tree(&without, &done, &go)],
    );
    assert!(st.success(), "{st}");
    assert!(without.exists(), "without followChildren /bin/sh runs");
}

#[test]
fn binary_started_through_a_symlink_is_matched_by_its_real_path() {
    let Some((_g, s)) = start("symlink") else {
        return;
    };
    let launcher = s.launcher("launcher");
    let link = s.path("link");
    std::os::unix::fs::symlink(&launcher, &link).unwrap();
    let marker = s.path("marker");
    let policy = s.policy(
        "p",
        &sigkill_policy(
            "real",
            &bin_in("In", &[&launcher], false),
            "",
            "Equal",
            "/bin/sh",
            "action: Sigkill",
        ),
    );
    let (st, events) = scenario(&policy, &s.0, &link, &["/bin/sh", "-c", &touch(&marker)]);
    assert_eq!(st.signal(), Some(libc::SIGKILL), "{st}");
    assert!(!marker.exists());
    let k = kprobe_events(&events, "real");
    assert_eq!(k[0]["process"]["exe"], launcher.to_str().unwrap());
}

#[test]
fn binary_started_through_a_relative_path_is_matched_by_its_real_path() {
    let Some((_g, s)) = start("relative") else {
        return;
    };
    let launcher = s.launcher("launcher");
    let marker = s.path("marker");
    let policy = s.policy(
        "p",
        &sigkill_policy(
            "real",
            &bin_in("In", &[&launcher], false),
            "",
            "Equal",
            "/bin/sh",
            "action: Sigkill",
        ),
    );
    let (st, _) = scenario(
        &policy,
        &s.0,
        Path::new("./launcher"),
        &["/bin/sh", "-c", &touch(&marker)],
    );
    assert_eq!(st.signal(), Some(libc::SIGKILL), "{st}");
    assert!(!marker.exists());
}

/// Programs named like veto's that exist now.
fn veto_program_ids() -> Vec<u32> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter(|p| p.name_as_str().is_some_and(|n| n.starts_with("veto_")))
        .map(|p| p.id())
        .collect()
}

fn refused(policy: &Path) -> (i32, String) {
    let cg = Cgroup::create("veto-e2e").unwrap();
    let before = veto_program_ids();
    let out = Command::new(VETO)
        .args(["run", "--policy"])
        .arg(policy)
        .arg("--cgroup")
        .arg(cg.path())
        .output()
        .unwrap();
    let after = veto_program_ids();
    cg.remove().unwrap();
    let new: Vec<_> = after.iter().filter(|id| !before.contains(id)).collect();
    assert!(new.is_empty(), "veto left programs {new:?} loaded");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unenforceable_policy_is_refused_with_nothing_attached() {
    if !can_run() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lsm = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/seed-policies/block-log4shell-lsm.yaml");
    let (code, err) = refused(&lsm);
    assert_ne!(code, 0);
    assert!(err.contains("block-log4shell-lsm.yaml:"), "{err}");
    assert!(err.contains("BPF LSM"), "{err}");
    assert!(err.contains("nothing"), "{err}");
    // The refusal blames the kernel only when the probe's trial load says
    // so (on the project's host: the LSM program load fails with EPERM), and
    // then says why; a kernel with BPF LSM hears "not implemented yet".
    match veto::probe::probe().check_need(veto_policy::plan::KernelNeed::BpfLsm) {
        Err(detail) => {
            assert!(err.contains("which this kernel lacks"), "{err}");
            assert!(err.contains(&detail), "{err}\nprobe: {detail}");
            assert!(!err.contains("not implemented"), "{err}");
        }
        Ok(()) => assert!(err.contains("not implemented yet"), "{err}"),
    }
}

#[test]
fn invalid_policy_is_refused_with_its_position_and_nothing_attached() {
    let Some((_g, s)) = start("invalid") else {
        return;
    };
    let bad = s.policy("bad", "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: bad\nspec:\n  kprobes:\n  - call: sys_execve\n    syscall: true\n    selectors:\n    - matchActions:\n      - action: Explode\n");
    let (code, err) = refused(&bad);
    assert_ne!(code, 0);
    assert!(err.contains("bad.yaml:11:"), "{err}");
}

#[test]
fn events_are_json_lines_in_tetragon_shape_with_the_resolved_exe() {
    let Some((_g, s)) = start("shape") else {
        return;
    };
    let launcher = s.launcher("launcher");
    let policy = s.policy(
        "p",
        &sigkill_policy(
            "post",
            &bin_in("In", &[&launcher], false),
            "",
            "Equal",
            "/bin/sh",
            "action: Post",
        ),
    );
    let (st, events) = scenario(&policy, &s.0, &launcher, &["/bin/sh", "-c", "true"]);
    assert!(st.success(), "{st}");
    let exec = events
        .iter()
        .find(|e| e["process_exec"]["process"]["binary"] == "/bin/sh")
        .unwrap_or_else(|| panic!("no exec of /bin/sh: {events:#?}"));
    let p = &exec["process_exec"]["process"];
    assert_eq!(
        p["exe"], "/usr/bin/dash",
        "the resolved path beside Tetragon's binary"
    );
    assert_eq!(p["arguments"], "-c true");
    for f in [
        "exec_id",
        "pid",
        "uid",
        "cwd",
        "start_time",
        "parent_exec_id",
        "flags",
    ] {
        assert!(!p[f].is_null(), "{f} missing: {p}");
    }
    assert!(exec["node_name"].is_string() && exec["time"].is_string());
    let k = kprobe_events(&events, "post");
    assert_eq!(k.len(), 1);
    assert_eq!(k[0]["action"], "KPROBE_ACTION_POST");
    assert_eq!(
        k[0]["process"]["pid"], p["pid"],
        "the exec'ing process is the one that called execve"
    );
    assert!(events.iter().any(|e| e.get("process_exit").is_some()));
}

#[test]
fn exit_events_carry_the_exit_status_and_the_killing_signal() {
    let Some((_g, s)) = start("exit") else {
        return;
    };
    let launcher = s.launcher("launcher");
    let policy = s.policy(
        "p",
        &sigkill_policy(
            "kill",
            &bin_in("In", &[&launcher], false),
            "",
            "Equal",
            "/bin/sh",
            "action: Sigkill",
        ),
    );
    // launcher → bash, which exits with 7 after its child (launcher → /bin/sh
    // again, under the kill policy) is killed.
    let script = format!("{} /bin/sh -c true; exit 7", launcher.display());
    let (st, events) = scenario(&policy, &s.0, &launcher, &["/bin/bash", "-c", &script]);
    assert_eq!(st.code(), Some(7), "{st}");
    let exits: Vec<&Value> = events
        .iter()
        .filter_map(|e| e.get("process_exit"))
        .collect();
    let bash = exits
        .iter()
        .find(|e| e["process"]["binary"] == "/bin/bash")
        .unwrap_or_else(|| panic!("no exit of bash: {events:#?}"));
    assert_eq!(bash["status"], 7, "{bash}");
    assert!(bash.get("signal").is_none(), "{bash}");
    let killed = kprobe_events(&events, "kill");
    assert_eq!(killed.len(), 1, "{events:#?}");
    let pid = &killed[0]["process"]["pid"];
    let dead = exits
        .iter()
        .find(|e| &e["process"]["pid"] == pid)
        .unwrap_or_else(|| panic!("no exit of the killed process: {events:#?}"));
    assert_eq!(dead["signal"], "SIGKILL", "{dead}");
    assert_eq!(dead["status"], 0, "{dead}");
}

/// A small C program that calls execve("/bin/sh", ["/bin/sh", "-c", CMD])
/// without libc: through the 32-bit compat entry (`int80`) or the 64-bit
/// `syscall` instruction, with the filename in a page the program has
/// touched (`touch`) or not (`cold`: the kernel hook cannot read it yet).
const RAW_EXEC_C: &str = r#"
#include <string.h>
static const char f[] = "/bin/sh";
static const char a1[] = "-c";
static char cmd[256];
static unsigned int argv32[4];
static unsigned long argv64[4];
int main(int argc, char **argv) {
    if (argc < 4) return 2;
    if (argv[2][0] == 't') { volatile char c = f[0]; (void)c; volatile char d = a1[0]; (void)d; }
    strncpy(cmd, argv[3], 255);
    long r;
    if (argv[1][0] == 'i') {
        argv32[0] = (unsigned int)(unsigned long)f; argv32[1] = (unsigned int)(unsigned long)a1;
        argv32[2] = (unsigned int)(unsigned long)cmd; argv32[3] = 0;
        __asm__ volatile("int $0x80" : "=a"(r) : "a"(11L), "b"(f), "c"(argv32), "d"(0L) : "memory");
    } else {
        argv64[0] = (unsigned long)f; argv64[1] = (unsigned long)a1; argv64[2] = (unsigned long)cmd; argv64[3] = 0;
        register long r10 __asm__("r10") = 0;
        __asm__ volatile("syscall" : "=a"(r) : "a"(59L), "D"(f), "S"(argv64), "d"(0L), "r"(r10) : "rcx", "r11", "memory");
    }
    return 100;
}
"#;

fn raw_exec(s: &Scratch) -> PathBuf {
    let src = s.path("rawexec.c");
    std::fs::write(&src, RAW_EXEC_C).unwrap();
    let bin = s.path("rawexec");
    // -no-pie keeps the static data below 4 GiB, where 32-bit pointers reach.
    let st = Command::new("cc")
        .args(["-O1", "-no-pie", "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .expect("cc (installed by cargo xtask build) compiles the test program");
    assert!(st.success());
    bin
}

#[test]
fn int_0x80_execve_through_the_compat_entry_is_killed() {
    let Some((_g, s)) = start("int80") else {
        return;
    };
    let bin = raw_exec(&s);
    let marker = s.path("marker");
    let policy = s.policy(
        "p",
        &sigkill_policy(
            "compat",
            &bin_in("In", &[&bin], false),
            "",
            "Equal",
            "/bin/sh",
            "action: Sigkill",
        ),
    );
    let (st, events) = scenario(&policy, &s.0, &bin, &["int80", "touch", &touch(&marker)]);
    assert_eq!(st.signal(), Some(libc::SIGKILL), "{st}");
    assert!(!marker.exists(), "the shell ran through int 0x80");
    let k = kprobe_events(&events, "compat");
    assert_eq!(k.len(), 1, "{events:#?}");
    // On the development host (6.18) the compat entry's filename reads as
    // unreadable at raw_syscalls/sys_enter even when its page is resident;
    // veto fails closed on an unreadable argument, so the exec is stopped
    // either way and the event says which case it was.
    let a = &k[0]["args"][0];
    assert!(
        a["string_arg"] == "/bin/sh" || a["error"] == "unreadable",
        "{a}"
    );
}

#[test]
fn unreadable_filename_fails_closed_and_is_flagged() {
    let Some((_g, s)) = start("cold") else {
        return;
    };
    let bin = raw_exec(&s);
    let marker = s.path("marker");
    let policy = s.policy(
        "p",
        &sigkill_policy(
            "cold",
            &bin_in("In", &[&bin], false),
            "",
            "Equal",
            "/bin/sh",
            "action: Sigkill",
        ),
    );
    let (st, events) = scenario(&policy, &s.0, &bin, &["syscall", "cold", &touch(&marker)]);
    assert_eq!(st.signal(), Some(libc::SIGKILL), "{st}");
    assert!(!marker.exists());
    let k = kprobe_events(&events, "cold");
    assert_eq!(k.len(), 1, "{events:#?}");
    // Either the page was already in (read) or not (flagged): never silently allowed.
    let a = &k[0]["args"][0];
    assert!(
        a["string_arg"] == "/bin/sh" || a["error"] == "unreadable",
        "{a}"
    );
}

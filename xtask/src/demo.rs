//! `cargo xtask demo`: a real Java 17 program whose `Runtime.exec` starts
//! /bin/sh, run under `veto run` twice: with the seed Log4Shell Sigkill policy
//! exactly as written, then with the policy that stops it on this machine.
//!
//! Both runs are confined to a cgroup of their own (`--cgroup`), so nothing
//! else on the machine is touched. The outcome is shown as it happens, not as
//! hoped: the seed policy does not stop the JDK here, for two reasons that the
//! demo prints (a symlinked `matchBinaries` path, and jspawnhelper).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::build;
use crate::util::root;

/// Arguments of `cargo xtask demo`.
#[derive(Debug, clap::Args)]
pub struct Args {}

const JAVA_SRC: &str = r#"public class Demo {
    public static void main(String[] args) throws Exception {
        String marker = args[0];
        try {
            Process p = Runtime.getRuntime().exec(new String[] {"/bin/sh", "-c", "echo shell-ran > " + marker});
            System.out.println("java: /bin/sh finished with exit code " + p.waitFor());
        } catch (java.io.IOException e) {
            System.out.println("java: Runtime.exec failed: " + e.getMessage());
        }
    }
}
"#;

/// The policy that stops it here: the JDK's real path (what the kernel
/// resolves /usr/bin/java to), followed into the jspawnhelper child that
/// actually calls execve("/bin/sh").
fn fixed_policy(java: &Path) -> String {
    format!(
        r#"apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: "block-log4shell-sigkill-resolved"
spec:
  kprobes:
  - call: "sys_execve"
    syscall: true
    args:
    - index: 0
      type: "string"
    selectors:
    - matchBinaries:
      - operator: "In"
        values:
        - "{}"
        followChildren: true
      matchArgs:
      - index: 0
        operator: "Equal"
        values: ["/bin/sh"]
      matchActions:
      - action: "Sigkill"
"#,
        java.display()
    )
}

fn cgroup2() -> Result<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts")?;
    mounts
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(f[1]))
        })
        .context("no cgroup2 mount in /proc/mounts")
}

struct Group(PathBuf);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = std::fs::write(self.0.join("cgroup.kill"), "1");
        for _ in 0..100 {
            if std::fs::remove_dir(&self.0).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn start_veto(veto: &Path, policy: &Path, group: &Path) -> Result<(Child, mpsc::Receiver<String>)> {
    let mut child = Command::new(veto)
        .args(["run", "-o", "compact", "--stats-interval", "0", "--policy"])
        .arg(policy)
        .arg("--cgroup")
        .arg(group)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting veto")?;
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().expect("piped");
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx2.send(l);
        }
    });
    let (etx, erx) = mpsc::channel();
    let err = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = etx.send(l);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match erx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) => {
                println!("  {l}");
                if l.contains("ready") {
                    break;
                }
            }
            Err(_) => {
                if let Some(st) = child.try_wait()? {
                    bail!("veto exited before it was ready: {st}");
                }
                if Instant::now() > deadline {
                    bail!("veto was not ready within 120 s");
                }
            }
        }
    }
    std::thread::spawn(move || {
        for l in erx {
            let _ = tx.send(l);
        }
    });
    Ok((child, rx))
}

/// One round: veto with `policy`, the Java program in `group`; true if stopped.
fn round(veto: &Path, policy: &Path, work: &Path, group: &Path) -> Result<bool> {
    let marker = work.join("marker");
    let _ = std::fs::remove_file(&marker);
    let (mut v, lines) = start_veto(veto, policy, group)?;
    let procs = group.join("cgroup.procs");
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {} && exec java -cp {} Demo {}",
            procs.display(),
            work.display(),
            marker.display()
        ))
        .status()
        .context("running java")?;
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signalling our own child.
    unsafe { libc_kill(v.id() as i32, 2) };
    let _ = v.wait();
    println!("  veto's compact output:");
    while let Ok(l) = lines.recv_timeout(Duration::from_millis(500)) {
        println!("    {l}");
    }
    println!("  java exited: {status}");
    let stopped = !marker.exists();
    Ok(stopped)
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Runs `cargo xtask demo`.
pub fn run(_args: Args) -> Result<()> {
    build::build_all()?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let veto = target.join("release/veto");
    let work = root().join("target/demo");
    std::fs::create_dir_all(&work)?;
    std::fs::write(work.join("Demo.java"), JAVA_SRC)?;
    crate::util::run(
        Command::new("javac")
            .arg("-d")
            .arg(&work)
            .arg(work.join("Demo.java")),
    )
    .context("javac (Java 17 JDK) is needed for the demo")?;
    let java = std::fs::canonicalize("/usr/bin/java").context("java is not installed")?;

    let group = Group(cgroup2()?.join(format!("veto-demo-{}", std::process::id())));
    std::fs::create_dir_all(&group.0).context("creating the demo's cgroup")?;

    let seed = root().join("testdata/seed-policies/block-log4shell-sigkill.yaml");
    println!("\n== 1. the seed policy as written ({})", seed.display());
    let stopped = round(&veto, &seed, &work, &group.0)?;
    if stopped {
        println!("  RESULT: stopped: the shell never ran.");
    } else {
        println!("  RESULT: NOT stopped: the shell ran (its marker file exists). Why:");
        println!(
            "   - matchBinaries compares the executable's real path; /usr/bin/java is a symlink to {},",
            java.display()
        );
        println!(
            "     so the value \"/usr/bin/java\" matches no process (as in Tetragon since it resolves paths);"
        );
        println!(
            "   - and Java 17 starts programs through {}: it is jspawnhelper, a child of java, that calls execve(\"/bin/sh\").",
            java.parent()
                .and_then(|p| p.parent())
                .map(|p| p.join("lib/jspawnhelper").display().to_string())
                .unwrap_or_default()
        );
    }

    let fixed = work.join("block-log4shell-sigkill-resolved.yaml");
    std::fs::write(&fixed, fixed_policy(&java))?;
    println!(
        "\n== 2. the policy that stops it here ({}):",
        fixed.display()
    );
    for l in fixed_policy(&java).lines() {
        println!("    {l}");
    }
    let stopped = round(&veto, &fixed, &work, &group.0)?;
    if stopped {
        println!(
            "  RESULT: stopped: jspawnhelper was killed by SIGKILL inside execve(\"/bin/sh\"); the shell never ran."
        );
    } else {
        println!("  RESULT: NOT stopped: the shell ran.");
        bail!("the resolved-path policy did not stop the shell");
    }
    Ok(())
}

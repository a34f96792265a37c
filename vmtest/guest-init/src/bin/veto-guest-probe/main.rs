//! The `probe` guest test: one capability row for the running kernel.
//!
//! It asks the kernel directly (tiny bpf(2) loads, BTF, securityfs) so the row is
//! real on every kernel, and also runs `veto probe -o json` when a veto binary with
//! that command is in the initramfs, keeping its answer beside the built-in one.
//! It prints one JSON object on stdout and exits 0: judging the row against what
//! kernels.toml expects is the host's job.

mod bpf;
mod btf;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use bpf::{Insn, RETURN_0, Target};
use serde_json::{Value, json};

const VETO: &str = "/veto/bin/veto";

// BPF_PROG_TYPE_* and attach types from the UAPI.
const SOCKET_FILTER: u32 = 1;
const KPROBE: u32 = 2;
const TRACEPOINT: u32 = 5;
const PERF_EVENT: u32 = 7;
const RAW_TRACEPOINT: u32 = 17;
const TRACING: u32 = 26;
const LSM: u32 = 29;
const TRACE_FENTRY: u32 = 24;
const LSM_MAC: u32 = 27;
const MAP_RINGBUF: u32 = 27;

fn main() {
    let mut caps: BTreeMap<&str, bool> = BTreeMap::new();
    let mut reasons: BTreeMap<&str, String> = BTreeMap::new();
    let mut record = |name: &'static str, r: Result<(), String>| {
        caps.insert(name, r.is_ok());
        if let Err(e) = r {
            reasons.insert(name, e);
        }
    };

    let lsm = std::fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default();
    record(
        "bpf_lsm_active",
        if lsm.split(',').any(|l| l.trim() == "bpf") {
            Ok(())
        } else if lsm.is_empty() {
            Err("/sys/kernel/security/lsm unreadable".into())
        } else {
            Err(format!("bpf not in the active LSM list ({})", lsm.trim()))
        },
    );
    let btf = std::fs::read("/sys/kernel/btf/vmlinux");
    record(
        "btf_vmlinux",
        btf.as_ref().map(|_| ()).map_err(|e| e.to_string()),
    );
    record(
        "kprobes",
        if Path::new("/sys/kernel/tracing/kprobe_events").exists() {
            Ok(())
        } else {
            Err("no kprobe_events in tracefs".into())
        },
    );

    let plain = |prog_type| Target {
        prog_type,
        ..Target::default()
    };
    record(
        "prog_socket_filter",
        bpf::prog_load(plain(SOCKET_FILTER), RETURN_0),
    );
    record("prog_kprobe", bpf::prog_load(plain(KPROBE), RETURN_0));
    record(
        "prog_tracepoint",
        bpf::prog_load(plain(TRACEPOINT), RETURN_0),
    );
    record(
        "prog_raw_tracepoint",
        bpf::prog_load(plain(RAW_TRACEPOINT), RETURN_0),
    );
    record(
        "prog_perf_event",
        bpf::prog_load(plain(PERF_EVENT), RETURN_0),
    );

    // LSM and fentry programs are checked against their attach target at load time.
    let hook = btf
        .as_ref()
        .map_err(|e| format!("no BTF: {e}"))
        .and_then(|b| btf::func_id(b, "bpf_lsm_bprm_check_security"));
    let btf_load = |prog_type, attach_type| {
        let id = hook.clone()?;
        let t = Target {
            prog_type,
            attach_type,
            attach_btf_id: id,
        };
        bpf::prog_load(t, RETURN_0)
    };
    record("prog_lsm", btf_load(LSM, LSM_MAC));
    record("prog_fentry", btf_load(TRACING, TRACE_FENTRY));

    // Helpers, each in the program type veto uses it from.
    let send_signal = [
        Insn::mov(1, 9),
        Insn::call(109),
        Insn::mov(0, 0),
        Insn::EXIT,
    ];
    record(
        "helper_send_signal",
        bpf::prog_load(plain(TRACEPOINT), &send_signal),
    );
    let override_ret = [Insn::mov(2, 0), Insn::call(58), Insn::mov(0, 0), Insn::EXIT];
    record(
        "helper_override_return",
        bpf::prog_load(plain(KPROBE), &override_ret),
    );
    let read_kernel = [
        Insn::mov_reg(1, 10),
        Insn::add(1, -8),
        Insn::mov(2, 8),
        Insn::mov(3, 0),
        Insn::call(113),
        Insn::mov(0, 0),
        Insn::EXIT,
    ];
    record(
        "helper_probe_read_kernel",
        bpf::prog_load(plain(TRACEPOINT), &read_kernel),
    );
    record("map_ringbuf", bpf::map_create(MAP_RINGBUF, 0, 0, 4096));

    let (veto_probe, veto_error, veto_s) = veto_probe();
    let row = json!({
        "source": if veto_probe.is_some() { "veto probe + built-in" } else { "built-in" },
        "lsm": lsm.trim(),
        "capabilities": caps,
        "reasons": reasons,
        "veto_probe": veto_probe,
        "veto_probe_error": veto_error,
    });
    println!("{row}");
    if let Some(s) = veto_s {
        println!("{}veto_probe_s={s:.3}", veto_guest::protocol::METRIC_PREFIX);
    }
}

/// Runs `veto probe -o json` if a veto binary is present: (answer, why not, seconds).
fn veto_probe() -> (Option<Value>, Option<String>, Option<f64>) {
    if !Path::new(VETO).exists() {
        return (None, Some(format!("{VETO} not in the initramfs")), None);
    }
    let started = Instant::now();
    let out = match Command::new(VETO).args(["probe", "-o", "json"]).output() {
        Ok(o) => o,
        Err(e) => return (None, Some(format!("cannot run {VETO}: {e}")), None),
    };
    let secs = Some(started.elapsed().as_secs_f64());
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        return (
            None,
            Some(format!("veto probe -o json: {}: {line}", out.status)),
            secs,
        );
    }
    match serde_json::from_slice::<Value>(&out.stdout) {
        Ok(v) => (Some(v), None, secs),
        Err(e) => (
            None,
            Some(format!("veto probe -o json printed no JSON: {e}")),
            secs,
        ),
    }
}

//! `veto run`: load every policy or none, attach, print events until SIGINT or
//! SIGTERM, then detach (by dropping the file descriptors: nothing is pinned).

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use veto_common::{Config, FollowSlot, MAX_BIN_FOLLOW, MAX_PID_FOLLOW, stat};

use crate::compile::{self, Compiled};
use crate::events::{self, Renderer};
use crate::kernel::{self, HostKernel};
use crate::loader::Enforcer;
use crate::process::{self, Cache};
use crate::tpformat;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// JSON lines in Tetragon's event shape.
    Json,
    /// One Tetragon-style line per event, with action and policy.
    Compact,
}

/// Arguments of `veto run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Policy file (TracingPolicy YAML); repeat for several. All load or none.
    #[arg(long = "policy", required = true)]
    pub policies: Vec<PathBuf>,
    /// Confine enforcement and events to this cgroup v2 subtree (a path inside
    /// the cgroup2 mount, or relative to its root).
    #[arg(long)]
    pub cgroup: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "json")]
    pub output: Output,
    /// Seconds between periodic stats lines on stderr (0: only the final one).
    #[arg(long, default_value_t = 10)]
    pub stats_interval: u64,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
}

/// The config map's value for a compiled set.
pub fn config(c: &Compiled, conf: Option<&kernel::Confinement>) -> anyhow::Result<Config> {
    let btf = crate::btf::Btf::from_sys_fs().context("reading the kernel's BTF")?;
    let offsets = <veto_common::KernelOffsets as crate::btf::FromBtf>::from_btf(&btf)
        .context("finding struct offsets in the kernel's BTF")?;
    let fork = tpformat::read("sched", "sched_process_fork")?;
    let exec = tpformat::read("sched", "sched_process_exec")?;
    let mut cfg = Config {
        offsets,
        fork_child_pid_off: fork
            .field("child_pid")
            .context("sched_process_fork has no child_pid field")?
            .offset,
        exec_filename_off: exec
            .field("filename")
            .context("sched_process_exec has no filename field")?
            .offset,
        ..Default::default()
    };
    // x86 marks a task inside a compat syscall in thread_info.status; without
    // both members the compat entry stays a stated gap.
    if let (Ok(ti), Ok(st)) = (
        btf.member_offset("task_struct", &["thread_info"]),
        btf.member_offset("thread_info", &["status"]),
    ) {
        cfg.compat_status_off = ti + st;
    }
    if let Some(conf) = conf {
        cfg.cgroup_id = conf.id;
        cfg.cgroup_level = conf.level;
    }
    cfg.n_bin_follow = c.bin_follow.len().min(MAX_BIN_FOLLOW) as u32;
    for (i, (op, set_id)) in c.bin_follow.iter().take(MAX_BIN_FOLLOW).enumerate() {
        cfg.bin_follow[i] = FollowSlot {
            op: *op,
            set_id: *set_id,
        };
    }
    cfg.n_pid_follow = c.pid_follow.len().min(MAX_PID_FOLLOW) as u32;
    for (i, set) in c.pid_follow.iter().take(MAX_PID_FOLLOW).enumerate() {
        cfg.pid_follow[i] = *set;
    }
    Ok(cfg)
}

fn stats_line(e: &mut Enforcer, events: u64) -> String {
    let s = e.stats();
    format!(
        "veto: stats: events={events} ringbuf_drops={} unresolved_paths={} unreadable_args={} untracked_callers={} process_map_full={}",
        s[stat::RINGBUF_DROPS as usize],
        s[stat::PATH_UNRESOLVED as usize],
        s[stat::ARG_UNREADABLE as usize],
        s[stat::PROC_UNKNOWN as usize],
        s[stat::PROC_MAP_FULL as usize],
    )
}

/// Loads, attaches, and prepares everything; returns the enforcer ready to read.
pub fn start(
    compiled: &Compiled,
    conf: Option<&kernel::Confinement>,
    cache: &mut Cache,
) -> anyhow::Result<(Enforcer, bool)> {
    let cfg = config(compiled, conf)?;
    let mut enforcer = Enforcer::load(compiled, &cfg)?;
    if let Some(conf) = conf {
        enforcer.allow_cgroups(&kernel::subtree_ids(&conf.path))?;
    }
    // Exec tracking first, then /proc: a process born in between is seen by
    // the tracker, and its newer entry wins over /proc's (no overwrite).
    enforcer.attach_tracking()?;
    for f in process::scan_proc(compiled, cache) {
        enforcer.add_process(f.info.pid, &f.info)?;
        cache.insert(f.process);
    }
    enforcer.attach_hooks(compiled, &cfg)?;
    Ok((enforcer, crate::loader::covers_compat(compiled, &cfg)))
}

/// Runs `veto run`.
pub fn run(args: RunArgs) -> anyhow::Result<i32> {
    let policies = match veto_policy::load_set(&args.policies) {
        Ok(p) => p,
        Err(diags) => {
            eprintln!("{diags}");
            eprintln!("veto: no policy loaded, nothing attached");
            return Ok(1);
        }
    };
    // What the kernel offers, probed by trial loads (this also mounts
    // tracefs and securityfs when missing). Every need veto and the policies
    // have is held against it before anything is loaded: a refusal says
    // whether the kernel lacks something or veto does not implement it yet.
    let caps = crate::probe::probe();
    let mut missing = caps.missing_base();
    for p in &policies {
        missing.extend(caps.missing_for(&veto_policy::plan::plan(p)));
    }
    if !missing.is_empty() {
        for m in &missing {
            eprintln!("{m}");
        }
        eprintln!("veto: no policy loaded, nothing attached");
        return Ok(1);
    }
    let compiled = match compile::compile(&policies, &HostKernel::new(&caps)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("veto: no policy loaded, nothing attached");
            return Ok(1);
        }
    };
    let conf = match &args.cgroup {
        Some(p) => Some(kernel::confinement(p)?),
        None => None,
    };
    let mut cache = Cache::new();
    let (mut enforcer, compat) = start(&compiled, conf.as_ref(), &mut cache)?;
    if compat {
        eprintln!(
            "veto: the 32-bit compat entry (int 0x80) of hooked syscalls is covered through raw_syscalls/sys_enter"
        );
    } else {
        for gap in &compiled.gaps {
            eprintln!("veto: warning: not covered: {gap}");
        }
    }
    install_signals();
    let mut ring = enforcer.events()?;
    let node = cache.node.clone();
    eprintln!(
        "veto: ready: {} policies, {} hooks, programs verified and loaded in {} ms{}",
        compiled.policies.len(),
        compiled.hooks.len(),
        enforcer.load_time.as_millis(),
        conf.as_ref()
            .map(|c| format!(", confined to cgroup {}", c.path.display()))
            .unwrap_or_default()
    );

    let mut renderer = Renderer {
        cache,
        compiled: &compiled,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut count = 0u64;
    let mut last_stats = Instant::now();
    let mut last_cgroup_scan = Instant::now();
    let interval = Duration::from_secs(args.stats_interval);
    let fd = ring.as_raw_fd();
    while !STOP.load(Ordering::SeqCst) {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; EINTR (a signal) just ends the wait.
        unsafe { libc::poll(&mut pfd, 1, 200) };
        while let Some(item) = ring.next() {
            let Some(rec) = events::decode(&item) else {
                continue;
            };
            drop(item);
            if let Some(ev) = renderer.render(rec) {
                count += 1;
                let line = match args.output {
                    Output::Json => events::json::to_value(&ev, &node).to_string(),
                    Output::Compact => events::compact::line(&ev, &node),
                };
                if writeln!(out, "{line}").is_err() {
                    STOP.store(true, Ordering::SeqCst);
                    break;
                }
            }
        }
        let _ = out.flush();
        // Groups created under the confinement since the last look join it.
        if let Some(c) = &conf
            && last_cgroup_scan.elapsed() >= Duration::from_millis(500)
        {
            enforcer.allow_cgroups(&kernel::subtree_ids(&c.path))?;
            last_cgroup_scan = Instant::now();
        }
        if !interval.is_zero() && last_stats.elapsed() >= interval {
            eprintln!("{}", stats_line(&mut enforcer, count));
            last_stats = Instant::now();
        }
    }
    let _ = out.flush();
    eprintln!("{}", stats_line(&mut enforcer, count));
    drop(ring);
    drop(enforcer);
    eprintln!("veto: detached");
    Ok(0)
}

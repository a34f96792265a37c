//! Loads the embedded eBPF object, fills its tables and attaches its programs
//! in the order that leaves no gap: exec tracking first, then (after the caller
//! has filled the process map from /proc) the enforcing hooks.
//!
//! Nothing is pinned: every program and link lives as long as this process's
//! file descriptors, so veto dying by SIGKILL leaves nothing attached.

use std::time::{Duration, Instant};

use aya::Ebpf;
use aya::maps::lpm_trie::Key;
use aya::maps::{Array, HashMap, LpmTrie, MapData, PerCpuArray, RingBuf};
use aya::programs::TracePoint;
use veto_common::{Config, HookTable, IntKey, PidKey, ProcInfo, StrData, StrSlot, stat};

use crate::compile::Compiled;
use crate::compile::sets::{prefix_key, str_key};

/// The eBPF object built by `cargo xtask build`, if this binary embeds one.
#[cfg(veto_ebpf)]
pub fn object() -> Option<&'static [u8]> {
    // ELF parsing wants the bytes aligned like the object's sections.
    #[repr(C, align(32))]
    struct Aligned<B: ?Sized>(B);
    static OBJ: &Aligned<[u8]> = &Aligned(*include_bytes!(env!("VETO_EBPF_OBJECT")));
    Some(&OBJ.0)
}

/// The eBPF object built by `cargo xtask build`, if this binary embeds one.
#[cfg(not(veto_ebpf))]
pub fn object() -> Option<&'static [u8]> {
    None
}

/// Errors of loading and attaching.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// This binary was built without the eBPF object.
    #[error(
        "this veto binary was built without its eBPF programs: run `cargo xtask build` (it builds the eBPF object and embeds it)"
    )]
    NoObject,
    /// The object could not be parsed or its maps created.
    #[error("loading the eBPF object: {0}")]
    Object(#[from] aya::EbpfError),
    /// The verifier rejected a program.
    #[error(
        "the kernel rejected {program}: {io_error}\nlast lines of the verifier log (full log below):\n{tail}\n--- full verifier log ---\n{log}"
    )]
    Verifier {
        /// Program name.
        program: String,
        /// The load error.
        io_error: std::io::Error,
        /// The last lines of the log (where the reason is).
        tail: String,
        /// The whole log.
        log: String,
    },
    /// A program could not be typed, loaded or attached.
    #[error("{what} {program}: {source}")]
    Program {
        /// What was being done.
        what: &'static str,
        /// Program name.
        program: String,
        /// Why it failed (includes the verifier log).
        source: aya::programs::ProgramError,
    },
    /// A map of the object is missing or of another type.
    #[error("map {name}: {source}")]
    Map {
        /// Map name.
        name: &'static str,
        /// Why.
        source: aya::maps::MapError,
    },
    /// A map the object must have is absent.
    #[error("the eBPF object has no map {0}")]
    MissingMap(&'static str),
}

/// Program names in the object.
pub mod prog {
    /// sched_process_exec.
    pub const EXEC: &str = "veto_exec";
    /// sched_process_fork.
    pub const FORK: &str = "veto_fork";
    /// sched_process_exit.
    pub const EXIT: &str = "veto_exit";
    /// The generic hook on syscalls/sys_enter_* (keyed by syscall number).
    pub const HOOK: &str = "veto_sys_enter";
    /// The generic hook on other tracepoints (keyed by event id).
    pub const TRACEPOINT: &str = "veto_tracepoint";
    /// The compat-entry hook on raw_syscalls/sys_enter.
    pub const COMPAT: &str = "veto_compat";
}

/// Whether the compat-entry program is needed and can work here.
pub fn covers_compat(c: &Compiled, config: &Config) -> bool {
    config.compat_status_off != 0 && c.hooks.iter().any(|h| h.compat_key.is_some())
}

/// The loaded object.
pub struct Enforcer {
    ebpf: Ebpf,
    /// How long loading took (object, maps and the verifier for every program).
    pub load_time: Duration,
}

fn map_err(name: &'static str) -> impl FnOnce(aya::maps::MapError) -> LoadError {
    move |source| LoadError::Map { name, source }
}

impl Enforcer {
    /// Loads and verifies every program and fills every table; attaches nothing.
    pub fn load(compiled: &Compiled, config: &Config) -> Result<Enforcer, LoadError> {
        let obj = object().ok_or(LoadError::NoObject)?;
        let started = Instant::now();
        let mut ebpf = aya::EbpfLoader::new().load(obj)?;
        // The second copy of the hook is verified only when a policy needs it.
        let mut names = vec![prog::EXEC, prog::FORK, prog::EXIT, prog::HOOK];
        if compiled.hooks.iter().any(|h| !h.syscall) {
            names.push(prog::TRACEPOINT);
        }
        if covers_compat(compiled, config) {
            names.push(prog::COMPAT);
        }
        for name in names {
            let p: &mut TracePoint = ebpf
                .program_mut(name)
                .ok_or(LoadError::Program {
                    what: "finding",
                    program: name.into(),
                    source: aya::programs::ProgramError::UnexpectedProgramType,
                })?
                .try_into()
                .map_err(|source| LoadError::Program {
                    what: "typing",
                    program: name.into(),
                    source,
                })?;
            let t = Instant::now();
            p.load().map_err(|source| match source {
                aya::programs::ProgramError::LoadError {
                    io_error,
                    verifier_log,
                } => {
                    let log = verifier_log.to_string();
                    let lines: Vec<&str> = log.lines().collect();
                    let tail = lines[lines.len().saturating_sub(12)..].join("\n");
                    LoadError::Verifier {
                        program: name.into(),
                        io_error,
                        tail,
                        log,
                    }
                }
                source => LoadError::Program {
                    what: "loading",
                    program: name.into(),
                    source,
                },
            })?;
            tracing::debug!(
                program = name,
                ms = t.elapsed().as_millis() as u64,
                "verified"
            );
            if std::env::var_os("VETO_LOAD_TIMES").is_some() {
                eprintln!("veto: {name} verified in {} ms", t.elapsed().as_millis());
            }
        }
        let load_time = started.elapsed();
        let mut e = Enforcer { ebpf, load_time };
        e.fill(compiled, config)?;
        Ok(e)
    }

    fn map(&mut self, name: &'static str) -> Result<&mut aya::maps::Map, LoadError> {
        self.ebpf.map_mut(name).ok_or(LoadError::MissingMap(name))
    }

    fn fill(&mut self, c: &Compiled, config: &Config) -> Result<(), LoadError> {
        let mut cfg: Array<&mut MapData, Config> =
            Array::try_from(self.map("VETO_CONFIG")?).map_err(map_err("VETO_CONFIG"))?;
        cfg.set(0, config, 0).map_err(map_err("VETO_CONFIG"))?;

        let mut hooks: HashMap<&mut MapData, u32, HookTable> =
            HashMap::try_from(self.map("VETO_HOOKS")?).map_err(map_err("VETO_HOOKS"))?;
        for h in &c.hooks {
            hooks
                .insert(h.key, h.table, 0)
                .map_err(map_err("VETO_HOOKS"))?;
            if let Some(k) = h.compat_key.filter(|_| config.compat_status_off != 0) {
                hooks.insert(k, h.table, 0).map_err(map_err("VETO_HOOKS"))?;
            }
        }

        let mut strs: HashMap<&mut MapData, StrSlot, u8> =
            HashMap::try_from(self.map("VETO_STR_SET")?).map_err(map_err("VETO_STR_SET"))?;
        for (id, v) in &c.sets.strs {
            strs.insert(str_key(*id, v), 1, 0)
                .map_err(map_err("VETO_STR_SET"))?;
        }

        let mut lpm: LpmTrie<&mut MapData, StrData, u8> =
            LpmTrie::try_from(self.map("VETO_STR_PREFIX")?).map_err(map_err("VETO_STR_PREFIX"))?;
        for (id, v) in &c.sets.prefixes {
            let (bits, data) = prefix_key(*id, v);
            lpm.insert(&Key::new(bits, data), 1, 0)
                .map_err(map_err("VETO_STR_PREFIX"))?;
        }

        let mut ints: HashMap<&mut MapData, IntKey, u8> =
            HashMap::try_from(self.map("VETO_INT_SET")?).map_err(map_err("VETO_INT_SET"))?;
        for k in &c.sets.ints {
            ints.insert(k, 1, 0).map_err(map_err("VETO_INT_SET"))?;
        }

        let mut pids: HashMap<&mut MapData, PidKey, u8> =
            HashMap::try_from(self.map("VETO_PID_SET")?).map_err(map_err("VETO_PID_SET"))?;
        for k in &c.sets.pids {
            pids.insert(k, 1, 0).map_err(map_err("VETO_PID_SET"))?;
        }
        Ok(())
    }

    fn attach(&mut self, name: &str, category: &str, event: &str) -> Result<(), LoadError> {
        let p: &mut TracePoint = self
            .ebpf
            .program_mut(name)
            .expect("loaded before")
            .try_into()
            .expect("typed before");
        p.attach(category, event)
            .map_err(|source| LoadError::Program {
                what: "attaching",
                program: format!("{name} to {category}/{event}"),
                source,
            })?;
        Ok(())
    }

    /// Attaches exec tracking (exec, fork, exit).
    pub fn attach_tracking(&mut self) -> Result<(), LoadError> {
        self.attach(prog::FORK, "sched", "sched_process_fork")?;
        self.attach(prog::EXEC, "sched", "sched_process_exec")?;
        self.attach(prog::EXIT, "sched", "sched_process_exit")
    }

    /// Attaches the generic hook to every compiled tracepoint.
    pub fn attach_hooks(&mut self, c: &Compiled, config: &Config) -> Result<(), LoadError> {
        for h in &c.hooks {
            let p = if h.syscall {
                prog::HOOK
            } else {
                prog::TRACEPOINT
            };
            self.attach(p, &h.category, &h.name)?;
        }
        if covers_compat(c, config) {
            self.attach(prog::COMPAT, "raw_syscalls", "sys_enter")?;
        }
        Ok(())
    }

    /// Inserts a process entry unless the kernel already made one (exec
    /// tracking is attached first, so its entries are newer than /proc's).
    pub fn add_process(&mut self, pid: u32, info: &ProcInfo) -> Result<bool, LoadError> {
        let mut procs: HashMap<&mut MapData, u32, ProcInfo> =
            HashMap::try_from(self.map("VETO_PROCS")?).map_err(map_err("VETO_PROCS"))?;
        const BPF_NOEXIST: u64 = 1;
        Ok(procs.insert(pid, info, BPF_NOEXIST).is_ok())
    }

    /// The pids the kernel side tracks now.
    pub fn tracked_pids(&mut self) -> Result<Vec<u32>, LoadError> {
        let procs: HashMap<&mut MapData, u32, ProcInfo> =
            HashMap::try_from(self.map("VETO_PROCS")?).map_err(map_err("VETO_PROCS"))?;
        Ok(procs.keys().filter_map(Result::ok).collect())
    }

    /// One process entry.
    pub fn process(&mut self, pid: u32) -> Option<ProcInfo> {
        let procs: HashMap<&mut MapData, u32, ProcInfo> =
            HashMap::try_from(self.map("VETO_PROCS").ok()?).ok()?;
        procs.get(&pid, 0).ok()
    }

    /// Adds cgroup ids to the confinement set (idempotent).
    pub fn allow_cgroups(&mut self, ids: &[u64]) -> Result<(), LoadError> {
        let mut set: HashMap<&mut MapData, u64, u8> =
            HashMap::try_from(self.map("VETO_CGROUPS")?).map_err(map_err("VETO_CGROUPS"))?;
        for id in ids {
            set.insert(id, 1, 0).map_err(map_err("VETO_CGROUPS"))?;
        }
        Ok(())
    }

    /// Takes the ring buffer (call once).
    pub fn events(&mut self) -> Result<RingBuf<MapData>, LoadError> {
        let m = self
            .ebpf
            .take_map("VETO_EVENTS")
            .ok_or(LoadError::MissingMap("VETO_EVENTS"))?;
        RingBuf::try_from(m).map_err(map_err("VETO_EVENTS"))
    }

    /// The counters summed over CPUs, indexed by `veto_common::stat`.
    pub fn stats(&mut self) -> [u64; stat::COUNT as usize] {
        let mut out = [0; stat::COUNT as usize];
        let Some(m) = self.ebpf.map_mut("VETO_STATS") else {
            return out;
        };
        let Ok(arr) = PerCpuArray::<&mut MapData, u64>::try_from(m) else {
            return out;
        };
        for (i, o) in out.iter_mut().enumerate() {
            if let Ok(v) = arr.get(&(i as u32), 0) {
                *o = v.iter().sum();
            }
        }
        out
    }

    /// Kernel ids of the loaded programs.
    pub fn program_ids(&self) -> Vec<u32> {
        self.ebpf
            .programs()
            .filter_map(|(_, p)| p.info().ok().map(|i| i.id()))
            .collect()
    }
}

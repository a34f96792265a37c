//! The simulator: applies trace events to the process table and decides calls.
//!
//! Deciding is split from applying so that the decision core
//! ([`Simulator::decide`]) can be measured and reused without touching state:
//! it reads the compiled policies and the process table and returns a
//! [`Verdict`]; [`Simulator::step`] then applies it (a killed process is gone).

use veto_policy::spec::Policy;

use crate::compile::{
    BinaryMatcher, CompiledHook, CompiledPolicy, CompiledSelector, Effect, LineageAlloc, PidMatcher,
};
use crate::error::{TraceError, TraceErrorKind};
use crate::hash::FastMap;
use crate::process::ProcessTable;
use crate::report::{CallReport, Decision, Outcome};
use crate::trace::{self, ArgValue, Call, Event};

/// Which hook of which policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HookRef {
    policy: u32,
    hook: u32,
}

/// One policy's decision at one hook, by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched {
    /// Index of the policy in load order.
    pub policy: u32,
    /// Index of the hook in the policy.
    pub hook: u32,
    /// The first matching selector; `None` for a hook without selectors.
    pub selector: Option<u8>,
}

/// What all policies decided for one call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Decisions in load order (policy, then hook).
    pub matched: Vec<Matched>,
    /// The caller is killed.
    pub kills: bool,
    /// The first denying policy's value.
    pub errno: Option<i32>,
    /// A signal other than SIGKILL is sent.
    pub signals: bool,
    /// An event is posted.
    pub posted: bool,
}

impl Verdict {
    /// The strongest effect.
    pub fn outcome(&self) -> Outcome {
        if self.kills {
            Outcome::Sigkill
        } else if self.errno.is_some() {
            Outcome::Deny
        } else if self.signals {
            Outcome::Signal
        } else {
            Outcome::Allow
        }
    }
}

/// The effect of a hook without selectors.
const NO_SELECTORS: Effect = Effect {
    posts: true,
    kills: false,
    deny: None,
    signals: false,
};

/// Policies loaded, and the processes the trace has introduced so far.
#[derive(Debug)]
pub struct Simulator {
    policies: Vec<CompiledPolicy>,
    by_hook: FastMap<String, Vec<HookRef>>,
    lineage: LineageAlloc,
    procs: ProcessTable,
    line: usize,
}

impl Simulator {
    /// Loads `policies` in order (the order decides `errno` ties).
    pub fn new(policies: &[Policy]) -> Self {
        let mut lineage = LineageAlloc::default();
        let policies: Vec<CompiledPolicy> = policies
            .iter()
            .map(|p| CompiledPolicy::compile(p, &mut lineage))
            .collect();
        let mut by_hook: FastMap<String, Vec<HookRef>> = FastMap::default();
        for (pi, p) in policies.iter().enumerate() {
            for (hi, h) in p.hooks.iter().enumerate() {
                by_hook.entry(h.name.clone()).or_default().push(HookRef {
                    policy: pi as u32,
                    hook: hi as u32,
                });
            }
        }
        Simulator {
            policies,
            by_hook,
            lineage,
            procs: ProcessTable::default(),
            line: 0,
        }
    }

    /// The compiled policies, in load order.
    pub fn policies(&self) -> &[CompiledPolicy] {
        &self.policies
    }

    /// The process table.
    pub fn processes(&self) -> &ProcessTable {
        &self.procs
    }

    /// Runs every line of `text`; one report per call line.
    pub fn run_text(&mut self, text: &str) -> Result<Vec<CallReport>, TraceError> {
        let mut out = Vec::new();
        for line in text.lines() {
            if let Some(r) = self.step_line(line)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Parses and applies the next line (blank lines count but do nothing).
    pub fn step_line(&mut self, text: &str) -> Result<Option<CallReport>, TraceError> {
        Ok(self.step_line_verdict(text)?.map(|(r, _)| r))
    }

    /// [`Simulator::step_line`], also returning the decisions by position
    /// (which hook of which policy), for tests that must tell hooks apart.
    pub fn step_line_verdict(
        &mut self,
        text: &str,
    ) -> Result<Option<(CallReport, Verdict)>, TraceError> {
        self.line += 1;
        let line = self.line;
        if text.trim().is_empty() {
            return Ok(None);
        }
        let event = trace::parse_line(text).map_err(|k| k.at(line))?;
        self.apply(line, &event).map_err(|k| k.at(line))
    }

    /// Applies `event` as the next line, without parsing.
    pub fn step(&mut self, event: &Event) -> Result<Option<CallReport>, TraceError> {
        self.line += 1;
        let line = self.line;
        let r = self.apply(line, event).map_err(|k| k.at(line))?;
        Ok(r.map(|(r, _)| r))
    }

    fn apply(
        &mut self,
        line: usize,
        event: &Event,
    ) -> Result<Option<(CallReport, Verdict)>, TraceErrorKind> {
        match event {
            Event::Exec {
                pid,
                ppid,
                exe,
                nspid,
                ..
            } => self
                .procs
                .exec(*pid, *ppid, exe.as_deref(), *nspid, &self.lineage)?,
            Event::Proc {
                pid,
                ppid,
                exe,
                nspid,
            } => self
                .procs
                .proc(*pid, *ppid, exe.as_deref(), *nspid, &self.lineage)?,
            Event::Fork { pid, ppid, nspid } => self.procs.fork(*pid, *ppid, *nspid)?,
            Event::Exit { pid } => self.procs.exit(*pid, line)?,
            Event::Call(call) => {
                let verdict = self.decide(call)?;
                if verdict.kills {
                    let r = self.procs.live(call.pid)?;
                    self.procs.kill(r, line);
                }
                let report = self.report(line, call, &verdict);
                return Ok(Some((report, verdict)));
            }
        }
        Ok(None)
    }

    /// Decides `call` without changing any state.
    pub fn decide(&self, call: &Call) -> Result<Verdict, TraceErrorKind> {
        let mut v = Verdict::default();
        self.decide_into(call, &mut v)?;
        Ok(v)
    }

    /// [`Simulator::decide`] into a verdict whose buffer is reused, so that
    /// deciding many calls allocates nothing.
    pub fn decide_into(&self, call: &Call, v: &mut Verdict) -> Result<(), TraceErrorKind> {
        v.matched.clear();
        v.kills = false;
        v.errno = None;
        v.signals = false;
        v.posted = false;
        let r = self.procs.live(call.pid)?;
        let Some(refs) = self.by_hook.get(call.hook.as_str()) else {
            return Ok(());
        };
        for hr in refs {
            let hook = &self.policies[hr.policy as usize].hooks[hr.hook as usize];
            self.check_args(hr.policy, hook, call)?;
        }
        let ctx = Ctx {
            procs: &self.procs,
            record: r,
            call,
        };
        for hr in refs {
            let hook = &self.policies[hr.policy as usize].hooks[hr.hook as usize];
            let (selector, effect) = if hook.selectors.is_empty() {
                (None, NO_SELECTORS)
            } else {
                match first_match(hook, &ctx) {
                    Some(i) => (Some(i as u8), hook.selectors[i].effect),
                    None => continue,
                }
            };
            v.matched.push(Matched {
                policy: hr.policy,
                hook: hr.hook,
                selector,
            });
            v.kills |= effect.kills;
            v.signals |= effect.signals;
            v.posted |= effect.posts;
            if v.errno.is_none() {
                v.errno = effect.deny;
            }
        }
        Ok(())
    }

    /// Every argument a hook reads must be there, with the declared type.
    fn check_args(
        &self,
        policy: u32,
        hook: &CompiledHook,
        call: &Call,
    ) -> Result<(), TraceErrorKind> {
        for &(index, ty) in &hook.reads {
            let policy = || self.policies[policy as usize].name.clone();
            let Some(value) = call.arg(index) else {
                return Err(TraceErrorKind::MissingArg {
                    hook: call.hook.clone(),
                    policy: policy(),
                    index,
                    ty: ty.name(),
                });
            };
            let fits = match (value, ty.int_range()) {
                (ArgValue::Int(i), Some((lo, hi))) => (lo..=hi).contains(i),
                (ArgValue::Str(_), None) => true,
                _ => false,
            };
            if !fits {
                return Err(TraceErrorKind::ArgType {
                    hook: call.hook.clone(),
                    policy: policy(),
                    index,
                    ty: ty.name(),
                    given: value.describe(),
                });
            }
        }
        Ok(())
    }

    fn report(&self, line: usize, call: &Call, v: &Verdict) -> CallReport {
        CallReport {
            line,
            pid: call.pid,
            hook: call.hook.clone(),
            decisions: v
                .matched
                .iter()
                .map(|m| {
                    let p = &self.policies[m.policy as usize];
                    let actions = match m.selector {
                        None => vec!["Post"],
                        Some(i) => {
                            let s = &p.hooks[m.hook as usize].selectors[i as usize];
                            if s.actions.is_empty() {
                                vec!["Post"]
                            } else {
                                s.actions.iter().map(|a| a.name()).collect()
                            }
                        }
                    };
                    Decision {
                        policy: p.name.clone(),
                        selector: m.selector.map(usize::from),
                        actions,
                    }
                })
                .collect(),
            outcome: v.outcome(),
            errno: v.errno,
            posted: v.posted,
        }
    }
}

/// What a selector is evaluated against.
struct Ctx<'a> {
    procs: &'a ProcessTable,
    record: usize,
    call: &'a Call,
}

/// The index of the first selector of `hook` that matches (rule 4).
fn first_match(hook: &CompiledHook, ctx: &Ctx<'_>) -> Option<usize> {
    hook.selectors.iter().position(|s| selector_matches(s, ctx))
}

/// All filters of one selector hold (rule 5).
fn selector_matches(sel: &CompiledSelector, ctx: &Ctx<'_>) -> bool {
    sel.binaries.as_ref().is_none_or(|b| binaries_match(b, ctx))
        && sel.args.iter().all(|a| {
            let held = match ctx.call.arg(a.index) {
                Some(ArgValue::Str(s)) => a.test.any_str(s.as_bytes()),
                Some(ArgValue::Int(i)) => a.test.any_int(*i),
                // check_args ran first: an argument read is always present.
                None => return false,
            };
            held != a.negated
        })
        && sel.pids.iter().all(|p| pids_match(p, ctx))
}

/// Rules 7–11.
fn binaries_match(b: &BinaryMatcher, ctx: &Ctx<'_>) -> bool {
    let p = ctx.procs.get(ctx.record);
    let Some(exe) = p.exe.as_deref() else {
        return false; // rule 8: unresolved matches no entry
    };
    let held = match b.lineage {
        Some(mark) => p.marks.get(mark),
        None => b.test.any(exe),
    };
    held != b.op.is_negated()
}

/// Rules 15–17.
fn pids_match(m: &PidMatcher, ctx: &Ctx<'_>) -> bool {
    let me = ctx.procs.get(ctx.record);
    let own = if m.namespace {
        ctx.call.nspid.unwrap_or(me.nspid)
    } else {
        me.pid
    };
    let found = if !m.follow_forks {
        m.pids.contains(&own)
    } else if m.namespace {
        m.pids.contains(&own)
            || ctx
                .procs
                .lineage(ctx.record)
                .skip(1)
                .any(|a| m.pids.contains(&a.nspid))
    } else {
        let mut last_ppid = me.ppid;
        ctx.procs.lineage(ctx.record).any(|a| {
            last_ppid = a.ppid;
            m.pids.contains(&a.pid)
        }) || m.pids.contains(&last_ppid)
    };
    found != m.negated
}

#[cfg(test)]
mod tests;

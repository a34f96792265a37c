//! The reference simulator of TracingPolicy semantics.
//!
//! It reads the typed spec of the `policy` crate (never the compiled kernel
//! tables, so a compiler bug shows up as a disagreement) and a trace of process
//! and call events (see [`trace`] and `docs/trace.schema.json`), and says for
//! every hook invocation what each loaded policy decides and what the combined
//! outcome is. It is veto's executable specification: the kernel enforcer is
//! held to it by differential tests.
//!
//! # The rules, one by one
//!
//! ## Policies and hooks
//!
//! 1. **Policies are independent.** Every loaded policy with a hook on the
//!    called hook evaluates that hook and acts; no policy can cancel another.
//!    Two hooks of one policy on the same call are independent too.
//! 2. **A call reaches a hook by name.** The trace's `hook` equals a kprobe's
//!    `call`, an lsmhook's `hook`, or `subsystem/event` for a tracepoint
//!    ([`veto_policy::spec::HookPoint::trace_name`]). No name rewriting
//!    (`__x64_sys_…`) is done. A call no policy hooks gives no decisions.
//! 3. **A hook without selectors matches every call** and posts; its decision
//!    is reported with `selector: null` and actions `["Post"]`.
//!
//! ## Selectors
//!
//! 4. **Selectors are OR-ed, in order, and the first that matches wins.** Its
//!    index (0-based) and its actions are the policy's decision for this hook;
//!    later selectors are not consulted. No selector matches: no decision.
//! 5. **Filters inside a selector are AND-ed**: `matchBinaries`, every
//!    `matchArgs` entry and every `matchPIDs` entry must hold. A selector with
//!    no filter matches every call.
//! 6. **Positive operators OR their values** (`In`, `Equal`, `Prefix`,
//!    `Postfix`, `Mask`, `GT`, `LT`): one value that holds is enough.
//!    **Negated operators AND their inequalities** (`NotIn`, `NotEqual`,
//!    `NotPrefix`, `NotPostfix`): no value may hold. The order of values never
//!    matters.
//!
//! ## matchBinaries
//!
//! 7. **The binary is the resolved executable** of the calling process: the
//!    trace's `exe` (absolute, symlinks resolved), fixed at exec time, never
//!    the string passed to execve.
//! 8. **An unresolved binary (`"exe": null`) matches no matchBinaries entry**,
//!    whatever the operator: not `In`, not `NotIn`, not the prefix/postfix
//!    forms. A selector with matchBinaries never matches such a process.
//! 9. **A forked child keeps its parent's binary until it execs.** A `proc`
//!    line gives a process that existed before veto started, with its binary.
//! 10. `In` / `NotIn`: the path equals / equals none of the values.
//!     `Prefix` / `NotPrefix`, `Postfix` / `NotPostfix`: the path starts / ends
//!     with one / none of the values (byte-wise).
//! 11. **`followChildren`** (In and NotIn only; ignored elsewhere) gives the
//!     entry a sticky mark per process, the *lineage mark*:
//!     - at `exec`, a process is marked if its new binary is one of the values,
//!       or it was already marked, or its parent (as it is at that moment) is
//!       marked;
//!     - at `fork`, the child copies the parent's mark;
//!     - at `proc`, the process is marked if its binary is one of the values
//!       or its parent (introduced earlier in the trace) is marked.
//!
//!     With `followChildren`, `In` holds when the calling process is marked,
//!     `NotIn` when it is not; rule 8 still comes first (an unresolved process
//!     matches neither). So a process matches `In` if it, or an ancestor,
//!     exec'd one of the binaries (or ran it when veto started) before the
//!     process's own latest fork or exec. This is Tetragon's per-task
//!     bitset, inherited at clone and OR-ed with the parent's at exec while
//!     that parent is alive (an exited parent's entry is gone from the
//!     kernel's process map, so it passes nothing on).
//!
//! ## matchArgs
//!
//! 12. The argument is the trace's value at the entry's `index` (the policy's
//!     index space). A call that lacks an argument some hook on it reads, or
//!     gives it with the wrong type (a string where an integer is declared,
//!     an integer outside the declared type's range), is a bad trace line.
//! 13. Strings (`string`, `file`, `path`, `linux_binprm`, `sockaddr` as text)
//!     compare byte-wise and whole: `Equal`, `NotEqual`, `Prefix`,
//!     `NotPrefix`, `Postfix`, `NotPostfix`.
//! 14. Integers: `Equal` / `NotEqual` on the value; `GT` holds if the
//!     argument is greater than one of the values (so than the smallest);
//!     `LT` if it is less than one of them (so than the largest); `Mask` if
//!     `arg & value != 0` for one of the values (two's complement). (The
//!     front end takes exactly one value for `GT` and `LT`; the OR is
//!     Tetragon's reading, kept for specs built by hand.)
//!
//! ## matchPIDs
//!
//! 15. The pid compared is the process id (tgid), or with `isNamespacePID`
//!     the pid in the task's own pid namespace: the call's `nspid`, else the
//!     process's, else the pid itself (the initial namespace).
//! 16. Without `followForks`: `In` holds when the pid is one of the values,
//!     `NotIn` when it is none of them.
//! 17. With `followForks` the process is *found* when its pid, or the pid of
//!     any ancestor known to the trace, or the parent pid recorded for the
//!     oldest known ancestor, is one of the values (with `isNamespacePID`:
//!     the namespace pids of the process and its known ancestors). `In` holds
//!     when found, `NotIn` when not. Ancestry follows the parent recorded at
//!     fork/exec/proc time, and survives the parent's exit. (Tetragon walks at
//!     most nine levels; generated cases stay shallower than that.)
//!
//! ## Actions and the outcome
//!
//! 18. **Posting**: a matching selector posts an event unless its actions
//!     include `NoPost`; no actions means the default, `Post`; a `Sigkill`-only
//!     selector posts. `posted` is true if any policy posted for the call.
//! 19. `Sigkill` kills the calling process. `Signal` with `argSig: 9` counts
//!     as `Sigkill`; any other signal gives outcome `signal` and the process
//!     is taken to survive (its handlers are outside the model).
//! 20. `Override` makes the call fail: outcome `deny`, returning `argError`
//!     as written (`-1` for `argError: -1`).
//! 21. `NotifyEnforcer` decides at this hook and the policy's enforcer
//!     enforces it at its call; the simulator models the enforcer's verdict on
//!     the same call: `argError` → deny with that value, `argSig` → a signal
//!     (9 → sigkill). Neither given: no effect. (The window between the
//!     notifying hook and the enforcer's call, where a side effect can land,
//!     is outside the model.)
//! 22. **The outcome is the strongest effect of all policies**: `sigkill`,
//!     then `deny`, then `signal`, then `allow`. `errno` is the value of the
//!     first denying action of the first denying policy in load order (hooks in
//!     source order), or null when no policy denies — it is reported even when
//!     the process is also killed.
//! 23. **A killed process is gone.** After a `sigkill` outcome, any later line
//!     about that pid (as `pid` or as a fork's `ppid`) is a bad trace line.
//!     Its children live on.
//!
//! ## The trace
//!
//! 24. Lines are numbered from 1; blank lines are skipped but counted. A bad
//!     line (not JSON, unknown kind or field, wrong type, a pid never
//!     introduced, exited or killed, a pid introduced twice) is an error naming
//!     the line and the reason; nothing after it is simulated.
//!
//! Action names are the policy's (`Sigkill`); veto's events name them the way
//! Tetragon does (`KPROBE_ACTION_SIGKILL`), one to one
//! ([`veto_policy::spec::ActionKind::event_name`]).

//!
//! # Modules
//!
//! - [`trace`]: the trace format, parsed strictly; [`error`]: why a line is refused.
//! - [`compile`]: spec → matchers with precompiled value sets, once per policy.
//! - [`process`]: the process table (binaries, ancestry, lineage marks).
//! - [`engine`]: the [`Simulator`], applying events and deciding calls.
//! - [`report`]: the per-call output, as JSON lines or a table.
//! - [`oracle`]: the seam for differential tests against other implementations.
//! - [`build`], [`yaml`] and `generate` (feature `gen`): spec values for tests,
//!   TracingPolicy YAML of a spec, and proptest generators.

#![deny(missing_docs)]

pub mod build;
pub mod compile;
pub mod engine;
pub mod error;
#[cfg(feature = "gen")]
pub mod generate;
mod hash;
pub mod oracle;
pub mod process;
pub mod report;
pub mod trace;
pub mod yaml;

pub use engine::Simulator;
pub use error::{TraceError, TraceErrorKind};
pub use report::{CallReport, Decision, Outcome};
pub use trace::{ArgValue, Call, Event};

/// Runs `policies` over the whole trace `text` (JSON lines) and returns one
/// report per call line, or the first bad line.
pub fn simulate(
    policies: &[veto_policy::spec::Policy],
    text: &str,
) -> Result<Vec<CallReport>, TraceError> {
    let mut sim = Simulator::new(policies);
    sim.run_text(text)
}

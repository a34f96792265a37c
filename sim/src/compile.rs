//! Spec → matchers, once per policy.
//!
//! Every value list is turned into a structure whose lookup cost does not grow
//! with the list: hash sets for equality, per-length hash sets for prefixes and
//! postfixes (at most `limits::MAX_STRING_LEN` distinct lengths), and a
//! single bound for `GT` / `LT` / `Mask`. The semantics stay those of the
//! spec, value by value; only the search is faster.

use veto_policy::spec::{self, ActionKind, ArgOp, ArgType, ArgValues, BinaryOp, PidOp, Policy};

use crate::hash::{FastSet, set_with_capacity};

/// A policy ready for evaluation.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    /// `metadata.name`.
    pub name: String,
    /// Hooks in source order.
    pub hooks: Vec<CompiledHook>,
}

/// One hook.
#[derive(Debug, Clone)]
pub struct CompiledHook {
    /// The trace name of the hook.
    pub name: String,
    /// Selectors in order.
    pub selectors: Vec<CompiledSelector>,
    /// Every argument some selector reads, with its declared type, each once.
    pub reads: Vec<(u32, ArgType)>,
}

/// One selector.
#[derive(Debug, Clone)]
pub struct CompiledSelector {
    /// `matchBinaries`.
    pub binaries: Option<BinaryMatcher>,
    /// `matchArgs`.
    pub args: Vec<ArgMatcher>,
    /// `matchPIDs`.
    pub pids: Vec<PidMatcher>,
    /// The actions as written (empty: the default, Post).
    pub actions: Vec<ActionKind>,
    /// What the actions do, folded once.
    pub effect: Effect,
}

/// The combined effect of one selector's actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Effect {
    /// An event is posted (no NoPost among the actions).
    pub posts: bool,
    /// The caller is killed (Sigkill, Signal 9, NotifyEnforcer argSig 9).
    pub kills: bool,
    /// The call fails with this value (first Override / NotifyEnforcer argError).
    pub deny: Option<i32>,
    /// A non-fatal-to-the-model signal is sent.
    pub signals: bool,
}

impl Effect {
    /// Folds the actions of one selector, in order.
    pub fn of(actions: &[ActionKind]) -> Self {
        let mut e = Effect {
            posts: true,
            ..Effect::default()
        };
        let signal = |e: &mut Effect, sig: i32| {
            if sig == 9 {
                e.kills = true;
            } else {
                e.signals = true;
            }
        };
        for a in actions {
            match *a {
                ActionKind::Post => {}
                ActionKind::NoPost => e.posts = false,
                ActionKind::Sigkill => e.kills = true,
                ActionKind::Signal { sig } => signal(&mut e, sig),
                ActionKind::Override { error } => {
                    e.deny.get_or_insert(error);
                }
                ActionKind::NotifyEnforcer { error, sig } => {
                    if let Some(error) = error {
                        e.deny.get_or_insert(error);
                    }
                    if let Some(sig) = sig {
                        signal(&mut e, sig);
                    }
                }
            }
        }
        e
    }
}

/// A set of strings searched by prefix or postfix: one hash set per distinct
/// value length, so a lookup costs at most one probe per length.
#[derive(Debug, Clone)]
pub struct AffixSet {
    /// Distinct value lengths, ascending.
    lens: Vec<usize>,
    set: FastSet<Box<[u8]>>,
}

impl AffixSet {
    fn new<'a>(values: impl Iterator<Item = &'a str>) -> Self {
        let mut set = set_with_capacity(0);
        let mut lens = Vec::new();
        for v in values {
            lens.push(v.len());
            set.insert(Box::from(v.as_bytes()));
        }
        lens.sort_unstable();
        lens.dedup();
        AffixSet { lens, set }
    }

    /// True if `s` starts with one of the values.
    pub fn any_prefix(&self, s: &[u8]) -> bool {
        self.lens
            .iter()
            .take_while(|&&l| l <= s.len())
            .any(|&l| self.set.contains(&s[..l]))
    }

    /// True if `s` ends with one of the values.
    pub fn any_postfix(&self, s: &[u8]) -> bool {
        self.lens
            .iter()
            .take_while(|&&l| l <= s.len())
            .any(|&l| self.set.contains(&s[s.len() - l..]))
    }
}

/// A `matchBinaries` entry.
#[derive(Debug, Clone)]
pub struct BinaryMatcher {
    /// The operator.
    pub op: BinaryOp,
    /// The test.
    pub test: BinaryTest,
    /// With followChildren (In / NotIn): the index of this entry's lineage mark.
    pub lineage: Option<usize>,
}

/// How a `matchBinaries` entry searches its values.
#[derive(Debug, Clone)]
pub enum BinaryTest {
    /// In / NotIn.
    Exact(FastSet<Box<str>>),
    /// Prefix / NotPrefix.
    Prefix(AffixSet),
    /// Postfix / NotPostfix.
    Postfix(AffixSet),
}

impl BinaryTest {
    /// True if one of the values holds for `exe` (before negation).
    pub fn any(&self, exe: &str) -> bool {
        match self {
            BinaryTest::Exact(set) => set.contains(exe),
            BinaryTest::Prefix(a) => a.any_prefix(exe.as_bytes()),
            BinaryTest::Postfix(a) => a.any_postfix(exe.as_bytes()),
        }
    }
}

/// A `matchArgs` entry.
#[derive(Debug, Clone)]
pub struct ArgMatcher {
    /// The argument index.
    pub index: u32,
    /// Negated operator: the entry holds when no value does.
    pub negated: bool,
    /// The test.
    pub test: ArgTest,
}

/// How a `matchArgs` entry searches its values (before negation).
#[derive(Debug, Clone)]
pub enum ArgTest {
    /// String Equal / NotEqual.
    StrEq(FastSet<Box<[u8]>>),
    /// String Prefix / NotPrefix.
    StrPrefix(AffixSet),
    /// String Postfix / NotPostfix.
    StrPostfix(AffixSet),
    /// Integer Equal / NotEqual.
    IntEq(FastSet<i128>),
    /// `GT`: greater than the smallest value.
    Gt(i128),
    /// `LT`: less than the largest value.
    Lt(i128),
    /// `Mask`: shares a bit with the OR of the values.
    Mask(i128),
    /// The operator does not apply to the value type (the front end refuses
    /// these; kept so a hand-built spec cannot make the simulator panic).
    Never,
}

impl ArgTest {
    /// True if one of the values holds for a string argument.
    pub fn any_str(&self, s: &[u8]) -> bool {
        match self {
            ArgTest::StrEq(set) => set.contains(s),
            ArgTest::StrPrefix(a) => a.any_prefix(s),
            ArgTest::StrPostfix(a) => a.any_postfix(s),
            _ => false,
        }
    }

    /// True if one of the values holds for an integer argument.
    pub fn any_int(&self, v: i128) -> bool {
        match *self {
            ArgTest::IntEq(ref set) => set.contains(&v),
            ArgTest::Gt(min) => v > min,
            ArgTest::Lt(max) => v < max,
            ArgTest::Mask(bits) => v & bits != 0,
            _ => false,
        }
    }
}

/// A `matchPIDs` entry.
#[derive(Debug, Clone)]
pub struct PidMatcher {
    /// NotIn.
    pub negated: bool,
    /// The pids.
    pub pids: FastSet<u32>,
    /// followForks.
    pub follow_forks: bool,
    /// isNamespacePID.
    pub namespace: bool,
}

/// Numbers the lineage marks (followChildren entries) across all policies.
#[derive(Debug, Default)]
pub struct LineageAlloc {
    /// The value sets of every mark, by mark index.
    pub marks: Vec<FastSet<Box<str>>>,
}

impl CompiledPolicy {
    /// Compiles `policy`; followChildren entries get marks from `lineage`.
    pub fn compile(policy: &Policy, lineage: &mut LineageAlloc) -> Self {
        CompiledPolicy {
            name: policy.name.value.clone(),
            hooks: policy
                .hooks
                .iter()
                .map(|h| compile_hook(h, lineage))
                .collect(),
        }
    }
}

fn compile_hook(hook: &spec::Hook, lineage: &mut LineageAlloc) -> CompiledHook {
    let mut reads: Vec<(u32, ArgType)> = Vec::new();
    for sel in &hook.selectors {
        for m in &sel.match_args {
            // A matchArgs index is always declared in a valid spec; an
            // undeclared one reads as a string, the widest interpretation.
            let ty = hook.arg(m.index).map_or(ArgType::String, |a| a.ty);
            if !reads.iter().any(|(i, _)| *i == m.index) {
                reads.push((m.index, ty));
            }
        }
    }
    CompiledHook {
        name: hook.point.trace_name(),
        selectors: hook
            .selectors
            .iter()
            .map(|s| compile_selector(s, lineage))
            .collect(),
        reads,
    }
}

fn compile_selector(sel: &spec::Selector, lineage: &mut LineageAlloc) -> CompiledSelector {
    let actions: Vec<ActionKind> = sel.actions.iter().map(|a| a.kind).collect();
    CompiledSelector {
        binaries: sel
            .match_binaries
            .as_ref()
            .map(|b| compile_binaries(b, lineage)),
        args: sel.match_args.iter().map(compile_arg).collect(),
        pids: sel
            .match_pids
            .iter()
            .map(|p| PidMatcher {
                negated: p.op == PidOp::NotIn,
                pids: p.values.iter().map(|v| v.value).collect(),
                follow_forks: p.follow_forks,
                namespace: p.is_namespace_pid,
            })
            .collect(),
        effect: Effect::of(&actions),
        actions,
    }
}

fn compile_binaries(b: &spec::MatchBinaries, lineage: &mut LineageAlloc) -> BinaryMatcher {
    let values = b.values.iter().map(|v| v.value.as_str());
    let test = match b.op {
        BinaryOp::In | BinaryOp::NotIn => BinaryTest::Exact(values.map(Box::<str>::from).collect()),
        BinaryOp::Prefix | BinaryOp::NotPrefix => BinaryTest::Prefix(AffixSet::new(values)),
        BinaryOp::Postfix | BinaryOp::NotPostfix => BinaryTest::Postfix(AffixSet::new(values)),
    };
    let lineage = match (&test, b.follow_children) {
        (BinaryTest::Exact(set), true) => {
            lineage.marks.push(set.clone());
            Some(lineage.marks.len() - 1)
        }
        _ => None,
    };
    BinaryMatcher {
        op: b.op,
        test,
        lineage,
    }
}

fn compile_arg(m: &spec::MatchArg) -> ArgMatcher {
    let test = match (&m.values, m.op) {
        (ArgValues::Strings(v), ArgOp::Equal | ArgOp::NotEqual) => {
            ArgTest::StrEq(v.iter().map(|s| Box::from(s.value.as_bytes())).collect())
        }
        (ArgValues::Strings(v), ArgOp::Prefix | ArgOp::NotPrefix) => {
            ArgTest::StrPrefix(AffixSet::new(v.iter().map(|s| s.value.as_str())))
        }
        (ArgValues::Strings(v), ArgOp::Postfix | ArgOp::NotPostfix) => {
            ArgTest::StrPostfix(AffixSet::new(v.iter().map(|s| s.value.as_str())))
        }
        (ArgValues::Ints(v), ArgOp::Equal | ArgOp::NotEqual) => {
            ArgTest::IntEq(v.iter().map(|i| i.value).collect())
        }
        (ArgValues::Ints(v), ArgOp::GreaterThan) => v
            .iter()
            .map(|i| i.value)
            .min()
            .map_or(ArgTest::Never, ArgTest::Gt),
        (ArgValues::Ints(v), ArgOp::LessThan) => v
            .iter()
            .map(|i| i.value)
            .max()
            .map_or(ArgTest::Never, ArgTest::Lt),
        (ArgValues::Ints(v), ArgOp::Mask) => {
            ArgTest::Mask(v.iter().fold(0, |acc, i| acc | i.value))
        }
        _ => ArgTest::Never,
    };
    ArgMatcher {
        index: m.index,
        negated: m.op.is_negated(),
        test,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affix_set_finds_prefixes_of_every_length() {
        let a = AffixSet::new(["/usr/", "/usr/bin/j", "/opt"].into_iter());
        assert!(a.any_prefix(b"/usr/bin/java"));
        assert!(a.any_prefix(b"/opt"));
        assert!(!a.any_prefix(b"/op"));
        assert!(!a.any_prefix(b"/bin/sh"));
    }

    #[test]
    fn affix_set_finds_postfixes() {
        let a = AffixSet::new(["/sh", "java"].into_iter());
        assert!(a.any_postfix(b"/usr/bin/dash/sh"));
        assert!(a.any_postfix(b"java"));
        assert!(!a.any_postfix(b"/bin/bash"));
    }

    #[test]
    fn effect_folds_signal_nine_into_kill() {
        let e = Effect::of(&[ActionKind::Signal { sig: 9 }, ActionKind::NoPost]);
        assert!(e.kills && !e.signals && !e.posts);
    }

    #[test]
    fn effect_keeps_first_deny_value() {
        let e = Effect::of(&[
            ActionKind::Override { error: -1 },
            ActionKind::NotifyEnforcer {
                error: Some(-13),
                sig: Some(10),
            },
        ]);
        assert_eq!(e.deny, Some(-1));
        assert!(e.signals && e.posts && !e.kills);
    }
}

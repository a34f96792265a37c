//! Selector evaluation, written once: the kernel program runs it with map
//! lookups behind [`Lookups`], the host tests run it with in-memory sets.
//!
//! Every filter costs a fixed number of lookups whatever the number of values
//! (sets are hash maps or LPM tries), so a 10,000-value matchBinaries costs what
//! a one-value list does.

use crate::abi::{
    ActionSpec, ArgFilter, BinFilter, HookPolicy, MAX_ACTIONS, MAX_MATCH_ARGS, MAX_MATCH_PIDS,
    MAX_SELECTORS, NO_FOLLOW, POSTFIX_LEN, PidFilter, STR_LEN, SelectorTable, action, op,
};

/// Which string a lookup is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrRef {
    /// Declared argument slot.
    Arg(u32),
    /// The caller's resolved executable path.
    Binary,
}

/// Set membership, answered by maps in the kernel and by sets in tests.
pub trait Lookups {
    /// The string equals a value of `set`.
    fn str_in(&mut self, s: StrRef, set: u32) -> bool;
    /// The string starts with a value of `set`.
    fn str_prefix(&mut self, s: StrRef, set: u32) -> bool;
    /// The string ends with a value of `set`.
    fn str_postfix(&mut self, s: StrRef, set: u32) -> bool;
    /// The integer is a value of `set`.
    fn int_in(&mut self, set: u32, value: u64) -> bool;
    /// The pid is a value of `set`.
    fn pid_in(&mut self, set: u32, pid: u32) -> bool;
}

/// What a selector is evaluated against, besides the lookups.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Subject {
    /// Caller's thread-group id.
    pub pid: u32,
    /// Non-zero when the caller's executable path was resolved (an integer,
    /// not a bool, so that it can live in map memory as any bit pattern).
    pub bin_resolved: u32,
    /// followChildren marks of the caller.
    pub bin_marks: u32,
    /// followForks marks of the caller.
    pub pid_marks: u32,
    /// Bit i set: argument slot i was read.
    pub args_read: u32,
    /// Bit i set: argument slot i is signed.
    pub args_signed: u32,
    /// Bit i set: argument slot i is a string.
    pub args_str: u32,
    /// Padding.
    pub pad: u32,
    /// Integer arguments by slot.
    pub ints: [u64; crate::abi::MAX_ARGS],
}

fn mark(marks: u32, bit: u32) -> bool {
    bit != NO_FOLLOW && bit < 32 && marks & (1 << bit) != 0
}

/// matchBinaries: an unresolved path matches no entry, positive or negated.
#[inline(always)]
pub fn bin_matches<L: Lookups>(f: &BinFilter, s: &Subject, lk: &mut L) -> bool {
    if f.op == op::NONE {
        return true;
    }
    if s.bin_resolved == 0 {
        return false;
    }
    let inherited = mark(s.bin_marks, f.follow_bit);
    match f.op {
        op::IN => inherited || lk.str_in(StrRef::Binary, f.set_id),
        op::NOT_IN => !inherited && !lk.str_in(StrRef::Binary, f.set_id),
        op::PREFIX => lk.str_prefix(StrRef::Binary, f.set_id),
        op::NOT_PREFIX => !lk.str_prefix(StrRef::Binary, f.set_id),
        op::POSTFIX => lk.str_postfix(StrRef::Binary, f.set_id),
        op::NOT_POSTFIX => !lk.str_postfix(StrRef::Binary, f.set_id),
        _ => false,
    }
}

/// matchPIDs entry.
#[inline(always)]
pub fn pid_matches<L: Lookups>(f: &PidFilter, s: &Subject, lk: &mut L) -> bool {
    let inherited = mark(s.pid_marks, f.follow_bit);
    match f.op {
        op::NONE => true,
        op::IN => inherited || lk.pid_in(f.set_id, s.pid),
        op::NOT_IN => !inherited && !lk.pid_in(f.set_id, s.pid),
        _ => false,
    }
}

/// matchArgs entry.
///
/// A string argument that could not be read (its page not faulted in yet,
/// which a caller can arrange on purpose) matches every filter, positive or
/// negated: veto fails closed, so the rest of the selector (binary, pids,
/// other arguments) decides and hiding the argument cannot evade the policy.
/// The event reports the argument as unreadable and the run counts it.
#[inline(always)]
pub fn arg_matches<L: Lookups>(f: &ArgFilter, s: &Subject, lk: &mut L) -> bool {
    if f.op == op::NONE {
        return true;
    }
    let slot = f.slot & 7;
    if slot as usize >= crate::abi::MAX_ARGS {
        return false;
    }
    if s.args_read & (1 << slot) == 0 {
        return s.args_str & (1 << slot) != 0;
    }
    let v = s.ints[slot as usize];
    let signed = s.args_signed & (1 << slot) != 0;
    let is_str = s.args_str & (1 << slot) != 0;
    match f.op {
        op::IN if is_str => lk.str_in(StrRef::Arg(slot), f.set_id),
        op::IN => lk.int_in(f.set_id, v),
        op::NOT_IN if is_str => !lk.str_in(StrRef::Arg(slot), f.set_id),
        op::NOT_IN => !lk.int_in(f.set_id, v),
        op::PREFIX => lk.str_prefix(StrRef::Arg(slot), f.set_id),
        op::NOT_PREFIX => !lk.str_prefix(StrRef::Arg(slot), f.set_id),
        op::POSTFIX => lk.str_postfix(StrRef::Arg(slot), f.set_id),
        op::NOT_POSTFIX => !lk.str_postfix(StrRef::Arg(slot), f.set_id),
        op::GT if signed => (v as i64) > (f.value as i64),
        op::GT => v > f.value,
        op::LT if signed => (v as i64) < (f.value as i64),
        op::LT => v < f.value,
        op::MASK => v & f.value != 0,
        _ => false,
    }
}

/// Every filter of the selector holds (AND).
#[inline(always)]
pub fn selector_matches<L: Lookups>(sel: &SelectorTable, s: &Subject, lk: &mut L) -> bool {
    if !bin_matches(&sel.bin, s, lk) {
        return false;
    }
    let mut i = 0;
    while i < MAX_MATCH_PIDS {
        if !pid_matches(&sel.pids[i], s, lk) {
            return false;
        }
        i += 1;
    }
    let mut i = 0;
    while i < MAX_MATCH_ARGS {
        if !arg_matches(&sel.args[i], s, lk) {
            return false;
        }
        i += 1;
    }
    true
}

/// What a policy decided for one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The selector that matched (0 when the policy has none).
    pub selector: u32,
    /// Post an event.
    pub post: bool,
    /// Signal to send (9 for Sigkill), 0 for none.
    pub sig: u32,
    /// The action the event reports: the one that took effect (Sigkill when
    /// the process is killed, whatever its place in the list), else the
    /// first non-Post action, else Post.
    pub action: u32,
}

/// SIGKILL's number.
pub const SIGKILL: u32 = 9;

/// The signal to send when two actions each ask for one: SIGKILL wins over
/// any other signal (the process must not survive because a later action in
/// the list, or another policy, asked for something milder); otherwise the
/// later one (`next`, when it is a signal at all) stands. One comparison on
/// the common path.
#[inline(always)]
pub fn stronger_signal(current: u32, next: u32) -> u32 {
    if current == SIGKILL || next == 0 {
        current
    } else {
        next
    }
}

/// Applies a selector's actions.
///
/// Order does not weaken a kill: `[Sigkill, Signal 10]` and `[Signal 10,
/// Sigkill]` both kill and report Sigkill, as Tetragon does (and the
/// simulator's rule 19). Between two milder signals the last one stands.
/// One branch per action, no second pass: this loop is unrolled for every
/// selector of every policy on a hook, and each branch is paid in verifier
/// states.
pub fn decide(selector: u32, actions: &[ActionSpec; MAX_ACTIONS], n: u32) -> Decision {
    let mut d = Decision {
        selector,
        post: true,
        sig: 0,
        action: action::POST,
    };
    let mut reported = false;
    let mut i = 0;
    while i < MAX_ACTIONS {
        if (i as u32) < n {
            let a = &actions[i];
            match a.kind {
                action::NOPOST => d.post = false,
                action::SIGKILL => {
                    d.sig = SIGKILL;
                    d.action = action::SIGKILL;
                    reported = true;
                }
                action::SIGNAL => {
                    d.sig = stronger_signal(d.sig, a.sig);
                    if !reported {
                        d.action = action::SIGNAL;
                        reported = true;
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    d
}

/// Evaluates one policy on a hook: selectors OR-ed, the first match decides.
/// `None`: no selector matched, nothing happens.
#[inline(always)]
pub fn evaluate_policy<L: Lookups>(p: &HookPolicy, s: &Subject, lk: &mut L) -> Option<Decision> {
    if p.n_selectors == 0 {
        return Some(decide(0, &[ActionSpec::default(); MAX_ACTIONS], 0));
    }
    let mut i = 0;
    while i < MAX_SELECTORS {
        if (i as u32) < p.n_selectors && selector_matches(&p.selectors[i], s, lk) {
            let sel = &p.selectors[i];
            return Some(decide(i as u32, &sel.actions, sel.n_actions));
        }
        i += 1;
    }
    None
}

/// Length of a NUL-padded string.
pub fn str_len(bytes: &[u8; STR_LEN]) -> usize {
    bytes.iter().position(|&b| b == 0).unwrap_or(STR_LEN)
}

/// Writes the last [`POSTFIX_LEN`] bytes of the `len`-byte string in `src`
/// reversed into `dst`: Postfix values are stored reversed, so "ends with" is
/// an LPM-trie prefix lookup.
///
/// Branch-free on purpose: the verifier walks this loop once per state that
/// reaches it. Bytes of `dst` past `len` hold leftovers; lookups never read
/// them (the LPM prefix length stops at `len`).
#[inline(always)]
pub fn reverse_into(src: &[u8; STR_LEN], len: usize, dst: &mut [u8; STR_LEN]) {
    let last = len.wrapping_sub(1);
    let mut i = 0;
    while i < POSTFIX_LEN {
        dst[i] = src[last.wrapping_sub(i) & (STR_LEN - 1)];
        i += 1;
    }
}
#[cfg(test)]
mod tests {
    extern crate std;
    use std::collections::HashSet;
    use std::string::{String, ToString};
    use std::vec::Vec;

    use super::*;
    use crate::abi::MAX_ARGS;

    /// In-memory sets: (set, string) pairs and (set, int) pairs.
    #[derive(Default)]
    struct Sets {
        strs: HashSet<(u32, String)>,
        ints: HashSet<(u32, u64)>,
        pids: HashSet<(u32, u32)>,
        args: Vec<String>,
        bin: String,
    }

    impl Sets {
        fn get(&self, s: StrRef) -> &str {
            match s {
                StrRef::Arg(i) => self.args.get(i as usize).map(|s| s.as_str()).unwrap_or(""),
                StrRef::Binary => &self.bin,
            }
        }
    }

    impl Lookups for Sets {
        fn str_in(&mut self, s: StrRef, set: u32) -> bool {
            self.strs.contains(&(set, self.get(s).to_string()))
        }
        fn str_prefix(&mut self, s: StrRef, set: u32) -> bool {
            let v = self.get(s);
            self.strs
                .iter()
                .any(|(id, p)| *id == set && v.starts_with(p.as_str()))
        }
        fn str_postfix(&mut self, s: StrRef, set: u32) -> bool {
            let v = self.get(s);
            self.strs
                .iter()
                .any(|(id, p)| *id == set && v.ends_with(p.as_str()))
        }
        fn int_in(&mut self, set: u32, value: u64) -> bool {
            self.ints.contains(&(set, value))
        }
        fn pid_in(&mut self, set: u32, pid: u32) -> bool {
            self.pids.contains(&(set, pid))
        }
    }

    fn seed_selector() -> SelectorTable {
        let mut args = [ArgFilter::default(); MAX_MATCH_ARGS];
        args[0] = ArgFilter {
            op: op::IN,
            slot: 0,
            set_id: 2,
            ..Default::default()
        };
        let mut actions = [ActionSpec::default(); MAX_ACTIONS];
        actions[0] = ActionSpec {
            kind: action::SIGKILL,
            sig: 0,
        };
        SelectorTable {
            bin: BinFilter {
                op: op::IN,
                set_id: 1,
                follow_bit: NO_FOLLOW,
            },
            args,
            actions,
            n_actions: 1,
            ..Default::default()
        }
    }

    fn seed_sets(bin: &str, arg: &str) -> Sets {
        let mut s = Sets {
            bin: bin.into(),
            args: [arg.to_string()].into(),
            ..Default::default()
        };
        s.strs.insert((1, "/usr/bin/java".into()));
        s.strs.insert((2, "/bin/sh".into()));
        s
    }

    fn subject() -> Subject {
        Subject {
            pid: 10,
            bin_resolved: 1,
            args_read: 1,
            args_str: 1,
            ..Default::default()
        }
    }

    fn policy(sel: SelectorTable) -> HookPolicy {
        let mut p = HookPolicy {
            policy_id: 0,
            n_selectors: 1,
            ..Default::default()
        };
        p.selectors[0] = sel;
        p
    }

    #[test]
    fn java_executing_sh_is_killed() {
        let d = evaluate_policy(
            &policy(seed_selector()),
            &subject(),
            &mut seed_sets("/usr/bin/java", "/bin/sh"),
        );
        assert_eq!(
            d,
            Some(Decision {
                selector: 0,
                post: true,
                sig: 9,
                action: action::SIGKILL
            })
        );
    }

    #[test]
    fn java_executing_another_program_is_allowed() {
        let d = evaluate_policy(
            &policy(seed_selector()),
            &subject(),
            &mut seed_sets("/usr/bin/java", "/bin/ls"),
        );
        assert_eq!(d, None);
    }

    #[test]
    fn unresolved_binary_matches_neither_in_nor_not_in() {
        let mut s = subject();
        s.bin_resolved = 0;
        let mut sel = seed_selector();
        assert_eq!(
            evaluate_policy(&policy(sel), &s, &mut seed_sets("", "/bin/sh")),
            None
        );
        sel.bin.op = op::NOT_IN;
        assert_eq!(
            evaluate_policy(&policy(sel), &s, &mut seed_sets("", "/bin/sh")),
            None
        );
    }

    #[test]
    fn follow_children_mark_matches_a_descendant() {
        let mut sel = seed_selector();
        sel.bin.follow_bit = 3;
        let mut s = subject();
        s.bin_marks = 1 << 3;
        assert!(
            evaluate_policy(&policy(sel), &s, &mut seed_sets("/usr/bin/dash", "/bin/sh")).is_some()
        );
    }

    #[test]
    fn unreadable_string_argument_fails_closed() {
        let mut s = subject();
        s.args_read = 0;
        let mut sel = seed_selector();
        assert!(evaluate_policy(&policy(sel), &s, &mut seed_sets("/usr/bin/java", "")).is_some());
        sel.args[0].op = op::NOT_IN;
        assert!(evaluate_policy(&policy(sel), &s, &mut seed_sets("/usr/bin/java", "")).is_some());
        // The binary still has to match.
        assert_eq!(
            evaluate_policy(&policy(sel), &s, &mut seed_sets("/usr/bin/ls", "")),
            None
        );
    }

    #[test]
    fn first_matching_selector_decides() {
        let mut p = policy(seed_selector());
        let mut post = SelectorTable::default();
        post.actions[0] = ActionSpec {
            kind: action::NOPOST,
            sig: 0,
        };
        post.n_actions = 1;
        p.selectors[1] = post;
        p.n_selectors = 2;
        let d =
            evaluate_policy(&p, &subject(), &mut seed_sets("/usr/bin/java", "/bin/ls")).unwrap();
        assert_eq!((d.selector, d.post), (1, false));
    }

    #[test]
    fn integer_operators_respect_sign() {
        let mut s = subject();
        s.ints[0] = (-5i64) as u64;
        s.args_signed = 1;
        s.args_str = 0;
        let f = ArgFilter {
            op: op::LT,
            slot: 0,
            value: 0,
            ..Default::default()
        };
        assert!(arg_matches(&f, &s, &mut Sets::default()));
        s.args_signed = 0;
        assert!(!arg_matches(&f, &s, &mut Sets::default()));
        let m = ArgFilter {
            op: op::MASK,
            slot: 0,
            value: 0b100,
            ..Default::default()
        };
        s.ints[0] = 0b110;
        assert!(arg_matches(&m, &s, &mut Sets::default()));
    }

    #[test]
    fn signal_and_nopost_combine() {
        let mut a = [ActionSpec::default(); MAX_ACTIONS];
        a[0] = ActionSpec {
            kind: action::NOPOST,
            sig: 0,
        };
        a[1] = ActionSpec {
            kind: action::SIGNAL,
            sig: 10,
        };
        assert_eq!(
            decide(2, &a, 2),
            Decision {
                selector: 2,
                post: false,
                sig: 10,
                action: action::SIGNAL
            }
        );
    }

    fn actions(list: &[(u32, u32)]) -> [ActionSpec; MAX_ACTIONS] {
        let mut a = [ActionSpec::default(); MAX_ACTIONS];
        for (i, &(kind, sig)) in list.iter().enumerate() {
            a[i] = ActionSpec { kind, sig };
        }
        a
    }

    #[test]
    fn sigkill_wins_over_another_signal_in_either_order() {
        for list in [
            [(action::SIGKILL, 0), (action::SIGNAL, 10)],
            [(action::SIGNAL, 10), (action::SIGKILL, 0)],
        ] {
            let d = decide(0, &actions(&list), 2);
            assert_eq!((d.sig, d.action), (9, action::SIGKILL), "{list:?}");
        }
        // Signal 9 is a kill too, and a later milder signal does not undo it.
        let d = decide(0, &actions(&[(action::SIGNAL, 9), (action::SIGNAL, 10)]), 2);
        assert_eq!((d.sig, d.action), (9, action::SIGNAL));
        // Two mild signals: the last stands.
        let d = decide(
            0,
            &actions(&[(action::SIGNAL, 12), (action::SIGNAL, 10)]),
            2,
        );
        assert_eq!(d.sig, 10);
    }

    #[test]
    fn stronger_signal_orders_kill_first() {
        assert_eq!(stronger_signal(0, 0), 0);
        assert_eq!(stronger_signal(0, 10), 10);
        assert_eq!(stronger_signal(10, 0), 10);
        assert_eq!(stronger_signal(10, 9), 9);
        assert_eq!(stronger_signal(9, 10), 9);
        assert_eq!(stronger_signal(12, 10), 10);
    }

    #[test]
    fn reverse_makes_postfix_a_prefix() {
        let mut src = [0u8; STR_LEN];
        src[..5].copy_from_slice(b"/a/sh");
        let mut dst = [0u8; STR_LEN];
        reverse_into(&src, 5, &mut dst);
        assert_eq!(&dst[..5], b"hs/a/");
        let _ = MAX_ARGS;
    }
}

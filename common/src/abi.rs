//! The binary interface between user space and the eBPF programs: limits, codes,
//! compiled tables (map values), keys, and ring-buffer records.

use crate::offsets::KernelOffsets;

/// Bytes of a string slot: a string argument, a matchBinaries value, a resolved path.
/// Strings are read with a NUL, so at most `STR_LEN - 1` bytes are compared.
pub const STR_LEN: usize = 256;
/// Bytes of a string an LPM trie compares (Prefix / Postfix): the kernel caps
/// trie data at 256 bytes and the set id takes 4 of them.
pub const LPM_STR_LEN: usize = 252;
/// Bytes a Postfix compares (Tetragon's limit): the last this many bytes of a
/// string are kept reversed for the LPM lookup.
pub const POSTFIX_LEN: usize = 128;
/// Bytes of the process arguments copied at exec.
pub const ARGS_LEN: usize = 512;
/// Declared arguments per hook.
pub const MAX_ARGS: usize = 5;
/// Selectors per policy on one hook (Tetragon's limit).
pub const MAX_SELECTORS: usize = 5;
/// matchArgs per selector (Tetragon's limit).
pub const MAX_MATCH_ARGS: usize = 5;
/// matchPIDs entries per selector veto supports.
pub const MAX_MATCH_PIDS: usize = 2;
/// Actions per selector (Tetragon's limit).
pub const MAX_ACTIONS: usize = 3;
/// Policies that can share one hook in one `veto run`.
pub const MAX_POLICIES_PER_HOOK: usize = 4;
/// followChildren matchBinaries entries (one mark bit each) in one `veto run`.
pub const MAX_BIN_FOLLOW: usize = 8;
/// followForks matchPIDs entries (one mark bit each) in one `veto run`.
pub const MAX_PID_FOLLOW: usize = 8;
/// Path components the in-kernel path walk follows before giving up.
pub const MAX_PATH_DEPTH: usize = 16;
/// Hooks-map keys: a syscall tracepoint is keyed by its syscall number, any
/// other tracepoint by its event id with this bit set.
pub const TP_KEY: u32 = 0x8000_0000;
/// Hooks-map keys of the 32-bit compat entry of a syscall hook: the i386
/// syscall number with this bit set (seen at raw_syscalls/sys_enter).
pub const COMPAT_KEY: u32 = 0x4000_0000;
/// `thread_info.status` bit of a task inside a 32-bit compat syscall (x86).
pub const TS_COMPAT: u32 = 0x0002;
/// Marker for "no mark bit".
pub const NO_FOLLOW: u32 = u32::MAX;

/// Action codes.
pub mod action {
    /// Post an event.
    pub const POST: u32 = 0;
    /// Suppress the event.
    pub const NOPOST: u32 = 1;
    /// SIGKILL the caller.
    pub const SIGKILL: u32 = 2;
    /// Send a signal to the caller.
    pub const SIGNAL: u32 = 3;
}

/// Operator codes of compiled filters (0 means "no filter").
pub mod op {
    /// No filter in this slot.
    pub const NONE: u32 = 0;
    /// Equal / In: the value is in the set.
    pub const IN: u32 = 1;
    /// NotEqual / NotIn.
    pub const NOT_IN: u32 = 2;
    /// Starts with one of the values.
    pub const PREFIX: u32 = 3;
    /// Starts with none of them.
    pub const NOT_PREFIX: u32 = 4;
    /// Ends with one of the values.
    pub const POSTFIX: u32 = 5;
    /// Ends with none of them.
    pub const NOT_POSTFIX: u32 = 6;
    /// Integer greater than.
    pub const GT: u32 = 7;
    /// Integer less than.
    pub const LT: u32 = 8;
    /// Integer `arg & mask != 0`.
    pub const MASK: u32 = 9;
}

/// Kinds of declared arguments.
pub mod arg_kind {
    /// Slot unused.
    pub const NONE: u8 = 0;
    /// Integer read from the tracepoint record.
    pub const INT: u8 = 1;
    /// User pointer to a NUL-terminated string.
    pub const STR: u8 = 2;
}

/// Flags of a process entry and of records.
pub mod flags {
    /// The executable path was resolved.
    pub const PATH_RESOLVED: u32 = 1;
    /// The entry was filled from /proc at startup, not seen at exec.
    pub const PROCFS: u32 = 2;
    /// The entry was created at fork and its image has not exec'd since.
    pub const CLONE: u32 = 4;
    /// The path walk hit its depth limit or a name too long.
    pub const PATH_TOO_DEEP: u32 = 8;
}

/// Ring-buffer record kinds.
pub mod kind {
    /// [`super::ExecEvent`].
    pub const EXEC: u32 = 1;
    /// [`super::ExitEvent`].
    pub const EXIT: u32 = 2;
    /// [`super::HookEvent`].
    pub const HOOK: u32 = 3;
}

/// Counters in the stats per-CPU array (index = counter).
pub mod stat {
    /// Records the ring buffer had no room for.
    pub const RINGBUF_DROPS: u32 = 0;
    /// Executables whose path could not be resolved in the kernel.
    pub const PATH_UNRESOLVED: u32 = 1;
    /// String arguments that could not be read.
    pub const ARG_UNREADABLE: u32 = 2;
    /// Process-map inserts that failed (map full).
    pub const PROC_MAP_FULL: u32 = 3;
    /// Hook runs for a task without a process entry.
    pub const PROC_UNKNOWN: u32 = 4;
    /// Number of counters.
    pub const COUNT: u32 = 5;
}

/// A string as a map key and as part of a record.
///
/// The layout is chosen so that one slot serves every lookup without copying:
/// `head` + `set_id` + `bytes` is an LPM-trie key when `head` holds the prefix
/// length in bits (`32 + 8 * len`: the set id is part of the prefix), and a
/// hash-map key when `head` is 0. `bytes` is NUL-padded to its end.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct StrSlot {
    /// 0 for hash keys, the prefix length in bits for LPM keys.
    pub head: u32,
    /// Which value set the key belongs to.
    pub set_id: u32,
    /// The string, NUL-padded.
    pub bytes: [u8; STR_LEN],
}

impl StrSlot {
    /// An empty slot.
    pub const ZERO: StrSlot = StrSlot {
        head: 0,
        set_id: 0,
        bytes: [0; STR_LEN],
    };

    /// The LPM prefix length in bits for a string of `len` bytes (longer
    /// strings compare their first [`LPM_STR_LEN`] bytes).
    pub const fn lpm_bits(len: u32) -> u32 {
        let len = if len > LPM_STR_LEN as u32 {
            LPM_STR_LEN as u32
        } else {
            len
        };
        32 + 8 * len
    }

    /// The LPM prefix length in bits of a reversed string of `len` bytes (only
    /// its last [`POSTFIX_LEN`] bytes were reversed).
    pub const fn postfix_bits(len: u32) -> u32 {
        let len = if len > POSTFIX_LEN as u32 {
            POSTFIX_LEN as u32
        } else {
            len
        };
        32 + 8 * len
    }
}

/// The data part of an LPM-trie key (the trie's key wrapper adds the prefix
/// length in front, which makes it the layout of [`StrSlot`]).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct StrData {
    /// Value set.
    pub set_id: u32,
    /// The string (reversed for Postfix sets), NUL-padded; only its first
    /// [`LPM_STR_LEN`] bytes take part.
    pub bytes: [u8; LPM_STR_LEN],
}

/// Key of the integer value sets (Equal / NotEqual on integers).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IntKey {
    /// Value set.
    pub set_id: u32,
    /// Always 0.
    pub pad: u32,
    /// The value, sign- or zero-extended to 64 bits as its type says.
    pub value: u64,
}

/// Key of the pid value sets (matchPIDs).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PidKey {
    /// Value set.
    pub set_id: u32,
    /// Thread-group id.
    pub pid: u32,
}

/// One tracked process, keyed by pid (thread-group id) in the process map.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ProcInfo {
    /// Exec time (ns since boot), part of the exec id.
    pub ktime: u64,
    /// The parent's exec time.
    pub parent_ktime: u64,
    /// Thread-group id.
    pub pid: u32,
    /// The parent's thread-group id.
    pub parent_pid: u32,
    /// [`flags`] bits.
    pub flags: u32,
    /// followChildren marks: bit i set when this process or an ancestor matched
    /// follow slot i at its exec.
    pub bin_marks: u32,
    /// followForks marks: bit i set when this process or an ancestor it was
    /// forked from had a pid in pid-follow slot i.
    pub pid_marks: u32,
    /// Length of `path` without NUL.
    pub path_len: u32,
    /// Resolved absolute executable path, NUL-padded.
    pub path: [u8; STR_LEN],
    /// `path` reversed (for Postfix), NUL-padded.
    pub path_rev: [u8; STR_LEN],
}

/// A followChildren slot: its matchBinaries set, evaluated at every exec.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FollowSlot {
    /// [`op`] code (In or NotIn).
    pub op: u32,
    /// Value set.
    pub set_id: u32,
}

/// Program-wide settings (config map, index 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Config {
    /// Struct offsets from BTF.
    pub offsets: KernelOffsets,
    /// cgroup v2 id to confine to (0: no confinement).
    pub cgroup_id: u64,
    /// Level of that cgroup in the hierarchy (root is 0).
    pub cgroup_level: u32,
    /// Offset of `child_pid` in the sched_process_fork record.
    pub fork_child_pid_off: u32,
    /// Offset of the `filename` __data_loc in the sched_process_exec record.
    pub exec_filename_off: u32,
    /// Offset of `thread_info.status` from the task (0: compat entries are
    /// not covered).
    pub compat_status_off: u32,
    /// Used follow slots.
    pub n_bin_follow: u32,
    /// followChildren slots.
    pub bin_follow: [FollowSlot; MAX_BIN_FOLLOW],
    /// Used pid-follow slots.
    pub n_pid_follow: u32,
    /// followForks slots: the pid set of each.
    pub pid_follow: [u32; MAX_PID_FOLLOW],
}

/// How to read one declared argument from the tracepoint record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArgSpec {
    /// [`arg_kind`].
    pub kind: u8,
    /// Integer width in bytes (1, 2, 4, 8).
    pub size: u8,
    /// 1 when the integer is signed (sign-extend, signed comparisons).
    pub signed: u8,
    /// 1 when a Postfix filter needs the string reversed.
    pub needs_rev: u8,
    /// Byte offset of the field in the tracepoint record.
    pub offset: u32,
    /// The policy's `index` of the argument (reported in events).
    pub index: u32,
}

/// A matchBinaries filter.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BinFilter {
    /// [`op`] code; NONE when the selector has no matchBinaries.
    pub op: u32,
    /// Value set.
    pub set_id: u32,
    /// Mark bit for followChildren, or [`NO_FOLLOW`].
    pub follow_bit: u32,
}

/// A matchArgs filter.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArgFilter {
    /// [`op`] code; NONE for an unused slot.
    pub op: u32,
    /// Which declared argument (0..MAX_ARGS) of the hook.
    pub slot: u32,
    /// Value set (In/NotIn/Prefix/Postfix and their negations).
    pub set_id: u32,
    /// Padding.
    pub pad: u32,
    /// The operand of GT / LT, or the OR of all Mask values.
    pub value: u64,
}

/// A matchPIDs filter.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PidFilter {
    /// [`op`] code (IN / NOT_IN); NONE for an unused slot.
    pub op: u32,
    /// Value set.
    pub set_id: u32,
    /// Mark bit for followForks, or [`NO_FOLLOW`].
    pub follow_bit: u32,
}

/// One action.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ActionSpec {
    /// [`action`] code.
    pub kind: u32,
    /// Signal number for SIGNAL.
    pub sig: u32,
}

/// One compiled selector.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SelectorTable {
    /// matchBinaries.
    pub bin: BinFilter,
    /// matchPIDs, AND-ed.
    pub pids: [PidFilter; MAX_MATCH_PIDS],
    /// matchArgs, AND-ed.
    pub args: [ArgFilter; MAX_MATCH_ARGS],
    /// Actions in order.
    pub actions: [ActionSpec; MAX_ACTIONS],
    /// Used entries of `actions` (0: the default, Post).
    pub n_actions: u32,
    /// Padding.
    pub pad: u32,
}

/// One policy's selectors on a hook.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HookPolicy {
    /// Index of the policy in the run (reported in events).
    pub policy_id: u32,
    /// Used selectors; 0 means "every call matches and posts".
    pub n_selectors: u32,
    /// Selectors, first match wins.
    pub selectors: [SelectorTable; MAX_SELECTORS],
}

/// Everything about one hook, keyed in the hooks map by syscall number or by
/// tracepoint id | [`TP_KEY`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HookTable {
    /// Index of the hook in the run (reported in events).
    pub hook_id: u32,
    /// Used entries of `policies`.
    pub n_policies: u32,
    /// Declared arguments.
    pub args: [ArgSpec; MAX_ARGS],
    /// Policies on this hook, each evaluated independently.
    pub policies: [HookPolicy; MAX_POLICIES_PER_HOOK],
}

/// Common header of every ring-buffer record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EventHeader {
    /// [`kind`].
    pub kind: u32,
    /// Thread-group id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Real uid.
    pub uid: u32,
    /// Time of the event (ns since boot).
    pub ktime: u64,
}

/// A process executed (sched_process_exec).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ExecEvent {
    /// Header.
    pub hdr: EventHeader,
    /// The new process entry (path resolved in the kernel).
    pub proc: ProcInfo,
    /// Length of `filename`.
    pub filename_len: u32,
    /// Length of `args` (NUL-separated argv).
    pub args_len: u32,
    /// The filename passed to execve, as the tracepoint reports it.
    pub filename: [u8; STR_LEN],
    /// argv, NUL-separated, truncated to [`ARGS_LEN`].
    pub args: [u8; ARGS_LEN],
}

/// A process exited (sched_process_exit of its thread-group leader).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ExitEvent {
    /// Header.
    pub hdr: EventHeader,
    /// Exec time of the process that exited.
    pub proc_ktime: u64,
    /// `task_struct.exit_code` of the leader: a wait status (exit code in
    /// bits 8..16, the killing signal in bits 0..7).
    pub code: u32,
    /// Padding.
    pub pad: u32,
}

/// A hook fired and a policy's selector matched (or the policy has none).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct HookEvent {
    /// Header.
    pub hdr: EventHeader,
    /// Exec time of the calling process (0 when not tracked).
    pub proc_ktime: u64,
    /// Hook index.
    pub hook_id: u32,
    /// Policy index.
    pub policy_id: u32,
    /// Matching selector index.
    pub selector: u32,
    /// The [`action`] taken that the event reports.
    pub action: u32,
    /// Signal sent, or 0.
    pub sig: u32,
    /// Bit i set: argument slot i could not be read.
    pub arg_unreadable: u32,
    /// [`flags`] of the calling process.
    pub proc_flags: u32,
    /// Padding.
    pub pad: u32,
    /// Integer arguments by slot.
    pub ints: [u64; MAX_ARGS],
    /// String arguments by slot (also the keys for lookups).
    pub strs: [StrSlot; MAX_ARGS],
    /// The caller's resolved path (also the key for matchBinaries lookups).
    pub bin: StrSlot,
}

/// Per-CPU scratch of the hook program: the record being built plus the
/// reversed strings for Postfix lookups.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct HookScratch {
    /// The record.
    pub ev: HookEvent,
    /// Reversed string arguments.
    pub rev: [StrSlot; MAX_ARGS],
    /// Reversed binary path.
    pub bin_rev: StrSlot,
    /// What the selectors are evaluated against.
    pub subject: crate::matching::Subject,
    /// String lengths by slot; index MAX_ARGS is the binary path.
    pub lens: [u32; MAX_ARGS + 1],
    /// The strongest signal the policies on this call asked for so far. In
    /// map memory, not a local: the verifier does not track values stored
    /// there, so the policies' different signals do not multiply its states.
    pub sig: u32,
    /// Padding.
    pub pad: u32,
}

//! Every map the programs share with user space. User space fills the tables
//! before it attaches anything; the programs only read them (except the
//! process map, which the exec tracker owns, and the counters).

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LpmTrie, PerCpuArray, RingBuf},
};
use veto_common::{
    Config, ExecEvent, HookScratch, HookTable, IntKey, PidKey, ProcInfo, STR_LEN, StrData, StrSlot,
    stat,
};

/// Program-wide settings, index 0.
#[map(name = "VETO_CONFIG")]
pub static CONFIG: Array<Config> = Array::with_max_entries(1, 0);

/// Tracked processes by thread-group id.
#[map(name = "VETO_PROCS")]
pub static PROCS: HashMap<u32, ProcInfo> = HashMap::with_max_entries(32768, 0);

/// Compiled hooks by tracepoint id (the record's `common_type`).
#[map(name = "VETO_HOOKS")]
pub static HOOKS: HashMap<u32, HookTable> = HashMap::with_max_entries(64, 0);

/// String sets for Equal / In and their negations (head = 0).
#[map(name = "VETO_STR_SET")]
pub static STR_SET: HashMap<StrSlot, u8> = HashMap::with_max_entries(65536, 1);

/// String prefix sets; Postfix sets hold reversed values.
#[map(name = "VETO_STR_PREFIX")]
pub static STR_PREFIX: LpmTrie<StrData, u8> = LpmTrie::with_max_entries(65536, 0);

/// Integer sets.
#[map(name = "VETO_INT_SET")]
pub static INT_SET: HashMap<IntKey, u8> = HashMap::with_max_entries(16384, 1);

/// Pid sets.
#[map(name = "VETO_PID_SET")]
pub static PID_SET: HashMap<PidKey, u8> = HashMap::with_max_entries(16384, 1);

/// cgroup ids of the confining subtree (kept current by user space).
#[map(name = "VETO_CGROUPS")]
pub static CGROUPS: HashMap<u64, u8> = HashMap::with_max_entries(4096, 0);

/// Records to user space.
#[map(name = "VETO_EVENTS")]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(8 * 1024 * 1024, 0);

/// Counters (see `veto_common::stat`).
#[map(name = "VETO_STATS")]
pub static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(stat::COUNT, 0);

/// Scratch of the exec tracker: the record, a lookup key, the path buffer.
#[repr(C)]
pub struct ExecScratch {
    pub ev: ExecEvent,
    pub key: StrSlot,
    pub buf: [u8; 2 * PATH_HALF],
}

/// The path is assembled backwards in the first half of the buffer; the second
/// half only exists so that a masked offset plus a bounded size stays inside.
pub const PATH_HALF: usize = 512;
const _: () = assert!(STR_LEN <= PATH_HALF);

#[map(name = "VETO_EXEC_SCRATCH")]
pub static EXEC_SCRATCH: PerCpuArray<ExecScratch> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "VETO_FORK_SCRATCH")]
pub static FORK_SCRATCH: PerCpuArray<ProcInfo> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "VETO_HOOK_SCRATCH")]
pub static HOOK_SCRATCH: PerCpuArray<HookScratch> = PerCpuArray::with_max_entries(1, 0);

/// Adds one to counter `idx`.
#[inline(always)]
pub fn count(idx: u32) {
    if let Some(p) = STATS.get_ptr_mut(idx) {
        unsafe { *p += 1 };
    }
}

//! veto's kernel side: exec tracking (sched tracepoints) and one generic syscall
//! hook that interprets the tables user space compiled from the policies. No
//! policy knowledge lives here: a new policy never needs a new object.

#![no_std]
#![no_main]

mod lookups;
mod maps;
mod path;

use aya_ebpf::{
    EbpfContext,
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_current_uid_gid, bpf_ktime_get_ns, bpf_probe_read_kernel,
        bpf_probe_read_user_str_bytes, r#gen,
    },
    macros::tracepoint,
    programs::TracePointContext,
};
use veto_common::{
    ARGS_LEN, COMPAT_KEY, Config, EventHeader, ExitEvent, MAX_ARGS, MAX_BIN_FOLLOW, MAX_PID_FOLLOW,
    MAX_POLICIES_PER_HOOK, PidKey, ProcInfo, STR_LEN, StrSlot, TP_KEY, TS_COMPAT, arg_kind, flags,
    kind,
    matching::{Subject, evaluate_policy, reverse_into, stronger_signal},
    stat,
};

use crate::lookups::KernelLookups;
use crate::maps::{
    CGROUPS, CONFIG, EVENTS, EXEC_SCRATCH, FORK_SCRATCH, HOOK_SCRATCH, HOOKS, PATH_HALF, PID_SET,
    PROCS, STR_SET, count,
};
use crate::path::{Walk, current_mm, resolve_exe};

#[inline(always)]
fn config() -> Option<&'static Config> {
    CONFIG.get(0)
}

/// True when the current task is inside the confining cgroup subtree (or
/// none is set). The subtree's group ids are in a set that user space keeps
/// current: bpf_get_current_ancestor_cgroup_id would be simpler but tracing
/// programs on 5.10 cannot call it.
#[inline(always)]
fn in_scope(cfg: &Config) -> bool {
    if cfg.cgroup_id == 0 {
        return true;
    }
    let id = unsafe { r#gen::bpf_get_current_cgroup_id() };
    unsafe { CGROUPS.get(&id) }.is_some()
}

/// `x` as a value the compiler knows nothing about, so that a mask applied
/// to it survives into the object: older verifiers cannot prove the bound
/// the compiler used to drop the mask.
#[inline(always)]
fn opaque(x: usize) -> usize {
    unsafe { core::ptr::read_volatile(&x) }
}

#[inline(always)]
fn header(k: u32) -> EventHeader {
    let pid_tgid = bpf_get_current_pid_tgid();
    EventHeader {
        kind: k,
        pid: (pid_tgid >> 32) as u32,
        tid: pid_tgid as u32,
        uid: bpf_get_current_uid_gid() as u32,
        ktime: unsafe { bpf_ktime_get_ns() },
    }
}

#[inline(always)]
unsafe fn zero_bytes(p: *mut u8, n: usize) {
    // Volatile word stores: plain ones are recognised as a memset idiom and
    // become a call to a byte loop that the verifier walks in full.
    let w = p as *mut u64;
    for i in 0..n / 8 {
        unsafe { core::ptr::write_volatile(w.add(i), 0) };
    }
}

/// The tgid of the current task's real parent, 0 when unknown.
#[inline(always)]
unsafe fn real_parent_tgid(o: &veto_common::KernelOffsets) -> u32 {
    if o.valid == 0 {
        return 0;
    }
    let task = unsafe { aya_ebpf::helpers::bpf_get_current_task() };
    let parent = unsafe {
        bpf_probe_read_kernel((task + o.task_real_parent as u64) as *const u64).unwrap_or(0)
    };
    if parent == 0 {
        return 0;
    }
    unsafe { bpf_probe_read_kernel((parent + o.task_tgid as u64) as *const u32).unwrap_or(0) }
}

/// sched_process_exec: record the new image with its resolved path, inherit the
/// follow marks, and report the exec.
#[tracepoint]
pub fn veto_exec(ctx: TracePointContext) -> u32 {
    unsafe { on_exec(&ctx) };
    0
}

#[inline(always)]
unsafe fn on_exec(ctx: &TracePointContext) {
    let Some(cfg) = config() else { return };
    let Some(s) = EXEC_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let s = unsafe { &mut *s };
    let hdr = header(kind::EXEC);
    let tgid = hdr.pid;
    let p = &mut s.ev.proc;
    unsafe {
        zero_bytes(p.path.as_mut_ptr(), STR_LEN);
        zero_bytes(p.path_rev.as_mut_ptr(), STR_LEN);
        zero_bytes(s.key.bytes.as_mut_ptr(), STR_LEN);
    }
    p.ktime = hdr.ktime;
    p.pid = tgid;
    p.flags = 0;
    p.path_len = 0;
    match unsafe { PROCS.get(&tgid) } {
        Some(old) => {
            p.parent_pid = old.parent_pid;
            p.parent_ktime = old.parent_ktime;
            p.bin_marks = old.bin_marks;
            p.pid_marks = old.pid_marks;
        }
        None => {
            p.parent_pid = 0;
            p.parent_ktime = 0;
            p.bin_marks = 0;
            p.pid_marks = 0;
        }
    }

    match unsafe { resolve_exe(&cfg.offsets, s.buf.as_mut_ptr()) } {
        Walk::Done(start) => {
            let len = PATH_HALF - start;
            unsafe {
                r#gen::bpf_probe_read_kernel(
                    s.key.bytes.as_mut_ptr() as *mut _,
                    (opaque(len) & (STR_LEN - 1)) as u32,
                    s.buf.as_ptr().add(opaque(start) & (PATH_HALF - 1)) as *const _,
                );
            }
            p.path = s.key.bytes;
            p.path_len = len as u32;
            p.flags |= flags::PATH_RESOLVED;
            reverse_into(&p.path, len, &mut p.path_rev);
        }
        Walk::TooDeep => {
            p.flags |= flags::PATH_TOO_DEEP;
            count(stat::PATH_UNRESOLVED);
        }
        Walk::Unavailable => count(stat::PATH_UNRESOLVED),
    }

    // followChildren: mark the process when its own path is in a follow set.
    if p.flags & flags::PATH_RESOLVED != 0 {
        let n = cfg.n_bin_follow as usize;
        for i in 0..MAX_BIN_FOLLOW {
            if i < n {
                s.key.head = 0;
                s.key.set_id = cfg.bin_follow[i].set_id;
                if unsafe { STR_SET.get(&s.key) }.is_some() {
                    p.bin_marks |= 1 << i;
                }
            }
        }
    }

    // followChildren, as Tetragon keeps it: at exec a process also takes the
    // marks its parent holds now. A parent that exec'd a listed binary after
    // forking this child passed nothing on at fork; it does here. The
    // parent is the task's real parent as the kernel has it (after a
    // reparenting, the new one), found in the map by its tgid. Done after the
    // path walk: a branch taken before it doubles the states the verifier
    // walks through it (5.10 and 6.1 then exceed their instruction limit).
    let parent_tgid = unsafe { real_parent_tgid(&cfg.offsets) };
    if parent_tgid != 0 && parent_tgid != tgid {
        if let Some(parent) = unsafe { PROCS.get(&parent_tgid) } {
            p.bin_marks |= parent.bin_marks;
        }
    }

    if PROCS.insert(&tgid, p, 0).is_err() {
        count(stat::PROC_MAP_FULL);
    }

    if !in_scope(cfg) {
        return;
    }
    s.ev.hdr = hdr;
    // The filename as execve got it, from the record's __data_loc field.
    let off = cfg.exec_filename_off as usize;
    s.ev.filename_len = 0;
    if let Ok(loc) = unsafe { ctx.read_at::<u32>(off & 0xfff) } {
        let data = (loc & 0xffff) as usize;
        let src = unsafe { (ctx.as_ptr() as *const u8).add(data & 0xfff) };
        if let Ok(b) =
            unsafe { aya_ebpf::helpers::bpf_probe_read_kernel_str_bytes(src, &mut s.ev.filename) }
        {
            s.ev.filename_len = b.len() as u32;
        }
    }
    // argv, as the new image sees it.
    s.ev.args_len = 0;
    let mm = unsafe { current_mm(&cfg.offsets) };
    if mm != 0 {
        let o = &cfg.offsets;
        let start = unsafe {
            bpf_probe_read_kernel((mm + o.mm_arg_start as u64) as *const u64).unwrap_or(0)
        };
        let end =
            unsafe { bpf_probe_read_kernel((mm + o.mm_arg_end as u64) as *const u64).unwrap_or(0) };
        if start != 0 && end > start {
            let mut n = (end - start) as usize;
            if n > ARGS_LEN - 1 {
                n = ARGS_LEN - 1;
            }
            let r = unsafe {
                r#gen::bpf_probe_read_user(
                    s.ev.args.as_mut_ptr() as *mut _,
                    (opaque(n) & (ARGS_LEN - 1)) as u32,
                    start as *const _,
                )
            };
            if r == 0 {
                s.ev.args_len = n as u32;
            }
        }
    }
    if EVENTS.output(&s.ev, 0).is_err() {
        count(stat::RINGBUF_DROPS);
    }
}

/// sched_process_fork: the child starts as a copy of its parent (same binary,
/// same marks) plus followForks marks for a parent whose pid is in a set.
#[tracepoint]
pub fn veto_fork(ctx: TracePointContext) -> u32 {
    unsafe { on_fork(&ctx) };
    0
}

#[inline(always)]
unsafe fn on_fork(ctx: &TracePointContext) {
    let Some(cfg) = config() else { return };
    let parent_tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let Ok(child) = (unsafe { ctx.read_at::<u32>((cfg.fork_child_pid_off & 0xfff) as usize) })
    else {
        return;
    };
    let Some(parent) = (unsafe { PROCS.get(&parent_tgid) }) else {
        return;
    };
    let Some(c) = FORK_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // One helper copy: a struct assignment of this size would go through the
    // 512-byte stack.
    unsafe {
        r#gen::bpf_probe_read_kernel(
            c as *mut _,
            core::mem::size_of::<ProcInfo>() as u32,
            parent as *const ProcInfo as *const _,
        )
    };
    let c: &mut ProcInfo = unsafe { &mut *c };
    c.parent_pid = parent.pid;
    c.parent_ktime = parent.ktime;
    c.pid = child;
    c.ktime = unsafe { bpf_ktime_get_ns() };
    c.flags |= flags::CLONE;
    let n = cfg.n_pid_follow as usize;
    for i in 0..MAX_PID_FOLLOW {
        if i < n {
            let key = PidKey {
                set_id: cfg.pid_follow[i],
                pid: parent_tgid,
            };
            if unsafe { PID_SET.get(&key) }.is_some() {
                c.pid_marks |= 1 << i;
            }
        }
    }
    if PROCS.insert(&child, c, 0).is_err() {
        count(stat::PROC_MAP_FULL);
    }
}

/// sched_process_exit: forget the task; report the exit of a thread-group leader.
#[tracepoint]
pub fn veto_exit(_ctx: TracePointContext) -> u32 {
    let Some(cfg) = config() else { return 0 };
    let hdr = header(kind::EXIT);
    let ktime = match unsafe { PROCS.get(&hdr.tid) } {
        Some(p) => p.ktime,
        None => 0,
    };
    let _ = PROCS.remove(&hdr.tid);
    if hdr.tid != hdr.pid || !in_scope(cfg) {
        return 0;
    }
    // do_exit stores the status in task->exit_code before this tracepoint;
    // the tracepoint record itself does not carry it.
    let code = if cfg.offsets.valid != 0 {
        let task = unsafe { aya_ebpf::helpers::bpf_get_current_task() };
        unsafe {
            bpf_probe_read_kernel((task + cfg.offsets.task_exit_code as u64) as *const u32)
                .unwrap_or(0)
        }
    } else {
        0
    };
    let ev = ExitEvent {
        hdr,
        proc_ktime: ktime,
        code,
        pad: 0,
    };
    if EVENTS.output(&ev, 0).is_err() {
        count(stat::RINGBUF_DROPS);
    }
    0
}

/// The generic syscall hook, attached to every syscalls/sys_enter_* a policy
/// names. The syscall number picks the compiled hook: for syscall
/// tracepoints the kernel hands BPF a copy of the record whose first 8 bytes
/// (where `common_type` would be) hold a pt_regs pointer instead.
#[tracepoint]
pub fn veto_sys_enter(ctx: TracePointContext) -> u32 {
    if let Ok(nr) = unsafe { ctx.read_at::<u32>(8) } {
        unsafe { on_hook(&ctx, nr & !TP_KEY) };
    }
    0
}

/// The 32-bit compat entry (`int 0x80`, or a 32-bit process), which never
/// reaches syscalls/sys_enter_*: raw_syscalls/sys_enter sees every entry. Its
/// record has the id at 8 and the arguments from 16, the same layout as the
/// syscall tracepoints, so the same compiled table reads the arguments.
#[tracepoint]
pub fn veto_compat(ctx: TracePointContext) -> u32 {
    let Ok(id) = (unsafe { ctx.read_at::<u64>(8) }) else {
        return 0;
    };

    if id >= 1024 {
        return 0;
    }
    let key = id as u32 | COMPAT_KEY;
    // Cheapest test first: almost no syscall number has a compat hook.
    if unsafe { HOOKS.get(&key) }.is_none() {
        return 0;
    }
    let Some(cfg) = config() else { return 0 };
    if cfg.compat_status_off == 0 {
        return 0;
    }
    let task = unsafe { aya_ebpf::helpers::bpf_get_current_task() };
    let status = unsafe {
        bpf_probe_read_kernel((task + cfg.compat_status_off as u64) as *const u32).unwrap_or(0)
    };
    if status & TS_COMPAT == 0 {
        return 0;
    }
    unsafe { on_hook(&ctx, key) };
    0
}

/// The same hook for any other tracepoint: its `common_type` picks the table.
#[tracepoint]
pub fn veto_tracepoint(ctx: TracePointContext) -> u32 {
    if let Ok(ty) = unsafe { ctx.read_at::<u16>(0) } {
        unsafe { on_hook(&ctx, ty as u32 | TP_KEY) };
    }
    0
}

#[inline(always)]
fn set_bit(p: &mut u32, i: usize) {
    // Volatile: the bit masks must reach the scratch map rather than stay
    // compile-time constants, or the verifier tracks every combination of
    // them as a distinct state and never prunes.
    unsafe { core::ptr::write_volatile(p, core::ptr::read_volatile(p) | (1 << i)) };
}

#[inline(always)]
unsafe fn on_hook(ctx: &TracePointContext, key: u32) {
    let Some(cfg) = config() else { return };
    if !in_scope(cfg) {
        return;
    }
    let Some(hook) = (unsafe { HOOKS.get(&key) }) else {
        return;
    };
    let Some(sc) = HOOK_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    let sc = unsafe { &mut *sc };
    let hdr = header(kind::HOOK);
    sc.ev.hdr = hdr;
    sc.ev.hook_id = hook.hook_id;
    sc.ev.arg_unreadable = 0;
    let sub = &mut sc.subject;
    sub.pid = hdr.pid;
    sub.args_read = 0;
    sub.args_signed = 0;
    sub.args_str = 0;

    match unsafe { PROCS.get(&hdr.pid) } {
        Some(p) => {
            sc.ev.proc_ktime = p.ktime;
            sc.ev.proc_flags = p.flags;
            sc.ev.bin.bytes = p.path;
            sc.bin_rev.bytes = p.path_rev;
            sc.lens[MAX_ARGS] = p.path_len;
            sub.bin_resolved = (p.flags & flags::PATH_RESOLVED) as u32;
            sub.bin_marks = p.bin_marks;
            sub.pid_marks = p.pid_marks;
        }
        None => {
            count(stat::PROC_UNKNOWN);
            sc.ev.proc_ktime = 0;
            sc.ev.proc_flags = 0;
            sc.lens[MAX_ARGS] = 0;
            sub.bin_resolved = 0;
            sub.bin_marks = 0;
            sub.pid_marks = 0;
            unsafe { zero_bytes(sc.ev.bin.bytes.as_mut_ptr(), STR_LEN) };
        }
    }

    for i in 0..MAX_ARGS {
        let spec = &hook.args[i];
        sc.ev.ints[i] = 0;
        sc.lens[i] = 0;
        if spec.kind == arg_kind::INT {
            let raw = unsafe { ctx.read_at::<u64>((spec.offset & 0xfff) as usize) }.unwrap_or(0);
            // Shift pairs instead of a match on width: one path, not seven.
            let shift = (64 - 8 * (spec.size as u32 & 15)) & 63;
            let v = if spec.signed != 0 {
                set_bit(&mut sc.subject.args_signed, i);
                (((raw << shift) as i64) >> shift) as u64
            } else {
                (raw << shift) >> shift
            };
            sc.ev.ints[i] = v;
            set_bit(&mut sc.subject.args_read, i);
        } else if spec.kind == arg_kind::STR {
            set_bit(&mut sc.subject.args_str, i);
            let slot = &mut sc.ev.strs[i];
            unsafe { zero_bytes(slot.bytes.as_mut_ptr(), STR_LEN) };
            let ptr = unsafe { ctx.read_at::<u64>((spec.offset & 0xfff) as usize) }.unwrap_or(0);
            match unsafe { bpf_probe_read_user_str_bytes(ptr as *const u8, &mut slot.bytes) } {
                Ok(b) => {
                    let len = b.len();
                    unsafe { core::ptr::write_volatile(&mut sc.lens[i], len as u32) };
                    set_bit(&mut sc.subject.args_read, i);
                    if spec.needs_rev != 0 {
                        reverse_into(&sc.ev.strs[i].bytes, len, &mut sc.rev[i].bytes);
                    }
                }
                Err(_) => {
                    set_bit(&mut sc.ev.arg_unreadable, i);
                    count(stat::ARG_UNREADABLE);
                }
            }
        }
    }
    sc.subject.ints = sc.ev.ints;
    // Read back as unknown values (see set_bit).
    let subject: Subject = unsafe { core::ptr::read_volatile(&sc.subject) };

    // Every policy acts, but the caller gets one signal: the strongest asked
    // for (SIGKILL over any other), so a milder signal from one policy never
    // stands beside, or in place of, another policy's kill.
    unsafe { core::ptr::write_volatile(&mut sc.sig, 0) };
    let n = hook.n_policies as usize;
    for i in 0..MAX_POLICIES_PER_HOOK {
        if i >= n {
            break;
        }
        let policy = &hook.policies[i];
        let mut lk = KernelLookups { sc: &mut *sc };
        let Some(d) = evaluate_policy(policy, &subject, &mut lk) else {
            continue;
        };
        if d.sig != 0 {
            let cur = unsafe { core::ptr::read_volatile(&sc.sig) };
            unsafe { core::ptr::write_volatile(&mut sc.sig, stronger_signal(cur, d.sig)) };
        }
        if d.post {
            sc.ev.policy_id = policy.policy_id;
            sc.ev.selector = d.selector;
            sc.ev.action = d.action;
            sc.ev.sig = d.sig;
            if EVENTS.output(&sc.ev, 0).is_err() {
                count(stat::RINGBUF_DROPS);
            }
        }
    }
    let sig = unsafe { core::ptr::read_volatile(&sc.sig) };
    if sig != 0 {
        unsafe { r#gen::bpf_send_signal(sig) };
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // A `loop {}` here leaves a jump the verifier rejects; the programs are
    // written so that nothing can panic, which makes this unreachable.
    unsafe { core::hint::unreachable_unchecked() }
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

// Keeps `StrSlot` in the object's BTF-free type list honest: the lookups build
// keys in place inside records, so the layout must match the LPM key wrapper.
const _: () = assert!(core::mem::size_of::<StrSlot>() == 4 + 4 + STR_LEN);

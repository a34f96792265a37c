//! [`Lookups`] over the kernel maps. Keys are built in place inside the record
//! being assembled: the string slot's head and set id are overwritten before
//! each lookup, so no string is ever copied for a lookup.

use aya_ebpf::maps::lpm_trie::Key;
use veto_common::{
    HookScratch, IntKey, MAX_ARGS, PidKey, StrData, StrSlot,
    matching::{Lookups, StrRef},
};

use crate::maps::{INT_SET, PID_SET, STR_PREFIX, STR_SET};

pub struct KernelLookups<'a> {
    pub sc: &'a mut HookScratch,
}

impl KernelLookups<'_> {
    #[inline(always)]
    fn slot(&mut self, s: StrRef, reversed: bool) -> (&mut StrSlot, u32) {
        match s {
            StrRef::Binary => {
                let len = unsafe { core::ptr::read_volatile(&self.sc.lens[MAX_ARGS]) };
                if reversed {
                    (&mut self.sc.bin_rev, len)
                } else {
                    (&mut self.sc.ev.bin, len)
                }
            }
            StrRef::Arg(i) => {
                let i = (i as usize) % MAX_ARGS;
                let len = unsafe { core::ptr::read_volatile(&self.sc.lens[i]) };
                if reversed {
                    (&mut self.sc.rev[i], len)
                } else {
                    (&mut self.sc.ev.strs[i], len)
                }
            }
        }
    }

    #[inline(always)]
    fn lpm(&mut self, s: StrRef, set: u32, reversed: bool) -> bool {
        let (slot, len) = self.slot(s, reversed);
        slot.head = if reversed {
            StrSlot::postfix_bits(len)
        } else {
            StrSlot::lpm_bits(len)
        };
        slot.set_id = set;
        // SAFETY: StrSlot is laid out exactly as the trie's packed key
        // (u32 prefix length, then StrData).
        let key = unsafe { &*(slot as *const StrSlot as *const Key<StrData>) };
        STR_PREFIX.get(key).is_some()
    }
}

impl Lookups for KernelLookups<'_> {
    #[inline(always)]
    fn str_in(&mut self, s: StrRef, set: u32) -> bool {
        let (slot, _) = self.slot(s, false);
        slot.head = 0;
        slot.set_id = set;
        unsafe { STR_SET.get(slot) }.is_some()
    }

    #[inline(always)]
    fn str_prefix(&mut self, s: StrRef, set: u32) -> bool {
        self.lpm(s, set, false)
    }

    #[inline(always)]
    fn str_postfix(&mut self, s: StrRef, set: u32) -> bool {
        self.lpm(s, set, true)
    }

    #[inline(always)]
    fn int_in(&mut self, set: u32, value: u64) -> bool {
        let key = IntKey {
            set_id: set,
            pad: 0,
            value,
        };
        unsafe { INT_SET.get(&key) }.is_some()
    }

    #[inline(always)]
    fn pid_in(&mut self, set: u32, pid: u32) -> bool {
        let key = PidKey { set_id: set, pid };
        unsafe { PID_SET.get(&key) }.is_some()
    }
}

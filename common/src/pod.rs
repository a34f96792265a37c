//! `aya::Pod` for every type that crosses into a map (user side only; the trait
//! is foreign to both crates, so the impls must live beside the types).

use crate::abi::*;
use crate::offsets::KernelOffsets;

// SAFETY: each type is #[repr(C)], made of integers and byte arrays, with
// explicit padding fields, so any bit pattern is valid and none is uninitialised.
unsafe impl aya::Pod for StrSlot {}
unsafe impl aya::Pod for StrData {}
unsafe impl aya::Pod for IntKey {}
unsafe impl aya::Pod for PidKey {}
unsafe impl aya::Pod for ProcInfo {}
unsafe impl aya::Pod for Config {}
unsafe impl aya::Pod for HookTable {}
unsafe impl aya::Pod for KernelOffsets {}

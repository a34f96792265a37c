//! Where veto attaches each hook and what it needs from the kernel.

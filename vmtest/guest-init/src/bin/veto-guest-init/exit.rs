//! Leaving the VM with a status the host can tell apart from a panic.

use veto_guest::protocol::DONE_EXIT_VALUE;

/// Writes `value` to QEMU's isa-debug-exit port (0xf4), which ends QEMU with status
/// `(value << 1) | 1`. If the port is missing the machine is powered off instead,
/// which the host reads as "no exit code": a failure.
pub fn exit_qemu(value: u8) -> ! {
    // SAFETY: plain syscalls; ioperm grants this process access to the one port, and
    // the `out` instruction touches only that port.
    unsafe {
        libc::sync();
        if libc::ioperm(0xf4, 4, 1) == 0 {
            core::arch::asm!("out dx, al", in("dx") 0xf4u16, in("al") value, options(nomem, nostack));
        }
        eprintln!(
            "veto-guest-init: isa-debug-exit did not end the VM (value {value:#x}, done={})",
            value == DONE_EXIT_VALUE
        );
        libc::reboot(libc::LINUX_REBOOT_CMD_POWER_OFF);
    }
    loop {
        std::thread::park();
    }
}

//! The QEMU driver: fetch and unpack kernels, build the initramfs, boot, collect results.

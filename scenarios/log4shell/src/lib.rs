//! The Log4Shell scenario.

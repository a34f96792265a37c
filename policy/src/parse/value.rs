//! Integer values as Tetragon reads them.
//!
//! Tetragon parses integer selector values with Go's base-0 rules, so `0x1f`, `0o17`,
//! `0b101`, a leading-zero octal such as `0755`, and a leading `-` all mean what they
//! mean in Go. veto follows the same rules so a policy means the same number in both.
//! Underscore digit separators (also Go) are refused: nobody writes them in a
//! policy, and `1_000` reads like a typo.

/// Parses `text` as an integer, or `None` when it is not one (or is beyond i128,
/// which is far past every argument type's range anyway).
pub(crate) fn parse_int(text: &str) -> Option<i128> {
    let t = text.trim();
    let (neg, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if let Some(d) = strip_prefix_ci(body, "0x") {
        (16, d)
    } else if let Some(d) = strip_prefix_ci(body, "0o") {
        (8, d)
    } else if let Some(d) = strip_prefix_ci(body, "0b") {
        (2, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: i128 = 0;
    for c in digits.chars() {
        let d = c.to_digit(radix)?;
        value = value.checked_mul(radix as i128)?.checked_add(d as i128)?;
    }
    Some(if neg { -value } else { value })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix) {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::parse_int;

    #[test]
    fn decimal_hex_octal_binary_and_sign() {
        assert_eq!(parse_int("42"), Some(42));
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("0x1F"), Some(31));
        assert_eq!(parse_int("-0x10"), Some(-16));
        assert_eq!(parse_int("0755"), Some(0o755));
        assert_eq!(parse_int("0o17"), Some(15));
        assert_eq!(parse_int("0b101"), Some(5));
        assert_eq!(parse_int("0"), Some(0));
        assert_eq!(parse_int("18446744073709551615"), Some(u64::MAX as i128));
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        for bad in ["", "-", "0x", "abc", "1.5", "1_000", "08", "12a", "--1"] {
            assert_eq!(parse_int(bad), None, "{bad:?}");
        }
    }
}

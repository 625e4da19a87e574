//! The one line format of every hashed encoding in the core (audit events, approval
//! fingerprints, change digests): `name=` then the value as `len:bytes`, or `~` when
//! absent, then a newline. Length prefixes keep any two different values from encoding
//! alike, whatever bytes they hold.

/// Appends the line `name=len:value\n`, or `name=~\n` when `value` is absent.
pub(crate) fn field(out: &mut Vec<u8>, name: &str, value: Option<&str>) {
    out.extend_from_slice(name.as_bytes());
    out.push(b'=');
    match value {
        None => out.push(b'~'),
        Some(text) => {
            out.extend_from_slice(text.len().to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(text.as_bytes());
        }
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn values_are_length_prefixed_and_absence_is_not_emptiness() {
        let mut out = Vec::new();
        field(&mut out, "a", Some("x\ny"));
        field(&mut out, "b", Some(""));
        field(&mut out, "c", None);
        assert_eq!(out, b"a=3:x\ny\nb=0:\nc=~\n");
    }
}

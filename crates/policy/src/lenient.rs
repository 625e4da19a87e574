//! The one lenient id reader every body guard uses (SPEC §3, body guards).
//!
//! An upstream CRM may read an id far more leniently than a strict parser: Java's
//! `Long.parseLong` takes the decimal digits of any script (`Character.digit`), Python's
//! `int()` also strips Unicode whitespace and takes `_` separators, `float()` and
//! `BigDecimal` take `.0` and exponent forms, `Long.decode` and JavaScript's `Number`
//! take `0x`/`0o`/`0b` prefixes (and `Long.decode` reads a leading `0` as octal). So a
//! guard reads ids in every way one of them might, and answers two questions:
//!
//! - [`may_name`] / [`text_may_name`]: could **some** lenient upstream read this as the
//!   id? Guards that **refuse** (assignment to the support user) ask this.
//! - [`surely_names`] / [`text_surely_names`]: would **every** upstream that reads it at
//!   all read the id? Guards that **allow** (self-only: "this is the support user
//!   itself") ask this, so that no reading names another user.
//!
//! Comparisons are exact, by decimal arithmetic on the digit string, never through
//! floating point. A number in float form (`.`, exponent, or a JSON float) within
//! rounding distance of the id could be rounded onto it by a `double`-based upstream,
//! so it *may* name the id but never *surely* does.
//!
//! Decimal digits of every script are recognised by their Unicode general category
//! `Nd` (from `unicode-properties`); their value follows from the Unicode stability
//! policy that every `Nd` character sits in a contiguous run of ten, ascending from 0.

use serde_json::Value;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// How far (in units) a float may lie from an id and still count as a spelling of it:
/// more than the rounding step of a `double` near `i64::MAX` (1024), so no float that a
/// lenient upstream could round onto the id slips through.
pub const ROUNDING_DISTANCE: f64 = 2048.0;

/// The value of a decimal digit of any script (`'7'`, `'７'`, `'٧'`, `'७'`, `'𝟕'`, …).
///
/// ```
/// use support_access_policy::lenient::digit_value;
/// assert_eq!(digit_value('7'), Some(7));
/// assert_eq!(digit_value('\u{FF17}'), Some(7)); // fullwidth
/// assert_eq!(digit_value('\u{0667}'), Some(7)); // Arabic-Indic
/// assert_eq!(digit_value('\u{096D}'), Some(7)); // Devanagari
/// assert_eq!(digit_value('\u{00B2}'), None); // superscript two is not a decimal digit
/// assert_eq!(digit_value('x'), None);
/// ```
pub fn digit_value(c: char) -> Option<u8> {
    if c.is_ascii() {
        return c.is_ascii_digit().then(|| c as u8 - b'0');
    }
    decimal_run(c).and_then(|(start, _)| u8::try_from((c as u32 - start) % 10).ok())
}

/// The run of decimal digits `c` belongs to, as `(first, last)` code points; runs are
/// whole sets of ten (the longest, the mathematical digits U+1D7CE…U+1D7FF, holds five).
fn decimal_run(c: char) -> Option<(u32, u32)> {
    if !is_decimal(c) {
        return None;
    }
    let walk = |step: fn(u32) -> Option<u32>| {
        let mut at = c as u32;
        while let Some(next) = step(at).and_then(char::from_u32) {
            if !is_decimal(next) {
                break;
            }
            at = next as u32;
        }
        at
    };
    Some((walk(|at| at.checked_sub(1)), walk(|at| at.checked_add(1))))
}

fn is_decimal(c: char) -> bool {
    c.general_category() == GeneralCategory::DecimalNumber
}

/// Characters a lenient parser strips around a number: Unicode whitespace, control
/// characters, and the invisible format characters (zero-width space, joiners, BOM).
fn is_padding(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(c, '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

/// The lenient readings of one text.
#[derive(Debug, Clone, Default, PartialEq)]
struct Readings {
    /// Read as a decimal number that is an integer: its magnitude, if it fits.
    integer: Option<u128>,
    /// Read as a decimal number, the text had a fraction or an exponent.
    float_form: bool,
    /// A float form's value, rounded to the nearest `f64` (for the rounding distance).
    approximate: Option<f64>,
    /// The text carries a minus sign: an upstream reads the negated value.
    negative: bool,
    /// Other readings: a radix prefix (`0x…`), or a leading `0` read as octal.
    other: Vec<u128>,
}

impl Readings {
    fn any(&self, id: u64) -> bool {
        let id = u128::from(id);
        self.integer == Some(id)
            || self.other.contains(&id)
            || (self.float_form
                && self.approximate.is_some_and(|f| {
                    #[allow(clippy::cast_precision_loss)]
                    let target = id as f64;
                    f.is_finite() && (f - target).abs() <= ROUNDING_DISTANCE
                }))
    }

    fn every(&self, id: u64) -> bool {
        let id = u128::from(id);
        !self.float_form
            && !self.negative
            && self.integer == Some(id)
            && self.other.iter().all(|&other| other == id)
    }
}

/// Maps the text to ASCII: digits of any script to `0-9`, fullwidth signs, point and
/// exponent letters to ASCII, separators (`_`) removed, padding trimmed. `None` if a
/// character remains that no number parser takes.
fn to_ascii(text: &str) -> Option<String> {
    let text = text.trim_matches(is_padding);
    let mut out = String::with_capacity(text.len());
    // The last run of non-ASCII digits seen: a text in one script looks its run up once.
    let mut run: Option<(u32, u32)> = None;
    for c in text.chars() {
        if c.is_ascii_digit() {
            out.push(c);
            continue;
        }
        let code = c as u32;
        let first = match run {
            Some((first, last)) if (first..=last).contains(&code) => Some(first),
            _ => {
                let found = decimal_run(c);
                if found.is_some() {
                    run = found;
                }
                found.map(|(first, _)| first)
            }
        };
        if let Some(first) = first {
            out.push(char::from(
                b'0' + u8::try_from((code - first) % 10).unwrap_or(0),
            ));
            continue;
        }
        match c {
            '_' | '\u{FF3F}' => {}
            '+' | '\u{FF0B}' => out.push('+'),
            '-' | '\u{FF0D}' | '\u{2212}' => out.push('-'),
            '.' | '\u{FF0E}' => out.push('.'),
            'e' | 'E' | '\u{FF45}' | '\u{FF25}' => out.push('e'),
            c if c.is_ascii_alphabetic() => out.push(c.to_ascii_lowercase()),
            '#' => out.push('#'),
            _ => return None,
        }
    }
    Some(out)
}

fn read(text: &str) -> Readings {
    let mut readings = Readings::default();
    let Some(ascii) = to_ascii(text) else {
        return readings;
    };
    readings.negative = ascii.starts_with('-');
    let unsigned = ascii
        .strip_prefix('+')
        .or_else(|| ascii.strip_prefix('-'))
        .unwrap_or(&ascii);
    let prefixed = [("0x", 16), ("#", 16), ("0o", 8), ("0b", 2)]
        .into_iter()
        .find_map(|(prefix, radix)| unsigned.strip_prefix(prefix).map(|rest| (rest, radix)));
    if let Some((digits, radix)) = prefixed {
        if let Some(value) = radix_value(digits, radix) {
            readings.other.push(value);
        }
        return readings;
    }
    read_decimal(unsigned, &mut readings);
    if readings.integer.is_some()
        && !readings.float_form
        && unsigned.len() > 1
        && unsigned.starts_with('0')
        && let Some(octal) = radix_value(&unsigned[1..], 8)
    {
        readings.other.push(octal);
    }
    readings
}

fn radix_value(digits: &str, radix: u32) -> Option<u128> {
    if digits.is_empty() {
        return None;
    }
    let mut value: u128 = 0;
    for c in digits.chars() {
        let d = c.to_digit(radix)?;
        value = value
            .checked_mul(u128::from(radix))?
            .checked_add(u128::from(d))?;
    }
    Some(value)
}

/// Reads `digits[.digits][e[+-]digits]` exactly.
fn read_decimal(text: &str, readings: &mut Readings) {
    let (mantissa, exponent) = match text.split_once('e') {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (text, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + fraction.map_or(0, str::len) == 0
        || !all_digits(whole)
        || !fraction.is_none_or(all_digits)
    {
        return;
    }
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !all_digits(digits) {
                return;
            }
            // Saturate: an exponent of thousands of digits is no id anyway.
            let magnitude = digits.bytes().fold(0i64, |acc, b| {
                acc.saturating_mul(10).saturating_add(i64::from(b - b'0'))
            });
            if e.starts_with('-') {
                -magnitude
            } else {
                magnitude
            }
        }
    };
    readings.float_form = fraction.is_some() || exponent != 0 || text.contains('e');
    if readings.float_form {
        readings.approximate = text.parse::<f64>().ok();
    }
    // value = digits × 10^scale
    let fraction = fraction.unwrap_or("");
    let digits: String = whole.chars().chain(fraction.chars()).collect();
    let digits = digits.trim_start_matches('0');
    let scale = exponent.saturating_sub(i64::try_from(fraction.len()).unwrap_or(i64::MAX));
    if digits.is_empty() {
        readings.integer = Some(0);
        return;
    }
    let significant = digits.trim_end_matches('0');
    let trailing = i64::try_from(digits.len() - significant.len()).unwrap_or(i64::MAX);
    let scale = scale.saturating_add(trailing);
    if !(0..=40).contains(&scale) {
        return; // not an integer, or far beyond 64 bits
    }
    let mut value: u128 = 0;
    for b in significant.bytes() {
        let Some(next) = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(b - b'0')))
        else {
            return;
        };
        value = next;
    }
    for _ in 0..scale {
        let Some(next) = value.checked_mul(10) else {
            return;
        };
        value = next;
    }
    readings.integer = Some(value);
}

/// Whether some lenient upstream could read `text` as `id` (see the module docs).
///
/// ```
/// use support_access_policy::lenient::text_may_name;
/// let id = 4150868000000225013;
/// for spelling in [
///     "4150868000000225013",
///     " +04150868000000225013\u{3000}",
///     "4_150_868_000_000_225_013",
///     "\u{FF14}\u{FF11}\u{FF15}\u{FF10}\u{FF18}\u{FF16}\u{FF18}\u{FF10}\u{FF10}\u{FF10}\u{FF10}\u{FF10}\u{FF10}\u{FF12}\u{FF12}\u{FF15}\u{FF10}\u{FF11}\u{FF13}",
///     "4150868000000225013.000",
///     "4.150868000000225013e18",
///     "41508680000002250130E-1",
///     "0x399AD874298CAEF5",
/// ] {
///     assert!(text_may_name(spelling, id), "{spelling}");
/// }
/// assert!(!text_may_name("4150868000000225014", id));
/// assert!(!text_may_name("4150868000000225013x", id));
/// ```
pub fn text_may_name(text: &str, id: u64) -> bool {
    read(text).any(id)
}

/// Whether every upstream that reads `text` as a number at all reads `id`: an integer
/// spelling of it (any script, separators, sign, padding), with no float form and no
/// other reading (octal, radix prefix).
///
/// ```
/// use support_access_policy::lenient::text_surely_names;
/// let id = 4150868000000225013;
/// assert!(text_surely_names("4150868000000225013", id));
/// assert!(text_surely_names(" 4_150_868_000_000_225_013 ", id));
/// assert!(!text_surely_names("4150868000000225013.0", id)); // a double-based upstream rounds it
/// assert!(!text_surely_names("0x399AD874298CAEF5", id)); // a decimal-only upstream reads 0
/// ```
pub fn text_surely_names(text: &str, id: u64) -> bool {
    read(text).every(id)
}

/// Whether some lenient upstream could read the JSON value as `id`: an integer equal to
/// it (either sign), a string [`text_may_name`] accepts, or a float within
/// [`ROUNDING_DISTANCE`].
pub fn may_name(value: &Value, id: u64) -> bool {
    match value {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u == id
            } else if let Some(i) = n.as_i64() {
                i.unsigned_abs() == id
            } else {
                #[allow(clippy::cast_precision_loss)]
                let target = id as f64;
                n.as_f64()
                    .is_some_and(|f| f.is_finite() && (f.abs() - target).abs() <= ROUNDING_DISTANCE)
            }
        }
        Value::String(s) => text_may_name(s, id),
        _ => false,
    }
}

/// Whether every upstream reads the JSON value as `id`: the integer itself, or a string
/// [`text_surely_names`] accepts. A float never surely names an id.
pub fn surely_names(value: &Value, id: u64) -> bool {
    match value {
        Value::Number(n) => n.as_u64() == Some(id),
        Value::String(s) => text_surely_names(s, id),
        _ => false,
    }
}

#[cfg(test)]
mod tests;

use proptest::prelude::*;
use serde_json::json;

use super::*;

const SUPPORT: u64 = 4_150_868_000_000_225_013;

/// The zero of some decimal digit sets: ASCII, fullwidth, Arabic-Indic, extended
/// Arabic-Indic, Devanagari, Bengali, Thai, Tibetan, Myanmar, mathematical bold and
/// monospace, Adlam.
const ZEROS: [u32; 12] = [
    0x30, 0xFF10, 0x660, 0x6F0, 0x966, 0x9E6, 0xE50, 0xF20, 0x1040, 0x1D7CE, 0x1D7F6, 0x1E950,
];

fn digit_in(zero: u32, d: u8) -> char {
    char::from_u32(zero + u32::from(d)).unwrap()
}

#[test]
fn every_run_of_decimal_digits_is_whole_sets_of_ten_with_values_zero_to_nine() {
    let mut run = 0u32;
    let mut runs = 0;
    for code in 0..=0x11_0000u32 {
        let c = char::from_u32(code);
        let decimal = c.is_some_and(is_decimal);
        if decimal {
            let c = c.unwrap();
            assert!(c.is_numeric(), "{c:?} is Nd, so numeric");
            assert_eq!(
                digit_value(c),
                Some(u8::try_from(run % 10).unwrap()),
                "{code:#x}"
            );
            run += 1;
        } else if run > 0 {
            assert_eq!(
                run % 10,
                0,
                "the run ending before {code:#x} is not whole tens"
            );
            runs += 1;
            run = 0;
        }
    }
    assert!(runs > 50, "the table knows many scripts ({runs} runs)");
    for zero in ZEROS {
        for d in 0..10 {
            assert_eq!(digit_value(digit_in(zero, d)), Some(d), "{zero:#x}+{d}");
        }
    }
    for c in ['a', '²', '½', 'Ⅳ', '①', ' ', '-'] {
        assert_eq!(digit_value(c), None, "{c:?}");
    }
}

#[test]
fn integers_strings_and_odd_spellings_may_name_the_id() {
    for value in [
        json!(SUPPORT),
        json!(-(SUPPORT as i64)),
        json!("4150868000000225013"),
        json!(" +04150868000000225013 "),
        json!("\u{00A0}4150868000000225013\u{200B}"),
        json!("4_150_868_000_000_225_013"),
        json!("4150868000000225013.0"),
        json!("4150868000000225013."),
        json!("4.150868000000225013E+18"),
        json!("415086800000022501300e-2"),
        json!("0x399ad874298caef5"),
        json!("#399AD874298CAEF5"),
        json!(4.150868000000225e18),
        // Not the id, but a double-based upstream rounds it onto the id.
        json!("4150868000000225013.5"),
        json!("4150868000000225000e0"),
    ] {
        assert!(may_name(&value, SUPPORT), "{value}");
    }
    for value in [
        json!(SUPPORT - 1),
        json!("4150868000000225014"),
        json!("4150868000000225013x"),
        json!("41508680000002250 13"),
        json!("4150868000000235013.5"),
        json!(1.5),
        json!(null),
        json!(true),
        json!(""),
        json!("_"),
        json!("e18"),
        json!("."),
    ] {
        assert!(!may_name(&value, SUPPORT), "{value}");
    }
}

#[test]
fn only_plain_integer_spellings_surely_name_the_id() {
    for value in [
        json!(SUPPORT),
        json!("4150868000000225013"),
        json!(" +4150868000000225013"),
        json!("4_150_868_000_000_225_013"),
        json!("04150868000000225013"), // holds an 8 and a 9: no octal reading
    ] {
        assert!(surely_names(&value, SUPPORT), "{value}");
    }
    for value in [
        json!(4.150868000000225e18),
        json!("4150868000000225013.0"),
        json!("4.150868000000225013e18"),
        json!("-4150868000000225013"),
        json!(-(SUPPORT as i64)),
        json!("0x399ad874298caef5"),
        json!("4150868000000225014"),
    ] {
        assert!(!surely_names(&value, SUPPORT), "{value}");
    }
}

#[test]
fn a_leading_zero_may_be_octal_so_it_never_surely_names_a_decimal_id() {
    // 0o17 = 15: Long.decode("017") is 15, Long.parseLong("017") is 17.
    assert!(text_may_name("017", 15));
    assert!(text_may_name("017", 17));
    assert!(!text_surely_names("017", 17));
    assert!(!text_surely_names("017", 15));
    assert!(text_surely_names("0", 0));
}

#[test]
fn escaped_unicode_digits_in_json_are_digits_after_decoding() {
    let digits: String = SUPPORT
        .to_string()
        .bytes()
        .map(|b| format!("\\u{:04x}", 0x0660 + u32::from(b - b'0')))
        .collect();
    let body: serde_json::Value = serde_json::from_str(&format!(r#"{{"id":"{digits}"}}"#)).unwrap();
    assert!(may_name(&body["id"], SUPPORT));
    assert!(surely_names(&body["id"], SUPPORT));
}

/// A spelling of `id`: each digit in a script of `scripts`, `_` after digits where
/// `separators` says so, optional padding, sign and leading zeros.
fn spell(
    id: u64,
    scripts: &[u8],
    separators: &[bool],
    zeros: usize,
    plus: bool,
    pad: bool,
) -> String {
    let mut out = String::new();
    if pad {
        out.push_str(" \u{3000}\t");
    }
    if plus {
        out.push('+');
    }
    let digits: Vec<u8> = std::iter::repeat_n(0u8, zeros)
        .chain(id.to_string().bytes().map(|b| b - b'0'))
        .collect();
    for (i, d) in digits.iter().enumerate() {
        let zero = ZEROS[usize::from(scripts[i % scripts.len()]) % ZEROS.len()];
        out.push(digit_in(zero, *d));
        if separators[i % separators.len()] && i + 1 < digits.len() {
            out.push('_');
        }
    }
    if pad {
        out.push_str("\u{00A0}\n");
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn every_unicode_digit_separator_and_padding_spelling_of_an_id_names_it(
        id in 1u64..=i64::MAX as u64,
        scripts in proptest::collection::vec(any::<u8>(), 1..20),
        separators in proptest::collection::vec(any::<bool>(), 1..20),
        zeros in 0usize..3,
        plus in any::<bool>(),
        pad in any::<bool>(),
    ) {
        let text = spell(id, &scripts, &separators, zeros, plus, pad);
        prop_assert!(text_may_name(&text, id), "{text:?}");
        prop_assert!(!text_may_name(&text, id ^ 1), "{text:?}");
        // Leading zeros and digits 0-7 only: an octal reading exists.
        let octal_ambiguous = zeros > 0 && id.to_string().bytes().all(|b| b < b'8');
        prop_assert_eq!(text_surely_names(&text, id), !octal_ambiguous, "{:?}", text);
        let json = serde_json::to_string(&text).unwrap();
        let escaped: String = json
            .chars()
            .map(|c| if c.is_ascii() { c.to_string() } else {
                let mut units = [0u16; 2];
                c.encode_utf16(&mut units).iter().map(|u| format!("\\u{u:04x}")).collect()
            })
            .collect();
        let value: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        prop_assert!(may_name(&value, id));
    }

    #[test]
    fn every_exponent_and_fraction_form_of_an_id_may_name_it_and_never_surely(
        id in 1u64..=i64::MAX as u64,
        point in 0usize..19,
        extra_zeros in 0usize..4,
        upper in any::<bool>(),
    ) {
        let digits = id.to_string();
        let point = point.min(digits.len() - 1);
        // d.ddd…e(k): the point after `point + 1` digits.
        let (head, tail) = digits.split_at(point + 1);
        let exponent = digits.len() - point - 1;
        let e = if upper { 'E' } else { 'e' };
        let text = format!("{head}.{tail}{}{e}{exponent}", "0".repeat(extra_zeros));
        prop_assert!(text_may_name(&text, id), "{}", text);
        prop_assert!(!text_surely_names(&text, id), "{}", text);
        let shifted = format!("{digits}{}e-{extra_zeros}", "0".repeat(extra_zeros));
        prop_assert!(text_may_name(&shifted, id), "{}", shifted);
        let with_fraction = format!("{digits}.{}", "0".repeat(extra_zeros + 1));
        prop_assert!(text_may_name(&with_fraction, id), "{}", with_fraction);
    }

    #[test]
    fn the_reader_never_panics(text in "\\PC{0,40}", id in any::<u64>()) {
        let _ = text_may_name(&text, id);
        let _ = text_surely_names(&text, id);
    }
}

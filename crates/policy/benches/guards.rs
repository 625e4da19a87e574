//! Body-guard time on the Zoho policy (issue 10): the strict reading (duplicate and
//! case-variant keys), the lenient id reader and the side-effect rewrites, on bodies of
//! the shapes the gateway reads on every guarded request.
//!
//! Run: `cargo bench -p support-access-policy --bench guards`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use chrono::DateTime;
use criterion::{Criterion, criterion_group, criterion_main};
use support_access_core::SupportUserId;
use support_access_policy::lenient::text_may_name;
use support_access_policy::{Policy, SupportContext, normalise_target};

const SUPPORT: u64 = 4_150_868_000_000_225_013;

fn guards(c: &mut Criterion) {
    let policy =
        Policy::from_toml_str(include_str!("../../../config/policy/zoho-crm-v8.toml")).unwrap();
    let ctx = SupportContext {
        support_user: SupportUserId::from_u64(SUPPORT),
        now: DateTime::parse_from_rfc3339("2026-01-15T10:00:00Z")
            .unwrap()
            .to_utc(),
    };
    let records: String = (0..20)
        .map(|i| {
            format!(
                r#"{{"Last_Name":"Doe {i}","First_Name":"Jane","Email":"j{i}@example.com","Phone":"+1 555 0100","Lead_Source":"Web","Annual_Revenue":125000,"Owner":{{"id":"111"}}}}"#
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    let create = format!(r#"{{"data":[{records}],"trigger":["workflow","approval"]}}"#);
    let decision = policy.decide("POST", &normalise_target("/crm/v8/Leads").unwrap());
    let mut group = c.benchmark_group("guards");
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("support_create_20_records", |b| {
        b.iter(|| {
            policy
                .guard_support_body(&decision, black_box(create.as_bytes()), &ctx)
                .unwrap()
        })
    });
    let users = [SupportUserId::from_u64(SUPPORT)];
    let change_owner =
        r#"{"owner":{"id":"４１５０８６８０００００００２２５０１３"},"notify":true}"#;
    group.bench_function("ordinary_change_owner_unicode_id", |b| {
        b.iter(|| {
            policy.check_ordinary_body(
                "POST",
                "/crm/v8/Leads/42/actions/change_owner",
                black_box(change_owner.as_bytes()),
                &users,
            )
        })
    });
    group.bench_function("lenient_id_exponent_form", |b| {
        b.iter(|| text_may_name(black_box("4.150868000000225013e18"), SUPPORT))
    });
    group.finish();
}

criterion_group!(benches, guards);
criterion_main!(benches);

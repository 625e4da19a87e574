//! (b) Every route of the SDK catalogue is classified; record CRUD stays allowed, High
//! routes are denied. (e) Literal segments beat parameters; modules are case-insensitive.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use support_access_policy::{GuardKind, Policy, Verdict, normalise_target};

fn policy() -> Policy {
    Policy::from_toml_str(include_str!("../../../config/policy/zoho-crm-v8.toml")).unwrap()
}

fn decide(policy: &Policy, method: &str, path: &str) -> support_access_policy::Decision {
    let target = normalise_target(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    policy.decide(method, &target)
}

/// Substitutes sample values for `{params}`; `{module}` becomes `Leads`.
fn sample(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment {
            "{module}" => "Leads".to_owned(),
            s if s.starts_with('{') => "4150868000000225013".to_owned(),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn catalogue() -> Vec<(String, String, String)> {
    // A copy of the team's reference `shared/reference/zoho-v8-routes.tsv` (every
    // operation of the official Zoho CRM v8 SDK), kept in the repository so the test
    // does not depend on where the clone sits.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/zoho-v8-routes.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split('\t');
            Some((
                cols.next()?.to_owned(),
                cols.next()?.to_owned(),
                cols.next()?.to_owned(),
            ))
        })
        .collect()
}

#[test]
fn every_catalogue_route_is_classified_without_a_normaliser_refusal() {
    let policy = policy();
    let routes = catalogue();
    assert_eq!(routes.len(), 425);
    let (mut allowed_count, mut denied_count) = (0, 0);
    for (method, template, operation) in &routes {
        // Absolute download URLs on other hosts never reach the gateway.
        let Some(path) = template
            .strip_prefix("https://content.zohoapis.com")
            .or(Some(template.as_str()))
            .filter(|t| *t != "/{download_url}")
        else {
            continue;
        };
        let decision = decide(&policy, method, &sample(path));
        match decision.verdict {
            Verdict::Allowed => allowed_count += 1,
            Verdict::Denied => denied_count += 1,
        }
        assert!(
            decision.verdict == Verdict::Allowed || decision.rule.is_some(),
            "{operation}: a denial names its rule"
        );
    }
    assert!(
        allowed_count > 250 && denied_count > 60,
        "{allowed_count} / {denied_count}"
    );
}

/// The record routes restriction-map.md lists under "must stay allowed".
const MUST_STAY_ALLOWED: &[&str] = &[
    "GET /crm/v8/{module}",
    "POST /crm/v8/{module}",
    "PUT /crm/v8/{module}",
    "DELETE /crm/v8/{module}",
    "GET /crm/v8/{module}/{id}",
    "PUT /crm/v8/{module}/{id}",
    "DELETE /crm/v8/{module}/{id}",
    "GET /crm/v8/{module}/{external_field_value}",
    "PUT /crm/v8/{module}/{external_field_value}",
    "DELETE /crm/v8/{module}/{external_field_value}",
    "POST /crm/v8/{module}/upsert",
    "GET /crm/v8/{module}/search",
    "GET /crm/v8/{module}/deleted",
    "GET /crm/v8/{module}/actions/count",
    "POST /crm/v8/{module}/actions/mass_update",
    "GET /crm/v8/{module}/actions/mass_update",
    "POST /crm/v8/{module}/{id}/actions/clone",
    "GET /crm/v8/{module}/{id}/actions/fetch_full_data",
    "GET /crm/v8/{module}/actions/fetch_full_data",
    "GET /crm/v8/{module}/{id}/photo",
    "POST /crm/v8/{module}/{id}/photo",
    "DELETE /crm/v8/{module}/{id}/photo",
    "POST /crm/v8/{module}/actions/assign_territories",
    "POST /crm/v8/{module}/{id}/actions/assign_territories",
    "POST /crm/v8/{module}/actions/remove_territories",
    "POST /crm/v8/{module}/{id}/actions/remove_territories",
    "POST /crm/v8/coql",
    "GET /crm/v8/{module}/{record_id}/{related_list_api_name}",
    "PUT /crm/v8/{module}/{record_id}/{related_list_api_name}",
    "DELETE /crm/v8/{module}/{record_id}/{related_list_api_name}",
    "GET /crm/v8/{module}/{record_id}/{related_list_api_name}/{related_record_id}",
    "PUT /crm/v8/{module}/{record_id}/{related_list_api_name}/{related_record_id}",
    "DELETE /crm/v8/{module}/{record_id}/{related_list_api_name}/{related_record_id}",
    "GET /crm/v8/{module}/deleted/{record_id}/{related_list_api_name}",
    "POST /crm/v8/{module}/{record_id}/actions/get_related_records_count",
    "GET /crm/v8/Notes",
    "POST /crm/v8/Notes",
    "PUT /crm/v8/Notes",
    "DELETE /crm/v8/Notes",
    "GET /crm/v8/Notes/{id}",
    "PUT /crm/v8/Notes/{id}",
    "DELETE /crm/v8/Notes/{id}",
    "GET /crm/v8/{module}/{record_id}/Attachments",
    "POST /crm/v8/{module}/{record_id}/Attachments",
    "DELETE /crm/v8/{module}/{record_id}/Attachments",
    "GET /crm/v8/{module}/{record_id}/Attachments/{id}",
    "DELETE /crm/v8/{module}/{record_id}/Attachments/{id}",
    "POST /crm/v8/files",
    "GET /crm/v8/files",
    "GET /crm/v8/{module}/{record_id}/actions/download_fields_attachment",
    "POST /crm/v8/{module}/{record_id}/actions/add_tags",
    "POST /crm/v8/{module}/{record_id}/actions/remove_tags",
    "POST /crm/v8/{module}/actions/add_tags",
    "POST /crm/v8/{module}/actions/remove_tags",
    "POST /crm/v8/Leads/{lead_id}/actions/convert",
    "GET /crm/v8/Leads/{lead_id}/__conversion_options",
    "POST /crm/v8/Leads/actions/mass_convert",
    "GET /crm/v8/Leads/actions/mass_convert",
    "POST /crm/v8/{module}/{id}/actions/convert",
    "POST /crm/v8/{module}/actions/mass_convert",
    "GET /crm/v8/{module}/actions/mass_convert",
    "GET /crm/v8/{module}/{masterrecordid}/actions/merge",
    "POST /crm/v8/{module}/{masterrecordid}/actions/merge",
    "POST /crm/v8/{module}/actions/mass_delete",
    "GET /crm/v8/{module}/actions/mass_delete",
    "POST /crm/v8/{module}/{id}/actions/change_owner",
    "POST /crm/v8/{module}/actions/change_owner",
    "POST /crm/v8/{module}/actions/mass_change_owner",
    "GET /crm/v8/{module}/actions/mass_change_owner",
    "GET /crm/v8/{module}/{record_id}/actions/blueprint",
    "PUT /crm/v8/{module}/{record_id}/actions/blueprint",
    "GET /crm/v8/{module}/{record_id}/Locking_Information__s",
    "POST /crm/v8/{module}/{record_id}/Locking_Information__s",
    "GET /crm/v8/{module}/{record_id}/Locking_Information__s/{lock_id}",
    "PUT /crm/v8/{module}/{record_id}/Locking_Information__s/{lock_id}",
    "DELETE /crm/v8/{module}/{record_id}/Locking_Information__s/{lock_id}",
    "GET /crm/v8/{module}/{record_id}/actions/share",
    "POST /crm/v8/{module}/{record_id}/actions/share",
    "PUT /crm/v8/{module}/{record_id}/actions/share",
    "DELETE /crm/v8/{module}/{record_id}/actions/share",
    "GET /crm/v8/{module}/{record_id}/__timeline",
    "GET /crm/v8/{module}/{record_id}/Emails",
    "GET /crm/v8/{module}/{record_id}/Emails/{message_id}",
    "GET /crm/v8/{module}/{record_id}/Emails/actions/download_attachments",
    "GET /crm/v8/{module}/{record_id}/Emails/actions/download_inline_images",
    "GET /crm/v8/{module}/{record_id}/__emails_sharing_details",
    "GET /crm/v8/Deals/{deal}/Contact_Roles",
    "GET /crm/v8/Deals/{deal}/Contact_Roles/{contact}",
    "PUT /crm/v8/Deals/{deal}/Contact_Roles/{contact}",
    "DELETE /crm/v8/Deals/{deal}/Contact_Roles/{contact}",
    "GET /crm/v8/Appointments_Rescheduled_History__s",
    "POST /crm/v8/Appointments_Rescheduled_History__s",
    "PUT /crm/v8/Appointments_Rescheduled_History__s",
    "GET /crm/v8/Appointments_Rescheduled_History__s/{id}",
    "PUT /crm/v8/Appointments_Rescheduled_History__s/{id}",
    "DELETE /crm/v8/Appointments_Rescheduled_History__s/{id}",
    "GET /crm/v8/Entity_Scores__s",
    "GET /crm/v8/Entity_Scores__s/{record_id}",
    "POST /crm/bulk/v8/write",
    "GET /crm/bulk/v8/write/{job_id}",
    "POST /crm/v8/upload",
    // SDK start-up and metadata reads.
    "GET /crm/v8/users?type=CurrentUser",
    "GET /crm/v8/org",
    "GET /crm/v8/settings/fields?module=Leads",
    "GET /crm/v8/settings/related_lists?module=Leads",
    "GET /crm/v8/settings/modules",
];

#[test]
fn record_crud_and_sdk_start_up_reads_stay_allowed() {
    let policy = policy();
    let catalogue = catalogue();
    for entry in MUST_STAY_ALLOWED {
        let (method, template) = entry.split_once(' ').unwrap();
        let bare = template.split('?').next().unwrap();
        assert!(
            catalogue
                .iter()
                .any(|(m, t, _)| m == method && (t == bare || t.ends_with(bare))),
            "{entry} is not in the SDK catalogue"
        );
        let decision = decide(&policy, method, &sample(template));
        assert_eq!(decision.verdict, Verdict::Allowed, "{entry}: {decision:?}");
    }
}

/// Every High route of restriction-map.md (plus the decided Med/Low ones).
const MUST_BE_DENIED: &[&str] = &[
    // 2
    "DELETE /crm/v8/users/{user}",
    "POST /crm/v8/users/{id}/actions/transfer_and_delete",
    "POST /crm/v8/users/actions/transfer_and_delete",
    "POST /crm/v8/users",
    "PUT /crm/v8/users/{user}/territories",
    "DELETE /crm/v8/settings/territories/{territory}/users/{user}",
    "POST /crm/v8/settings/users_unavailability",
    // 3
    "POST /crm/v8/{module}/{id}/actions/send_mail_merge",
    "POST /crm/v8/{module}/{id}/actions/download_mail_merge",
    "POST /crm/v8/{module}/{id}/actions/sign_mail_merge",
    // 5
    "POST /crm/v8/{module}/{id}/actions/send_mail",
    "POST /crm/v8/{module}/{record}/actions/portal_invite",
    "POST /crm/v8/Events/{event}/actions/cancel",
    // 6
    "POST /crm/v8/{module}/actions/enrol_in_cadences",
    "PUT /crm/email/v8/settings/compose",
    "POST /crm/email/v8/settings/compose/email_signatures",
    "DELETE /crm/email/v8/settings/compose/email_signatures/{id}",
    "POST /crm/v8/settings/unsubscribe_links",
    "POST /crm/v8/{module}/{id}/actions/unblock_email",
    "POST /crm/v8/{module}/actions/share_emails",
    // 7
    "POST /crm/bulk/v8/read",
    "GET /crm/bulk/v8/read/{job_id}/result",
    "GET /crm/bulk/v8/read/{job_id}",
    "POST /crm/bulk/v8/backup",
    "GET /crm/bulk/v8/backup/urls",
    "GET /crm/bulk/v8/backup",
    "GET /crm/bulk/v8/backup/history",
    "PUT /crm/bulk/v8/backup/{id}/actions/cancel",
    // 9
    "POST /crm/v8/settings/audit_log_export",
    "GET /crm/v8/settings/audit_log_export",
    "GET /crm/v8/settings/audit_log_export/{id}",
    // 11
    "POST /crm/v8/org/photo",
    "DELETE /crm/v8/org/photo",
    "POST /crm/v8/org/currencies",
    "PUT /crm/v8/org/currencies",
    "PUT /crm/v8/org/currencies/{id}",
    "POST /crm/v8/org/currencies/actions/enable",
    "PUT /crm/v8/org/currencies/actions/enable",
    "PUT /crm/v8/settings/fiscal_year",
    "POST /crm/v8/settings/business_hours",
    "PUT /crm/v8/settings/business_hours",
    "POST /crm/v8/settings/business_hours/shift_hours",
    "PUT /crm/v8/settings/business_hours/shift_hours",
    "PUT /crm/v8/settings/business_hours/shift_hours/{shift_id}",
    "DELETE /crm/v8/settings/business_hours/shift_hours/{shift_id}",
    "POST /crm/v8/settings/holidays",
    "PUT /crm/v8/settings/holidays",
    "PUT /crm/v8/settings/holidays/{holiday_id}",
    "DELETE /crm/v8/settings/holidays/{holiday_id}",
    "PUT /crm/v8/org/taxes",
    // 12
    "POST /crm/v8/settings/profiles/{id}/actions/clone",
    "PUT /crm/v8/settings/profiles/{id}",
    "DELETE /crm/v8/settings/profiles/{id}",
    "POST /crm/v8/settings/roles",
    "PUT /crm/v8/settings/roles",
    "PUT /crm/v8/settings/roles/{role_id}",
    "DELETE /crm/v8/settings/roles/{role_id}",
    "PUT /crm/v8/settings/data_sharing",
    "POST /crm/v8/settings/data_sharing/rules",
    "POST /crm/v8/settings/data_sharing/rules/actions/run",
    "POST /crm/v8/settings/territories",
    "POST /crm/v8/settings/territories/actions/transfer_and_delete",
    "POST /crm/v8/settings/portals/{portal}/user_type",
    // 13 and decisions
    "POST /crm/v8/functions/{function_name}/actions/execute",
    "GET /crm/v8/functions/{function_name}/actions/execute",
    "POST /crm/v8/actions/watch",
    "PATCH /crm/v8/actions/watch",
    "DELETE /crm/v8/actions/watch",
    "POST /crm/v8/signals/notifications",
    "POST /crm/v8/__digest",
    "DELETE /crm/v8/settings/recycle_bin",
    "DELETE /crm/v8/settings/recycle_bin/{record_id}",
    "POST /crm/v8/settings/tags/actions/mass_delete",
    // 25
    "POST /crm/v8/__zia_org_enrichment",
    "GET /crm/v8/__zia_org_enrichment",
    "GET /crm/v8/__zia_org_enrichment/{zia_org_enrichment_id}",
    "POST /crm/v8/__zia_people_enrichment",
    "GET /crm/v8/__zia_people_enrichment/{zia_people_enrichment_id}",
];

#[test]
fn every_high_route_of_the_restriction_map_is_denied() {
    let policy = policy();
    for entry in MUST_BE_DENIED {
        let (method, template) = entry.split_once(' ').unwrap();
        let decision = decide(&policy, method, &sample(template));
        assert_eq!(decision.verdict, Verdict::Denied, "{entry}: {decision:?}");
        assert!(
            decision.rule.is_some() && decision.code.is_some(),
            "{entry}"
        );
    }
}

#[test]
fn denials_report_the_restriction_of_their_rule() {
    let policy = policy();
    for (entry, restriction) in [
        ("POST /crm/v8/Leads/1/actions/send_mail", 5),
        ("POST /crm/bulk/v8/read", 7),
        ("POST /crm/v8/settings/audit_log_export", 9),
        ("DELETE /crm/v8/users/1", 2),
        ("PUT /crm/v8/settings/fiscal_year", 11),
        ("GET /support-access/v1/grant", 1),
    ] {
        let (method, path) = entry.split_once(' ').unwrap();
        let decision = decide(&policy, method, path);
        assert_eq!(
            decision.restriction,
            Some(restriction),
            "{entry}: {decision:?}"
        );
    }
}

#[test]
fn literal_segments_beat_the_module_parameter() {
    let policy = policy();
    // POST /crm/v8/coql is a read, not record creation in a module "coql".
    let coql = decide(&policy, "POST", "/crm/v8/coql");
    assert!(coql.is_allowed() && coql.guards.is_empty(), "{coql:?}");
    let leads = decide(&policy, "POST", "/crm/v8/Leads");
    assert!(leads.has_guard(|g| *g == GuardKind::OwnerToSupportUser));
    // settings/fields is customization, not a record update in module "settings".
    assert!(decide(&policy, "GET", "/crm/v8/settings/fields").is_allowed());
    let settings_put = decide(&policy, "PUT", "/crm/v8/settings/audit_log_export");
    assert_eq!(settings_put.restriction, Some(9));
    // users/{user} is a user, not a record: self-only, not the date guard.
    let user = decide(&policy, "PUT", "/crm/v8/users/42");
    assert!(
        user.has_guard(
            |g| matches!(g, GuardKind::SelfOnly { path_user: Some(u), .. } if u == "42")
        )
    );
    assert!(!user.has_guard(|g| matches!(g, GuardKind::DateGuard { .. })));
}

#[test]
fn a_literal_branch_that_does_not_lead_to_a_route_falls_back_to_parameters() {
    let policy = policy();
    for path in [
        "/crm/v8/Events/1/actions/send_mail",
        "/crm/v8/users/1/actions/send_mail",
        "/crm/v8/settings/1/actions/send_mail",
        "/crm/v8/functions/1/actions/send_mail",
        "/crm/v8/org/1/actions/send_mail",
    ] {
        let decision = decide(&policy, "POST", path);
        assert_eq!(decision.verdict, Verdict::Denied, "{path}: {decision:?}");
    }
}

#[test]
fn module_names_and_literals_match_in_any_letter_case() {
    let policy = policy();
    for path in [
        "/crm/v8/leads/1/actions/send_mail",
        "/crm/v8/LEADS/1/Actions/Send_Mail",
        "/CRM/V8/Leads/1/actions/SEND_MAIL",
        "/crm/BULK/v8/READ",
        "/crm/v8/Settings/Audit_Log_Export",
        "/crm/v8/events/1/actions/CANCEL",
    ] {
        assert_eq!(
            decide(&policy, "POST", path).verdict,
            Verdict::Denied,
            "{path}"
        );
    }
    let lower = decide(&policy, "POST", "/crm/v8/notes");
    assert!(lower.has_guard(|g| *g == GuardKind::OwnerToSupportUser));
}

#[test]
fn every_api_version_is_covered_and_odd_prefixes_are_denied() {
    let policy = policy();
    for path in [
        "/crm/v2/Leads/1/actions/send_mail",
        "/crm/v2.1/Leads/1/actions/send_mail",
        "/crm/v7/settings/audit_log_export",
        "/crm/bulk/v3/read",
        "/crm/v99/settings/audit_log_export",
        "/crm/x/v8/settings/audit_log_export",
        "/crm/x/v8/Leads",
        "/crm/bulk/x/read",
        "/crm/v8.0.1/Leads",
        "/crm",
    ] {
        assert_eq!(
            decide(&policy, "POST", path).verdict,
            Verdict::Denied,
            "{path}"
        );
    }
    assert!(decide(&policy, "GET", "/crm/v2.1/Leads").is_allowed());
    assert_eq!(
        decide(&policy, "GET", "/crm/x/v8/Leads").code,
        Some("unknown_api_prefix")
    );
}

#[test]
fn head_is_get_and_unknown_methods_are_refused_on_restricted_paths() {
    let policy = policy();
    assert!(decide(&policy, "HEAD", "/crm/v8/settings/fields").is_allowed());
    assert!(!decide(&policy, "HEAD", "/crm/v8/settings/audit_log_export").is_allowed());
    for method in ["OPTIONS", "post", "get", "TRACE", "FOO", "PROPFIND"] {
        let decision = decide(&policy, method, "/crm/bulk/v8/read");
        assert_eq!(decision.code, Some("method_not_allowed"), "{method}");
        let decision = decide(&policy, method, "/crm/v8/Leads/1/actions/send_mail");
        assert_eq!(decision.verdict, Verdict::Denied, "{method}");
    }
    // On a path no method is denied, an unknown method carries every method's guards.
    let options = decide(&policy, "post", "/crm/v8/Leads");
    assert!(options.is_allowed());
    assert!(options.has_guard(|g| *g == GuardKind::NoAssignToSupportUser));
}

#[test]
fn the_refusal_shape_is_zoho_on_crm_routes_and_generic_elsewhere() {
    let policy = policy();
    use support_access_policy::RefusalShape;
    assert_eq!(
        policy.refusal_shape_for("/crm/v8/Leads"),
        RefusalShape::Zoho
    );
    assert_eq!(
        policy.refusal_shape_for("/support-access/v1/grant"),
        RefusalShape::Generic
    );
}

#[test]
fn explain_prints_decision_rule_restriction_and_effects() {
    let policy = policy();
    let text = policy
        .explain("POST", "/crm/v8/Leads/1/actions/send_mail")
        .to_string();
    assert!(
        text.contains("denied") && text.contains("r5-send-mail") && text.contains("5 (Send email)"),
        "{text}"
    );
    let text = policy.explain("POST", "/crm/v8/Leads").to_string();
    assert!(
        text.contains("allowed") && text.contains("owner_to_support_user"),
        "{text}"
    );
    let text = policy.explain("POST", "/crm/v8/Leads%2F1").to_string();
    assert!(
        text.contains("refused") && text.contains("encoded_slash"),
        "{text}"
    );
}

#[test]
fn updating_another_user_is_refused_by_the_self_only_guard() {
    use support_access_core::SupportUserId;
    use support_access_policy::SupportContext;
    let policy = policy();
    let ctx = SupportContext {
        support_user: SupportUserId::from_u64(7),
        now: chrono::DateTime::UNIX_EPOCH,
    };
    let other = decide(&policy, "PUT", "/crm/v8/users/8");
    let refusal = policy
        .apply_support_guards(&other, br#"{"users":[{"first_name":"x"}]}"#, &ctx)
        .unwrap_err();
    assert_eq!(
        (refusal.code(), refusal.restriction),
        ("self_only", Some(2))
    );
    let own = decide(&policy, "PUT", "/crm/v8/users/7");
    assert!(
        policy
            .apply_support_guards(&own, br#"{"users":[{"id":7,"first_name":"x"}]}"#, &ctx)
            .is_ok()
    );
    let role = policy
        .apply_support_guards(&own, br#"{"users":[{"id":"7","role":{"id":"1"}}]}"#, &ctx)
        .unwrap_err();
    assert_eq!(
        (refusal_code(&role), role.restriction),
        ("forbidden_body_key", Some(12))
    );
    let bulk = decide(&policy, "PUT", "/crm/v8/users");
    let refusal = policy
        .apply_support_guards(&bulk, br#"{"users":[{"id":"7"},{"id":8}]}"#, &ctx)
        .unwrap_err();
    assert_eq!(refusal.code(), "self_only");
}

fn refusal_code(refusal: &support_access_policy::BodyRefusal) -> &'static str {
    refusal.code()
}

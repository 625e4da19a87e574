//! What support changed (SPEC §11), end to end: the real gateway in front of a stateful
//! stub CRM whose records can be read back, on SQLite.

use serde_json::{Value, json};
use support_access_core::audit::{AuditKind, ChainVerifier};
use support_access_core::ids::OrgId;
use support_access_e2e::client::Answer;
use support_access_e2e::harness::Harness;
use support_access_e2e::stub_records::RecordStub;
use support_access_e2e::tokens;

const ORG: &str = "org-acme";
const V1: &str = "/support-access/v1";

struct World {
    h: Harness,
    crm: RecordStub,
    grant: support_access_core::Grant,
    support: String,
    admin: String,
}

async fn world() -> World {
    let crm = RecordStub::start().await;
    let h = Harness::start_with_upstream(crm.addr, "2s").await;
    let (grant, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let admin = tokens::admin(ORG, "admin-1", h.now());
    crm.put(
        "Leads",
        "100",
        json!({"Last_Name": "Old", "City": "Oslo", "Modified_Time": "m-0"}),
    );
    crm.put(
        "Leads",
        "101",
        json!({"Last_Name": "Other", "City": "Bergen"}),
    );
    World {
        h,
        crm,
        grant,
        support: format!("Zoho-oauthtoken {token}"),
        admin: format!("Bearer {admin}"),
    }
}

impl World {
    async fn support(&self, method: &str, target: &str, body: Value) -> Answer {
        let bytes = match body {
            Value::Null => Vec::new(),
            body => body.to_string().into_bytes(),
        };
        let headers = [("authorization", self.support.as_str())];
        self.h.http.send(method, target, &headers, &bytes).await
    }

    async fn admin(&self, method: &str, path: &str, body: &str) -> Answer {
        let headers = [("authorization", self.admin.as_str())];
        let target = format!("{V1}{path}");
        self.h
            .http
            .send(method, &target, &headers, body.as_bytes())
            .await
    }

    async fn changes(&self) -> Vec<Value> {
        let answer = self.admin("GET", "/changes", "").await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        answer.json()["changes"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    async fn events_of(&self, kind: AuditKind) -> Vec<support_access_core::audit::AuditEvent> {
        let events = self.h.events(ORG).await;
        events.into_iter().filter(|e| e.kind == kind).collect()
    }
}

fn field<'a>(entry: &'a Value, name: &str) -> &'a Value {
    entry["fields"]
        .as_array()
        .and_then(|fields| fields.iter().find(|f| f["name"] == name))
        .unwrap_or_else(|| panic!("no field {name} in {entry}"))
}

fn field_names(entry: &Value) -> Vec<String> {
    let fields = entry["fields"].as_array().cloned().unwrap_or_default();
    fields
        .iter()
        .map(|f| f["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_support_update_is_read_before_and_after_and_each_changed_field_recorded() {
    let w = world().await;
    let body = json!({"data": [{"Last_Name": "New"}]});
    let answer = w.support("PUT", "/crm/v8/Leads/100", body).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(
        w.crm.lines(),
        [
            "GET /crm/v8/Leads/100",
            "PUT /crm/v8/Leads/100",
            "GET /crm/v8/Leads/100"
        ]
    );
    let read = &w.crm.seen()[0];
    assert_eq!(read.headers["authorization"], w.support.as_str());
    assert_eq!(read.headers["x-support-access-actor"], "staff-ana");
    let changes = w.changes().await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    let entry = &changes[0];
    assert_eq!(entry["operation"], "update");
    assert_eq!(
        (entry["module"].as_str(), entry["record"].as_str()),
        (Some("Leads"), Some("100"))
    );
    assert_eq!(entry["actor"], "staff-ana");
    assert_eq!(entry["grant"], w.grant.id.to_string());
    assert_eq!(
        field_names(entry),
        ["Last_Name"],
        "Modified_Time is the CRM's own"
    );
    assert_eq!(field(entry, "Last_Name")["before"], "Old");
    assert_eq!(field(entry, "Last_Name")["after"], "New");
    let recorded = w.events_of(AuditKind::ChangeRecorded).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(entry["audit_seq"], recorded[0].seq);
    assert_eq!(
        recorded[0].request_id.as_deref(),
        entry["request_id"].as_str()
    );
    assert!(recorded[0].changes_sha256.is_some());
    let allowed = w.events_of(AuditKind::RequestAllowed).await;
    assert_eq!(allowed[0].request_id, recorded[0].request_id);
    let events = w.h.events(ORG).await;
    let mut verifier = ChainVerifier::new(OrgId::from(ORG));
    for event in &events {
        verifier.check(event).expect("the chain verifies");
    }
}

#[tokio::test]
async fn a_support_create_records_every_field_of_the_new_record_under_its_id() {
    let w = world().await;
    let body = json!({"data": [{"Last_Name": "Fresh"}], "trigger": []});
    let answer = w.support("POST", "/crm/v8/Leads", body).await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let created = answer.json()["data"][0]["details"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        w.crm.lines(),
        [
            "POST /crm/v8/Leads".to_owned(),
            format!("GET /crm/v8/Leads/{created}")
        ]
    );
    let changes = w.changes().await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    let entry = &changes[0];
    assert_eq!(entry["operation"], "create");
    assert_eq!(entry["record"], created.as_str());
    assert_eq!(field(entry, "Last_Name")["after"], "Fresh");
    assert!(field(entry, "Last_Name").get("before").is_none(), "{entry}");
    let owner = w.grant.support_user.to_string();
    assert_eq!(field(entry, "Owner")["after"]["id"], owner.as_str());
    assert!(!field_names(entry).contains(&"Created_Time".to_owned()));
}

#[tokio::test]
async fn a_support_delete_records_every_field_the_record_had() {
    let w = world().await;
    let answer = w.support("DELETE", "/crm/v8/Leads/100", Value::Null).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert!(w.crm.get("Leads", "100").is_none());
    let changes = w.changes().await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    let entry = &changes[0];
    assert_eq!(entry["operation"], "delete");
    assert_eq!(field(entry, "City")["before"], "Oslo");
    assert!(field(entry, "City").get("after").is_none());
}

#[tokio::test]
async fn a_bulk_update_and_a_bulk_delete_record_one_entry_per_record() {
    let w = world().await;
    let body = json!({"data": [{"id": "100", "City": "Rome"}, {"id": 101, "City": "Rome"}]});
    let answer = w.support("PUT", "/crm/v8/Leads", body).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let answer = w
        .support("DELETE", "/crm/v8/Leads?ids=100,101", Value::Null)
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let changes = w.changes().await;
    let summary: Vec<(String, String, Option<String>)> = changes
        .iter()
        .map(|e| {
            let city = e["fields"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["name"] == "City");
            let before = city.and_then(|f| f["before"].as_str()).map(str::to_owned);
            (
                e["operation"].as_str().unwrap().to_owned(),
                e["record"].as_str().unwrap().to_owned(),
                before,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "delete".to_owned(),
                "100".to_owned(),
                Some("Rome".to_owned())
            ),
            (
                "delete".to_owned(),
                "101".to_owned(),
                Some("Rome".to_owned())
            ),
            (
                "update".to_owned(),
                "100".to_owned(),
                Some("Oslo".to_owned())
            ),
            (
                "update".to_owned(),
                "101".to_owned(),
                Some("Bergen".to_owned())
            ),
        ]
    );
    assert_eq!(w.events_of(AuditKind::ChangeRecorded).await.len(), 2);
}

#[tokio::test]
async fn writes_inside_a_composite_request_are_captured_one_by_one() {
    let w = world().await;
    let body = json!({"__composite_requests": [
        {"sub_request_id": "1", "method": "GET", "uri": "/crm/v8/Leads/101"},
        {"sub_request_id": "2", "method": "PUT", "uri": "/crm/v8/Leads/100", "body": {"data": [{"City": "Lima"}]}},
        {"sub_request_id": "3", "method": "DELETE", "uri": "/crm/v8/Leads/101"},
        {"sub_request_id": "4", "method": "POST", "uri": "/crm/v8/Contacts", "body": {"data": [{"Last_Name": "Sub"}]}},
    ]});
    let answer = w
        .support("POST", "/crm/v8/__composite_requests", body)
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let changes = w.changes().await;
    let ops: Vec<(&str, &str)> = changes
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap(),
                e["record"].as_str().unwrap(),
            )
        })
        .collect();
    let created = answer.json()["__composite_requests"][3]["body"]["data"][0]["details"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        ops,
        [
            ("update", "100"),
            ("delete", "101"),
            ("create", created.as_str())
        ]
    );
    assert_eq!(field(&changes[0], "City")["after"], "Lima");
    assert_eq!(changes[2]["module"], "Contacts");
    assert_eq!(field(&changes[2], "Last_Name")["after"], "Sub");
    assert_eq!(
        w.events_of(AuditKind::ChangeRecorded).await.len(),
        1,
        "one event per request"
    );
}

#[tokio::test]
async fn a_write_whose_before_read_fails_is_refused_and_never_forwarded() {
    let w = world().await;
    w.crm.fail_reads(true);
    let body = json!({"data": [{"Last_Name": "New"}]});
    let answer = w.support("PUT", "/crm/v8/Leads/100", body).await;
    assert_eq!(answer.status, 503, "{:?}", answer.body);
    assert_eq!(answer.json()["details"]["error"], "change_capture_failed");
    assert_eq!(
        w.crm.lines(),
        ["GET /crm/v8/Leads/100"],
        "the write never reached the CRM"
    );
    assert_eq!(w.crm.get("Leads", "100").unwrap()["Last_Name"], "Old");
    let blocked = w.events_of(AuditKind::RequestBlocked).await;
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0].error.as_deref(), Some("change_capture_failed"));
    assert!(w.events_of(AuditKind::RequestAllowed).await.is_empty());
}

#[tokio::test]
async fn reads_and_ordinary_writes_are_not_read_back() {
    let w = world().await;
    let answer = w.support("GET", "/crm/v8/Leads/100", Value::Null).await;
    assert_eq!(answer.status, 200);
    let ordinary = [("authorization", "Zoho-oauthtoken customer-own")];
    let body = br#"{"data":[{"Last_Name":"Mine"}]}"#;
    let answer =
        w.h.http
            .send("PUT", "/crm/v8/Leads/100", &ordinary, body)
            .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        w.crm.lines(),
        ["GET /crm/v8/Leads/100", "PUT /crm/v8/Leads/100"]
    );
    assert!(w.changes().await.is_empty());
}

/// Support changes Last_Name of Leads/100; returns the change id.
async fn support_update(w: &World) -> String {
    let body = json!({"data": [{"Last_Name": "New", "City": "Paris"}]});
    let answer = w.support("PUT", "/crm/v8/Leads/100", body).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let changes = w.changes().await;
    changes[0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_revert_puts_the_before_values_back_with_the_admins_own_token() {
    let w = world().await;
    let id = support_update(&w).await;
    w.crm.clear();
    let answer = w.admin("POST", &format!("/changes/{id}/revert"), "").await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let revert = answer.json();
    assert_eq!(revert["operation"], "revert");
    assert_eq!(revert["reverts"], id.as_str());
    assert_eq!(revert["actor"], "admin-1");
    let record = w.crm.get("Leads", "100").unwrap();
    assert_eq!(
        (record["Last_Name"].as_str(), record["City"].as_str()),
        (Some("Old"), Some("Oslo"))
    );
    let puts: Vec<_> = w
        .crm
        .seen()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 1, "one PUT: {:?}", w.crm.lines());
    assert_eq!(puts[0].target, "/crm/v8/Leads/100");
    assert_eq!(puts[0].headers["authorization"], w.admin.as_str());
    assert!(
        puts[0]
            .headers
            .keys()
            .all(|k| !k.as_str().starts_with("x-support-access")),
        "{:?}",
        puts[0].headers
    );
    let sent: Value = serde_json::from_slice(&puts[0].body).unwrap();
    assert_eq!(
        sent,
        json!({"data": [{"Last_Name": "Old", "City": "Oslo"}]})
    );
    let reverted = w.events_of(AuditKind::ChangeReverted).await;
    assert_eq!(reverted.len(), 1);
    assert_eq!(revert["audit_seq"], reverted[0].seq);
    let again = w.admin("POST", &format!("/changes/{id}/revert"), "").await;
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["error"], "change_already_reverted");
}

#[tokio::test]
async fn a_revert_over_a_later_change_is_refused_naming_the_field_unless_forced() {
    let w = world().await;
    let id = support_update(&w).await;
    let mut record = w.crm.get("Leads", "100").unwrap();
    record.insert("City".into(), json!("Madrid"));
    w.crm.put("Leads", "100", Value::Object(record));
    w.crm.clear();
    let path = format!("/changes/{id}/revert");
    let refused = w.admin("POST", &path, "").await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    assert_eq!(refused.json()["error"], "changed_since");
    assert_eq!(refused.json()["fields"], json!(["City"]));
    assert!(
        w.crm.seen().iter().all(|r| r.method == "GET"),
        "{:?}",
        w.crm.lines()
    );
    assert_eq!(w.crm.get("Leads", "100").unwrap()["City"], "Madrid");
    let forced = w.admin("POST", &path, r#"{"force": true}"#).await;
    assert_eq!(forced.status, 200, "{:?}", forced.body);
    let record = w.crm.get("Leads", "100").unwrap();
    assert_eq!(
        (record["Last_Name"].as_str(), record["City"].as_str()),
        (Some("Old"), Some("Oslo"))
    );
}

#[tokio::test]
async fn a_create_or_delete_is_not_reverted_and_unknown_changes_are_not_found() {
    let w = world().await;
    let answer = w.support("DELETE", "/crm/v8/Leads/101", Value::Null).await;
    assert_eq!(answer.status, 200);
    let id = w.changes().await[0]["id"].as_str().unwrap().to_owned();
    let answer = w.admin("POST", &format!("/changes/{id}/revert"), "").await;
    assert_eq!(answer.status, 422, "{:?}", answer.body);
    assert_eq!(answer.json()["error"], "change_not_revertible");
    let unknown = w
        .admin(
            "POST",
            "/changes/00000000-0000-4000-8000-000000000000/revert",
            "",
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"], "change_not_found");
}

#[tokio::test]
async fn the_report_lists_the_grants_changes_with_the_checkpoint_and_as_csv() {
    let w = world().await;
    support_update(&w).await;
    let grant = w.grant.id;
    let json_report = w
        .admin("GET", &format!("/changes/report?grant={grant}"), "")
        .await;
    assert_eq!(json_report.status, 200, "{:?}", json_report.body);
    let report = json_report.json();
    assert_eq!(report["grant"], grant.to_string());
    assert_eq!(report["changes"].as_array().unwrap().len(), 1);
    assert!(
        report["checkpoint"]
            .as_str()
            .unwrap_or_default()
            .contains(ORG),
        "{report}"
    );
    let csv = w
        .admin(
            "GET",
            &format!("/changes/report?grant={grant}&format=csv"),
            "",
        )
        .await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = String::from_utf8(csv.body.to_vec()).unwrap();
    assert_eq!(
        text.lines().count(),
        3,
        "a header and a row per field change: {text}"
    );
    assert!(
        text.contains("Last_Name") && text.contains("City"),
        "{text}"
    );
}

#[tokio::test]
async fn only_the_orgs_admins_may_read_or_revert_changes() {
    let w = world().await;
    let id = support_update(&w).await;
    let support = [("authorization", w.support.as_str())];
    let answer =
        w.h.http
            .send("GET", &format!("{V1}/changes"), &support, b"")
            .await;
    assert_eq!(answer.status, 403, "{:?}", answer.body);
    let path = format!("{V1}/changes/{id}/revert");
    let answer = w.h.http.send("POST", &path, &support, b"").await;
    assert_eq!(answer.status, 403);
    let staff = format!("Bearer {}", tokens::staff("staff-ana", w.h.now()));
    let answer =
        w.h.http
            .send(
                "GET",
                &format!("{V1}/changes"),
                &[("authorization", &staff)],
                b"",
            )
            .await;
    assert_eq!(answer.status, 403);
    let other = format!(
        "Bearer {}",
        tokens::admin("org-other", "admin-9", w.h.now())
    );
    let answer =
        w.h.http
            .send(
                "GET",
                &format!("{V1}/changes"),
                &[("authorization", &other)],
                b"",
            )
            .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["changes"], json!([]));
    let answer =
        w.h.http
            .send("POST", &path, &[("authorization", &other)], b"")
            .await;
    assert_eq!(answer.status, 404);
    assert_eq!(w.crm.get("Leads", "100").unwrap()["Last_Name"], "New");
}

#[tokio::test]
async fn a_bulk_update_whose_ids_are_not_plain_is_refused_before_any_read() {
    let w = world().await;
    for id in ["../settings/audit_log_export", "100/../../settings"] {
        let body = json!({"data": [{"id": "100", "City": "Rome"}, {"id": id, "City": "Rome"}]});
        let answer = w.support("PUT", "/crm/v8/Leads", body).await;
        assert_eq!(answer.status, 503, "{:?}", answer.body);
        assert_eq!(answer.json()["details"]["error"], "change_capture_failed");
    }
    assert_eq!(
        w.crm.lines(),
        Vec::<String>::new(),
        "nothing reached the CRM"
    );
    assert_eq!(w.crm.get("Leads", "100").unwrap()["City"], "Oslo");
}

#[tokio::test]
async fn the_changes_calls_are_in_the_openapi_document() {
    let w = world().await;
    let answer = w.admin("GET", "/openapi.json", "").await;
    assert_eq!(answer.status, 200);
    let paths = &answer.json()["paths"];
    for (path, method) in [
        ("/support-access/v1/changes", "get"),
        ("/support-access/v1/changes/report", "get"),
        ("/support-access/v1/changes/{id}/revert", "post"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path}: {paths}");
    }
}

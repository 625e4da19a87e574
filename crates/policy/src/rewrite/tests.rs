use serde_json::json;

use super::*;

fn compile(entries: &str) -> Vec<SetKey> {
    #[derive(serde::Deserialize)]
    struct File {
        set: Vec<SetKeyFile>,
    }
    let file: File = toml::from_str(entries).unwrap();
    file.set
        .iter()
        .map(|e| SetKey::compile(e).unwrap())
        .collect()
}

fn trigger() -> Vec<SetKey> {
    compile(
        r#"set = [
            { key = "trigger", remove = ["workflow"], default = ["approval", "blueprint"] },
            { key = "wf_trigger", value = false },
        ]"#,
    )
}

fn run(body: serde_json::Value, set: &[SetKey]) -> (serde_json::Value, Vec<String>) {
    let mut body = body;
    let mut rewrites = Vec::new();
    apply(&mut body, set, &mut rewrites);
    (body, rewrites)
}

#[test]
fn workflow_is_removed_from_trigger_in_every_spelling_and_the_rest_is_kept() {
    for trigger_value in [
        json!(["workflow", "approval"]),
        json!(["Workflow ", "approval"]),
        json!(["WORKFLOW", "approval", "workflow"]),
        json!(["workflow,approval"]),
    ] {
        let (body, rewrites) = run(json!({"data": [], "trigger": trigger_value}), &trigger());
        assert_eq!(body["trigger"], json!(["approval"]), "{trigger_value}");
        assert_eq!(rewrites, ["trigger:-workflow", "wf_trigger:false"]);
    }
    let (body, rewrites) = run(json!({"data": [], "TRIGGER": "workflow"}), &trigger());
    assert_eq!(
        body["TRIGGER"],
        json!([]),
        "the one spelling present is rewritten"
    );
    assert_eq!(rewrites, ["trigger:-workflow", "wf_trigger:false"]);
}

#[test]
fn an_absent_or_odd_trigger_gets_the_default_and_wf_trigger_is_forced() {
    let (body, rewrites) = run(json!({"data": []}), &trigger());
    assert_eq!(body["trigger"], json!(["approval", "blueprint"]));
    assert_eq!(body["wf_trigger"], json!(false));
    assert_eq!(rewrites, ["trigger:default", "wf_trigger:false"]);
    let (body, _) = run(
        json!({"data": [], "trigger": 7, "wf_trigger": true}),
        &trigger(),
    );
    assert_eq!(body["trigger"], json!(["approval", "blueprint"]));
    assert_eq!(body["wf_trigger"], json!(false));
    let (_, rewrites) = run(
        json!({"data": [], "trigger": ["approval"], "wf_trigger": false}),
        &trigger(),
    );
    assert!(rewrites.is_empty(), "nothing to rewrite: {rewrites:?}");
}

#[test]
fn flags_inside_array_items_are_forced_in_every_item() {
    let set = compile(r#"set = [{ key = "notify_lead_owner", value = false, at = "data[]" }]"#);
    let (body, rewrites) = run(
        json!({"data": [{"notify_lead_owner": true}, {"overwrite": true}, 5]}),
        &set,
    );
    assert_eq!(body["data"][0]["notify_lead_owner"], json!(false));
    assert_eq!(body["data"][1]["notify_lead_owner"], json!(false));
    assert_eq!(body["data"][2], json!(5));
    assert_eq!(rewrites, ["notify_lead_owner:false"], "listed once");
}

#[test]
fn bad_set_entries_are_refused_when_the_policy_loads() {
    for entry in [
        r#"set = [{ key = "x" }]"#,
        r#"set = [{ key = "x", value = true, remove = ["a"] }]"#,
        r#"set = [{ key = "x", value = true, at = "data" }]"#,
        r#"set = [{ key = " ", value = true }]"#,
        r#"set = [{ key = "x", value = 1.5 }]"#,
    ] {
        #[derive(serde::Deserialize)]
        struct File {
            set: Vec<SetKeyFile>,
        }
        let file: File = toml::from_str(entry).unwrap();
        assert!(SetKey::compile(&file.set[0]).is_err(), "{entry}");
    }
}
